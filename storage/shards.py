"""Which Discord shards a process runs, and so which accounts it watches.

Discord puts a guild on shard `(guild_id >> 22) % shard_count`; the commands of a guild
arrive on that shard's connection, so the process running the shard is the one that saves
the guild's accounts and the one that watches them, polls them and sends their alerts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, literal_column
from sqlalchemy.sql.elements import ColumnElement


def shard_of(guild_id: int, shard_count: int) -> int:
    return (int(guild_id) >> 22) % shard_count


@dataclass(frozen=True)
class ShardSet:
    count: int = 1
    ids: tuple[int, ...] = (0,)

    @classmethod
    def parse(cls, count_text: str | None, ids_text: str | None) -> ShardSet:
        """MAILSYNC_SHARD_COUNT and MAILSYNC_SHARD_IDS (`0-3`, `0,2`, `0-1,5`; empty: all).
        Raises ValueError with a line fit for the operator."""
        try:
            count = int((count_text or "1").strip())
        except ValueError:
            raise ValueError("MAILSYNC_SHARD_COUNT must be a number (1 or more).") from None
        if count < 1:
            raise ValueError("MAILSYNC_SHARD_COUNT must be 1 or more.")
        text = (ids_text or "").replace(" ", "")
        if not text:
            return cls(count, tuple(range(count)))
        ids: set[int] = set()
        try:
            for part in text.split(","):
                first, dash, last = part.partition("-")
                low, high = int(first), int(last) if dash else int(first)
                if low > high:
                    raise ValueError
                ids.update(range(low, high + 1))
        except ValueError:
            raise ValueError(
                f"MAILSYNC_SHARD_IDS {ids_text!r} is not a shard list (e.g. `0-3` or `0,2`)."
            ) from None
        if max(ids) >= count:
            raise ValueError(
                f"MAILSYNC_SHARD_IDS names shard {max(ids)}, but shards are numbered 0 to "
                f"{count - 1} (MAILSYNC_SHARD_COUNT={count})."
            )
        return cls(count, tuple(sorted(ids)))

    @property
    def complete(self) -> bool:
        """This process runs every shard (the one-process setup)."""
        return len(self.ids) == self.count

    @property
    def sharded(self) -> bool:
        """More than one shard: discord.py's AutoShardedBot runs them."""
        return self.count > 1

    def owns(self, guild_id: int) -> bool:
        return self.complete or shard_of(guild_id, self.count) in self.ids

    def clause(self, guild_column: ColumnElement) -> ColumnElement | None:
        """SQL: the rows whose guild falls in these shards; None when every row does."""
        if self.complete:
            return None
        # The shift count as an SQL literal: PostgreSQL has `bigint >> integer` only.
        shifted = guild_column.op(">>", return_type=BigInteger)(literal_column("22"))
        return (shifted % self.count).in_(self.ids)

    def describe(self) -> str:
        ids = ",".join(map(str, self.ids))
        return f"shard(s) {ids} of {self.count}"


ALL_SHARDS = ShardSet()
