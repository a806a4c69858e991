"""Discord's enforce_nonce, as documented for Create Message: "the nonce will be checked
for uniqueness in the past few minutes. If another message was created by the same author
with the same nonce, that message will be returned and no new message will be created."

Per author (not per channel) and for a window of minutes: a bot that reuses a nonce in
another channel, or minutes later, gets its earlier message back and posts nothing."""

from __future__ import annotations

import time
from typing import Any

WINDOW_SECONDS = 300.0  # "the past few minutes"; Discord does not say how many


class NonceLedger:
    def __init__(self, window_seconds: float = WINDOW_SECONDS) -> None:
        self.window_seconds = window_seconds
        self._seen: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def earlier(self, author_id: str, nonce: Any) -> dict[str, Any] | None:
        """The message this author already created with this nonce within the window."""
        found = self._seen.get((author_id, str(nonce)))
        if found is None or time.monotonic() - found[0] > self.window_seconds:
            return None
        return found[1]

    def remember(self, author_id: str, nonce: Any, message: dict[str, Any]) -> None:
        self._seen[(author_id, str(nonce))] = (time.monotonic(), message)
