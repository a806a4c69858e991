"""When and how the IdleHub (mail/idle.py) renews IDLE: renewal times on a grid in its
timetable (mail/idle_timetable.py), each renewal pipelined by the hub thread itself
(mail/idle_renewal.py), and the worker-thread fallback when imaplib still holds bytes. A
mixin of IdleHub: it uses the hub's state and its bookkeeping (`_lose`, `_detach`,
`_hand_over`, `_activity`)."""

from __future__ import annotations

import math
import time

from mail import imap_quota, providers
from mail.idle_conn import NOT_READY, buffered, reader, release_reader
from mail.idle_poller import Watch
from mail.idle_renewal import Progress, Renewal

READ_TIMEOUT = 30.0


class RenewalSchedule:
    def _renewal_period(self, client) -> float:
        """The hub's renewal period, or a known provider's shorter one (Microsoft stops
        sending IDLE updates long before RFC 2177's 29 minutes). Capabilities and the
        greeting are cached by then: no command is sent."""
        provider = providers.of_client(client, cached_only=True)
        if provider is not None and provider.idle_renewal_seconds is not None:
            return min(self._reissue_seconds, provider.idle_renewal_seconds)
        return self._reissue_seconds

    def _next_reissue(self, every: float | None = None) -> float:
        """The reissue time of an IDLE starting now: rounded up to the grid, so that the
        renewals of connections added about together go out in one pass."""
        at = time.monotonic() + (every or self._reissue_seconds)
        return math.ceil(at / self._grid) * self._grid

    def _until_next_renewal(self, now: float) -> float:
        at = self._timers.next_at()
        return 60.0 if at is None else max(0.0, min(at - now, 60.0))

    def _current(self, watch: Watch, at: float) -> bool:
        """A timetable entry still stands: the watch's renewal time, or its renewal's deadline."""
        if self._watches.get(watch.key) is not watch:
            return False
        if watch.renewal is not None:
            return watch.renewal.deadline == at or watch.quiet_at == at
        return at in (watch.reissue_at, watch.quiet_at)

    def _renew_due(self, now: float) -> None:
        while (due := self._timers.pop_due(now)) is not None:
            at, watches = due
            for watch in watches:
                if not self._current(watch, at):
                    continue  # taken, lost or renewed since: a stale entry
                if watch.renewal is not None and watch.renewal.deadline == at:
                    probe = watch.renewal.probe
                    reason = "the server did not answer the IDLE renewal"
                    self._lose(watch, self._probe_reason(watch) if probe else reason)
                elif watch.quiet_at == at:
                    self._quiet_due(watch, now)
                else:
                    self._start_renewal(watch, now)

    def _start_renewal(self, watch: Watch, now: float, probe: bool = False) -> None:
        client = watch.client
        if client._imap.file is not None:  # imaplib holds bytes: renew the imapclient way
            self._detach(watch)
            self._renewing.add(watch.key)
            self._pool.submit(self._reissue, watch)
            return
        with_quota = client.has_capability("QUOTA") and self._quota_due(watch.key)
        wait = self._probe_seconds if probe else READ_TIMEOUT
        renewal, data = Renewal.begin(client, with_quota, now + wait)
        renewal.probe = probe
        try:
            watch.sock.send(data)  # a few dozen bytes: the socket buffer takes them at once
        except (*NOT_READY, OSError) as exc:
            self._lose(watch, f"IDLE could not be renewed: {exc}")
            return
        watch.renewal = renewal
        self._timers.add(renewal.deadline, watch)

    def _renewal_lines(self, watch: Watch, lines: list[bytes]) -> list[bytes]:
        """Feed the renewal its answers; returns the lines after IDLE's "+" (updates)."""
        renewal = watch.renewal
        assert renewal is not None  # noqa: S101 (the caller checked)
        progress, rest = renewal.read(watch.client, lines)
        if progress is Progress.REFUSED:
            self._lose(watch, "the server refused the IDLE renewal")
        elif progress is Progress.RENEWED:
            self._renewed(watch, renewal)
        return rest

    def _renewed(self, watch: Watch, renewal: Renewal) -> None:
        watch.renewal = None
        watch.unpolled = 0  # the flood cap counts between round trips the server answered
        report = renewal.finish(watch.client)
        if report is not None:
            self._on_quota(watch.key, report)
        if self._hand_over(watch.key, watch.client):  # a take() waited for the renewal
            self._news += 1
            self._detach(watch)
            return
        watch.reissue_at = self._next_reissue(watch.every)
        self._timers.add(watch.reissue_at, watch)
        self._arm_quiet(watch)  # the renewal's answer was heard: silence counts from it
        if renewal.activity:
            self._activity(watch.key)

    def _reissue(self, watch: Watch) -> None:
        """DONE, the renewal hook, then IDLE again, on a worker thread: round trips must
        not stall the hub."""
        try:
            watch.sock.setblocking(True)
            watch.sock.settimeout(READ_TIMEOUT)
            responses = reader(watch.client).idle_done()[1]
            if watch.client.has_capability("QUOTA") and self._quota_due(watch.key):
                self._on_quota(watch.key, imap_quota.quota(watch.client))
            watch.client.idle()
            pending = buffered(watch.client)
            if not pending:
                release_reader(watch.client)
        except Exception as exc:
            self._close(watch)
            self._hold(watch.key, False)
            self._commands.put(("renewed", watch.key, None))
            self._wake()
            self._on_lost(watch.key, f"IDLE could not be renewed: {exc}")
            return
        if self._stopping.is_set():
            self._close(watch)
            return
        self._commands.put(("renewed", watch.key, watch.client))
        self._wake()
        quiet = all(isinstance(r, tuple) and r and r[0] == b"OK" for r in responses or [])
        if pending or not quiet:
            self._on_activity(watch.key)
