"""Which account and guild the current task works for, so every log line written meanwhile
can say so (LOG_FORMAT=json adds them as fields). Context variables follow the task and
the threads it starts through asyncio.to_thread, so mail/ code logs them without knowing."""

from __future__ import annotations

from contextvars import ContextVar

account_id: ContextVar[int | None] = ContextVar("mailsync_account_id", default=None)
guild_id: ContextVar[int | None] = ContextVar("mailsync_guild_id", default=None)


def bind(account: int | None, guild: int | None) -> None:
    """Mark the rest of the current task (a poll's) as work for this account and guild."""
    account_id.set(account)
    guild_id.set(guild)


def current() -> dict[str, int]:
    """The known ids, as log record fields."""
    found = {"account_id": account_id.get(), "guild_id": guild_id.get()}
    return {k: v for k, v in found.items() if v is not None}
