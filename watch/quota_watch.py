"""When an account's quota is read, and what a read writes: a warning with its level in
one transaction, a changed reading, or nothing at all (an unchanged reading is only
remembered here, and one read during an IDLE renewal never wakes the event loop)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine

from mail.quota import QuotaReport, days_until_full, next_warning, parse_thresholds
from storage import health
from storage.outbox import Alert
from watch.render import Renderer

log = logging.getLogger(__name__)

QUOTA_EVERY = 30 * 60.0  # seconds between quota reads when no mail arrives


class QuotaAccount(Protocol):
    id: int | None
    name: str
    quota_warn: str
    quota_level: int


class QuotaWatch:
    def __init__(
        self,
        engine: Engine,
        render: Renderer,
        notice: Callable[[dict], Alert],
        on_queued: Callable[[], None],
        reissue_seconds: float,
    ) -> None:
        self._engine = engine
        self._render = render
        self._notice = notice
        self._on_queued = on_queued
        self._reissue_seconds = reissue_seconds
        self._at: dict[int, float] = {}
        self._seen: dict[int, tuple[int, int, int] | None] = {}  # usage, limit, level
        self.read: dict[int, datetime] = {}  # last read, for /mail list

    def age(self, account_id: int) -> float:
        """Seconds since quota was last read; infinite when never (monotonic time starts
        at boot, so 0 is no safe default)."""
        at = self._at.get(account_id)
        return math.inf if at is None else time.monotonic() - at

    def due(self, account_id: int) -> bool:
        return self.age(account_id) > QUOTA_EVERY

    def due_at_renewal(self, account_id: int) -> bool:
        """Read in this IDLE renewal when it would otherwise be older than QUOTA_EVERY
        before the next one (hub thread)."""
        return self.age(account_id) + self._reissue_seconds > QUOTA_EVERY

    def was_read(self, account_id: int) -> None:
        self._at[account_id] = time.monotonic()

    def forget(self, account_id: int) -> None:
        """Settings may have changed (thresholds, level): the next read is written."""
        self._seen.pop(account_id, None)

    def unchanged(self, account_id: int, report: QuotaReport) -> bool:
        """A read that matches the last one stored: stamped, nothing more to do."""
        self.was_read(account_id)
        storage = report.storage or report.fullest
        seen = self._seen.get(account_id, ())
        unlimited = seen is None and report.fullest is None  # still no limit to warn about
        if unlimited or (seen and storage and seen[:2] == (storage.usage, storage.limit)):
            self.read[account_id] = datetime.now(UTC)
            return True
        return False

    async def check(self, account: QuotaAccount, report: QuotaReport, keep: bool) -> None:
        """Store the read and the warned level; a due warning goes in the same transaction.
        `keep`: the account is scheduled, so this reading may stand for later ones."""
        if account.id is None:
            return
        account_id = account.id
        self.read[account_id] = datetime.now(UTC)
        fullest = report.fullest
        if fullest is None or fullest.percent is None:
            if self._seen.get(account_id, ()) is None:
                return
            self._seen[account_id] = None
            await asyncio.to_thread(
                health.record_quota, self._engine, account_id, None, None, account.quota_level
            )
            return
        known = self._seen.get(account_id, ())
        current_level = known[2] if known else account.quota_level
        threshold, level = next_warning(
            fullest.percent, parse_thresholds(account.quota_warn), current_level
        )
        storage = report.storage or fullest
        if threshold is None and known == (storage.usage, storage.limit, level):
            return

        def warning(history: health.QuotaHistory) -> Alert:
            days = days_until_full(history, storage.limit)
            payload = self._render.quota_warning(
                account.name, fullest, threshold, days, guild_id=account.guild_id
            )
            return self._notice(payload)

        stored = await asyncio.to_thread(
            health.record_quota,
            self._engine,
            account_id,
            storage.usage,
            storage.limit,
            level,
            warning if threshold is not None else None,
        )
        if stored and keep:
            self._seen[account_id] = (storage.usage, storage.limit, level)
        if threshold is not None:
            log.info("account %s: quota over %d %%", account_id, threshold)
            self._on_queued()
