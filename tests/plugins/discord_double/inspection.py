"""What tests read back: recorded requests, replies, posts and synced commands, and waiting
for them to appear."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from .records import RecordedRequest


class InspectionMixin:
    """Queries and waits of `DiscordDouble`; every request and gateway frame notifies."""

    def mark(self) -> int:
        """The current number of recorded requests, to pass as ``after=``."""
        return len(self.requests)

    def summary(self, last: int = 15) -> str:
        lines = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-last:]]
        return "; ".join(lines) or "no requests"

    def find(
        self, method: str | None = None, path: str | None = None, *, status: int | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests by method and path regex (searched), optionally by status."""
        return [r for r in self.requests if _matches(r, method, path, status, None)]

    async def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        after: int = 0,
        timeout: float = 10.0,
    ) -> RecordedRequest:
        """The first request in ``requests[after:]`` matching every given filter.

        Already recorded requests count; ``after=double.mark()`` looks only at later ones.
        """

        def find() -> RecordedRequest | None:
            for r in self.requests[after:]:
                if _matches(r, method, path, status, predicate):
                    return r
            return None

        return await self._wait(find, timeout, f"request {method} {path} status={status}")

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """The JSON bodies successfully posted to a channel, in order."""
        return list(self._channel_posts.get(int(channel_id), []))

    def message(self, message_id: int) -> dict[str, Any] | None:
        """A message object the double created (channel posts and interaction replies)."""
        return self._messages.get(int(message_id))

    def interaction_replies(self, token: str) -> list[dict[str, Any]]:
        """Successful replies to one interaction, in order.

        Each is ``{"kind", "type", "body", "message_id", "index"}`` with kind one of
        callback, followup, edit, get, delete (``type`` is the callback type for callbacks,
        ``message_id`` is the target for edits/gets/deletes, ``index`` the request's index).
        """
        return list(self._interactions[token].replies)

    async def wait_for_reply(
        self, token: str, *, kind: str | None = None, after: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first reply (``interaction_replies(token)[after:]``) of ``kind`` (any if None)."""
        record = self._interactions[token]

        def find() -> dict[str, Any] | None:
            return next(
                (r for r in record.replies[after:] if kind is None or r["kind"] == kind), None
            )

        return await self._wait(find, timeout, f"reply kind={kind} to interaction {record.id}")

    def synced_commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Commands stored by the last bulk PUT: global (None) or for one guild."""
        return list(self._commands.get(None if guild_id is None else int(guild_id), []))

    async def _wait(self, find: Callable[[], Any], timeout: float, what: str) -> Any:
        assert self._changed is not None, "the double is not started"
        try:
            async with asyncio.timeout(timeout), self._changed:
                while (found := find()) is None:
                    await self._changed.wait()
                return found
        except TimeoutError:
            raise TimeoutError(f"no {what} within {timeout}s; seen: {self.summary()}") from None

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()


def _matches(
    r: RecordedRequest,
    method: str | None,
    path: str | None,
    status: int | None,
    predicate: Callable[[RecordedRequest], bool] | None,
) -> bool:
    return (
        (method is None or r.method == method.upper())
        and (path is None or re.search(path, r.path) is not None)
        and (status is None or r.status == status)
        and (predicate is None or predicate(r))
    )
