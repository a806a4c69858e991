"""How often an account's folders may be re-baselined before the account is paused.

A UIDVALIDITY change means the server renumbered a folder: the bot re-baselines it (one
"folder reset" notice, none of its old content announced). Legitimately that is rare (a
folder deleted and recreated). A server that changes UIDVALIDITY on every select would
re-baseline on every poll, posting a notice each time and announcing nothing real, so
past `limit` re-baselines within `window_seconds` the account is paused with one notice
instead; /mail resume (which schedules the account afresh) starts the count over."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from i18n import N_, Msg
from mail.errors import MailError

DEFAULT_LIMIT = 3
DEFAULT_WINDOW_SECONDS = 3600.0  # an hour: a folder recreated now and then stays far below


class ChurnPausedError(MailError):
    """The poll found one re-baseline too many: the account is paused (no failure)."""

    kind = "uidvalidity"


class Rebaselines:
    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._times: dict[int, deque[float]] = {}

    def allow(self, account_id: int) -> bool:
        """Count one more re-baseline; False (nothing counted) once the limit is reached."""
        now = self._clock()
        times = self._times.setdefault(account_id, deque())
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True

    def reason(self) -> Msg:
        """Why the account was paused, in the reader's language when shown (str(): English,
        as stored on the account)."""
        return Msg(
            N_(
                "the server changed the folders' UIDVALIDITY {times} times within {minutes} "
                "minutes, so every poll would start the folders over and no new mail could be "
                "told apart. Polling is paused; `/mail resume` starts again once the server is "
                "fixed."
            ),
            times=self.limit + 1,
            minutes=f"{self.window_seconds / 60:g}",
        )

    def forget(self, account_id: int) -> None:
        self._times.pop(account_id, None)
