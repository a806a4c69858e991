"""At most so many logins per account in a sliding window.

A server that accepts the login and then drops the connection makes every retry look
like a fresh start: the reconnect backoff resets, a push or a /mail check asks again, and
the server (or its provider's abuse detection) sees a login storm from us. So every login
a session opens is counted per account, in memory; past the budget the next one waits,
and the error says why and for how long.

Held for thousands of accounts, so kept small: a short list per account (a deque costs
about 0.75 KiB even when empty), and an account whose logins have all left the window is
dropped, swept at most once a window: a connection that stays up costs nothing here."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Hashable

from i18n import N_
from mail.errors import ConnectError

DEFAULT_LOGINS = 10
DEFAULT_WINDOW_SECONDS = 300.0


class LoginLimitError(ConnectError):
    kind = "login-limit"

    def __init__(self, message: str, /, wait_seconds: float, **args: object) -> None:
        super().__init__(message, **args)
        self.wait_seconds = wait_seconds


class LoginBudget:
    def __init__(
        self,
        logins: int = DEFAULT_LOGINS,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logins = logins
        self.window_seconds = window_seconds
        self._clock = clock
        self._times: dict[Hashable, list[float]] = {}
        self._lock = threading.Lock()  # polls of different accounts run on many threads
        self._swept = clock()

    def take(self, key: Hashable, host: str) -> None:
        """Count one login for `key`, or raise LoginLimitError if the budget is spent."""
        now = self._clock()
        with self._lock:
            self._sweep(now)
            times = self._times.setdefault(key, [])
            del times[: bisect.bisect_right(times, now - self.window_seconds)]  # oldest first
            if len(times) >= self.logins:
                wait = times[0] + self.window_seconds - now
                raise LoginLimitError(
                    N_(
                        "`{host}` keeps ending the session after login: {count} logins in the "
                        "last {minutes} minutes, the most allowed; the next one waits {wait} s."
                    ),
                    wait_seconds=wait,
                    host=host,
                    count=len(times),
                    minutes=f"{self.window_seconds / 60:g}",
                    wait=f"{wait:.0f}",
                )
            times.append(now)

    def _sweep(self, now: float) -> None:
        """Drop the accounts with no login left in the window (under the lock)."""
        if now - self._swept < self.window_seconds:
            return
        self._swept = now
        horizon = now - self.window_seconds
        for key in [key for key, times in self._times.items() if not times or times[-1] <= horizon]:
            del self._times[key]

    def tracked(self) -> int:
        """How many accounts have a login in the window (or not yet swept)."""
        return len(self._times)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._times.pop(key, None)
