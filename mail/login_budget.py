"""At most so many logins per account in a sliding window.

A server that accepts the login and then drops the connection makes every retry look
like a fresh start: the reconnect backoff resets, a push or a /mail check asks again, and
the server (or its provider's abuse detection) sees a login storm from us. So every login
a session opens is counted per account, in memory; past the budget the next one waits,
and the error says why and for how long."""

from __future__ import annotations

import threading
import time
from collections import deque
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
        self._times: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()  # polls of different accounts run on many threads

    def take(self, key: Hashable, host: str) -> None:
        """Count one login for `key`, or raise LoginLimitError if the budget is spent."""
        now = self._clock()
        with self._lock:
            times = self._times.setdefault(key, deque())
            while times and times[0] <= now - self.window_seconds:
                times.popleft()
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

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._times.pop(key, None)
