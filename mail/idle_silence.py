"""Silent connections and floods on idling connections, for the IdleHub (mail/idle.py).

A peer can vanish without a FIN or RST, or a middlebox can keep answering TCP for a
connection the server forgot: TCP keepalive sees nothing wrong, and IDLE reports nothing.
So a connection that has heard nothing for a window is probed the cheap way, with an early
pipelined renewal (DONE, IDLE); without an answer within `probe_seconds` it is lost, and
the caller reconnects and catches up by UID. The window is `silence_seconds` (5 minutes)
until the server's own keepalive rhythm is known: then 2.5 of its periods, so a server
that says "* OK Still here" every minute is suspect after 150 s, not 300 s. A wrong
rhythm costs one round trip, never the connection: only an unanswered probe drops it.

The check rides on the renewal timetable: one entry per connection per window, re-armed
lazily when it comes due (bytes heard since push it on), so no timer per connection and
no work per keepalive line beyond a timestamp. Check times are rounded up to a grid (a tenth of
the window, at most QUIET_GRID) so one wake-up of the hub looks at every connection due
in that step: at 10,000 accounts the checks had woken the hub 27 times a second, each
wake-up for one connection, and were most of its quiet CPU. A mixin of IdleHub, like
idle_schedule.py."""

from __future__ import annotations

import math
from collections.abc import Hashable

from mail.idle_poller import Watch
from mail.idle_timetable import Timetable

DEFAULT_SILENCE_SECONDS = 300.0  # imapflow's rule: five minutes without a byte is suspect
DEFAULT_PROBE_SECONDS = 30.0  # the probe's answer must come within this
RHYTHM_PERIODS = 2.5  # silence past this many keepalive periods is suspect
WINDOW_FLOOR = 10.0  # a learned window never goes below this (wake-ups stay rare)
MIN_RHYTHM = 0.5  # keepalive gaps shorter than this are one burst, not a rhythm
QUIET_GRID = 5.0  # check times are rounded up to this step (or a tenth of a shorter window)
# Bytes an idling connection may send besides keepalives before the next poll takes it
# (or a renewal is answered): any such line is activity (the poll that follows reads the
# news by UID), so a server that floods untagged lines past this is dropped instead of
# being read forever.
FLOOD_CAP = 1024 * 1024


class SilenceCheck:
    _silence_seconds: float
    _probe_seconds: float
    _rhythm: dict[Hashable, float]  # account -> the server's keepalive period, once seen
    _timers: Timetable

    def _window(self, key: Hashable) -> float:
        rhythm = self._rhythm.get(key)
        if rhythm is None:
            return self._silence_seconds
        learned = max(min(WINDOW_FLOOR, self._silence_seconds), RHYTHM_PERIODS * rhythm)
        return min(self._silence_seconds, learned)

    def _quiet_time(self, watch: Watch) -> float:
        """A window after the watch last heard, rounded up to the grid."""
        window = self._window(watch.key)
        grid = min(QUIET_GRID, window / 10)
        return math.ceil((watch.heard + window) / grid) * grid

    def _arm_quiet(self, watch: Watch) -> None:
        """Put the watch's silence check in the timetable, a window after it last heard."""
        watch.quiet_at = self._quiet_time(watch)
        self._timers.add(watch.quiet_at, watch)

    def _keepalive_heard(self, watch: Watch, now: float) -> None:
        """A "* OK" keepalive line: learn the server's rhythm from the gap to the last one."""
        if watch.keepalive_at and now - watch.keepalive_at >= MIN_RHYTHM:
            self._rhythm[watch.key] = now - watch.keepalive_at
            if watch.quiet_at > self._quiet_time(watch):
                self._arm_quiet(watch)  # the window just shrank: check sooner
        watch.keepalive_at = now

    def _flooded(self, watch: Watch, size: int) -> bool:
        """Count bytes that are not keepalives; True (and the watch lost) past FLOOD_CAP."""
        watch.unpolled += size
        if watch.unpolled <= FLOOD_CAP:
            return False
        self._lose(watch, f"the server sent over {FLOOD_CAP // 1024} KiB while idling")
        return True

    def _quiet_due(self, watch: Watch, now: float) -> None:
        """The silence check came due: probe if nothing was heard for the window, else
        look again a window after the last byte."""
        if watch.renewal is not None:
            return  # a renewal under way is a probe already, with its own deadline
        silent = now - watch.heard
        if silent < self._window(watch.key):
            self._arm_quiet(watch)
            return
        self._start_renewal(watch, now, probe=True)

    def _probe_reason(self, watch: Watch) -> str:
        return (
            f"the connection was silent for {self._window(watch.key):.0f}s and did not answer "
            f"a probe within {self._probe_seconds:.0f}s"
        )
