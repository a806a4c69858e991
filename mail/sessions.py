"""One logged-in IMAP connection per account, kept between polls.

Reconnecting for every poll costs a TCP and TLS handshake and a LOGIN; keeping the
session makes a quiet poll one STATUS per folder. Where the account is pushed (`idle`
folder given and the server offers IDLE) the same connection idles in the IdleHub between
polls: a poll takes it out of IDLE (DONE), works, and puts it back (EXAMINE, IDLE), so
the account costs the server one connection, not two. Elsewhere it is parked here.

A connection is checked out while a poll or a sweep uses it, so two threads never share
one. Any failure drops it (except a MailError with keeps_session, such as a refused
mailbox action, which leaves the session usable); a failure on a reused connection (the
server may have logged it out meanwhile) is retried once on a fresh one before it counts.
Every login is counted per account (mail/login_budget.py): a server that drops each
session right after login gets a bounded number of them, not a storm."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Container, Hashable, Iterable, Mapping
from typing import TypeVar

from imapclient import IMAPClient

from i18n import N_
from mail import imap, net
from mail.errors import ConnectError, MailError, ProtocolError
from mail.idle import IdleHub
from mail.idle_conn import enter_idle, keepalive, leave_idle
from mail.login_budget import LoginBudget
from mail.sweep import FolderCounts, SweepError, status_many
from mail.types import ServerConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
_STALE = (ConnectError, ProtocolError)


class SessionPool:
    def __init__(
        self, allow_private: bool, hub: IdleHub | None = None, logins: LoginBudget | None = None
    ) -> None:
        self._allow_private = allow_private
        self._hub = hub
        self.logins = logins or LoginBudget()
        self._parked: dict[Hashable, tuple[ServerConfig, IMAPClient]] = {}
        self._idle_cfg: dict[Hashable, ServerConfig] = {}  # settings of hub-held sessions
        self._generation: dict[Hashable, int] = {}  # bumped by close(): stale checkouts drop
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._parked) + (self._hub.watched if self._hub else 0)

    def has(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._parked or self.idling(key)

    def idling(self, key: Hashable) -> bool:
        """The account's connection idles in the hub (pushed), not parked here."""
        return self._hub is not None and self._hub.has(key)

    def generation(self, key: Hashable) -> int:
        """Bumped by close(): pass it to run() to drop a session closed since it was read."""
        with self._lock:
            return self._generation.get(key, 0)

    def _checkout(
        self, key: Hashable, cfg: ServerConfig, expected: int | None = None
    ) -> tuple[IMAPClient, bool, int]:
        with self._lock:
            held = self._parked.pop(key, None)
            generation = self._generation.get(key, 0) if expected is None else expected
            idle_cfg = self._idle_cfg.pop(key, None)
        if held is None and self._hub is not None:
            client = self._hub.take(key)
            if client is not None:
                try:
                    if (idle_cfg or cfg) != cfg:  # settings or password changed
                        raise ConnectError(N_("stale settings"))
                    leave_idle(client)
                except Exception:  # still in IDLE or broken: a LOGOUT could only wait
                    with contextlib.suppress(Exception):
                        client.shutdown()
                    return self._connect(key, cfg), False, generation
                return client, True, generation
        if held is not None:
            if held[0] == cfg:
                return held[1], True, generation
            imap.close(held[1])  # settings or password changed
        return self._connect(key, cfg), False, generation

    def _connect(self, key: Hashable, cfg: ServerConfig) -> IMAPClient:
        """A new logged-in session, within the account's login budget."""
        self.logins.take(key, cfg.host)
        client = imap.connect(cfg, self._allow_private)
        keepalive(client.socket())  # dead paths and unacknowledged writes fail fast
        return client

    def _checkin(
        self,
        key: Hashable,
        cfg: ServerConfig,
        client: IMAPClient,
        generation: int,
        idle: str | None,
        stale: Callable[[dict], bool] | None = None,
    ) -> None:
        if idle is not None and self._hub is not None and client.has_capability("IDLE"):
            self._idle_again(key, cfg, client, generation, idle, stale)
            return
        with self._lock:
            if self._generation.get(key, 0) != generation:  # closed while in use
                old: tuple[ServerConfig, IMAPClient] | None = (cfg, client)
            else:
                old = self._parked.get(key)
                self._parked[key] = (cfg, client)
        if old is not None:
            imap.close(old[1])

    def _idle_again(
        self,
        key: Hashable,
        cfg: ServerConfig,
        client: IMAPClient,
        generation: int,
        folder: str,
        stale: Callable[[dict], bool] | None,
    ) -> None:
        assert self._hub is not None  # noqa: S101 (checked by the caller)
        with self._lock:
            closed = self._generation.get(key, 0) != generation  # closed while in use
        if closed:
            imap.close(client)
            return
        try:
            selected = enter_idle(client, folder) or {}
        except Exception as exc:
            imap.close(client)
            self._hub.report_lost(key, f"IDLE could not start: {exc}")
            return
        # Mail that came between the work and this EXAMINE is in the folder's view already,
        # so IDLE will not report it: the caller's `stale` check does.
        activity = stale is not None and stale(selected)
        with self._lock:
            closed = self._generation.get(key, 0) != generation  # closed while in use
            if not closed:
                self._idle_cfg[key] = cfg
                self._hub.add(key, client, activity=activity)
        if closed:  # in IDLE: a LOGOUT would wait for DONE, so just shut the socket
            with contextlib.suppress(Exception):
                client.shutdown()

    def run(
        self,
        key: Hashable,
        cfg: ServerConfig,
        work: Callable[[IMAPClient], T],
        idle: str | None = None,
        stale: Callable[[dict], bool] | None = None,
        generation: int | None = None,
    ) -> T:
        """Run blocking `work` on the account's session (opened if needed); afterwards the
        session idles on folder `idle` when given and the server offers IDLE. `stale` gets
        that folder's EXAMINE response and says whether it shows mail `work` did not see;
        then activity is reported at once, as a push would. `generation` (from
        generation(), read when the caller decided to poll): a close() since then drops the
        session afterwards instead of keeping it."""
        expected = generation
        for attempt in (1, 2):
            client, reused, generation = self._checkout(key, cfg, expected)
            try:
                with net.translate_errors(cfg.host, cfg.port):
                    result = work(client)
            except Exception as exc:
                if isinstance(exc, MailError) and exc.keeps_session:  # refused, session fine
                    self._checkin(key, cfg, client, generation, idle, stale)
                    raise
                imap.close(client)
                retry = reused and (isinstance(exc, _STALE) or not isinstance(exc, MailError))
                if attempt == 1 and retry:
                    continue
                if isinstance(exc, MailError):
                    raise
                raise ProtocolError(
                    N_("`{host}` broke off the IMAP session ({exc})."), host=cfg.host, exc=exc
                ) from exc
            self._checkin(key, cfg, client, generation, idle, stale)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def sweep(
        self,
        targets: Mapping[Hashable, Iterable[str]],
        timeout: float = 20.0,
        modseq_for: Container[Hashable] = (),
    ) -> dict[Hashable, dict[str, FolderCounts] | None]:
        """STATUS for every target that has a parked session, in one multiplexed round
        (HIGHESTMODSEQ too for `modseq_for`). None for a target without one: the caller
        polls it the full way."""
        taken: dict[Hashable, tuple[ServerConfig, IMAPClient]] = {}
        generations: dict[Hashable, int] = {}
        with self._lock:
            for key in targets:
                held = self._parked.pop(key, None)
                if held is not None:
                    taken[key] = held
                    generations[key] = self._generation.get(key, 0)
        results = status_many(
            [(key, client, targets[key]) for key, (_cfg, client) in taken.items()],
            timeout,
            modseq_for,
        )
        out: dict[Hashable, dict[str, FolderCounts] | None] = {key: None for key in targets}
        for key, (cfg, client) in taken.items():
            result = results.get(key)
            if result is None or isinstance(result, SweepError):
                imap.close(client)
                continue
            out[key] = result
            self._checkin(key, cfg, client, generations[key], None)
        return out

    def close(self, key: Hashable) -> None:
        """Forget the account's session. Safe on the event loop: the socket is shut here,
        without a LOGOUT round trip, and one checked out right now is dropped on return."""
        with self._lock:
            held = self._parked.pop(key, None)
            self._idle_cfg.pop(key, None)
            self._generation[key] = self._generation.get(key, 0) + 1
        if self._hub is not None:
            self._hub.remove(key)
        if held is not None:
            with contextlib.suppress(Exception):
                held[1].shutdown()

    def close_all(self) -> None:
        with self._lock:
            held, self._parked = list(self._parked.values()), {}
        for _cfg, client in held:
            imap.close(client)
