"""Hourly and daily digests: one APScheduler job per account whose delivery is not instant,
on a DigestTrigger in MAILSYNC_TIMEZONE. A job turns the account's waiting messages into
one digest alert (storage/digest.py, atomically); nothing waiting, nothing posted.

A test (or an operator) can fire a digest through the scheduler itself:
`scheduler.get_job(job_id(account_id)).modify(next_run_time=now)`; the trigger then says
when the next one is due."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine

from i18n import N_
from mail.types import NewMessage
from storage import digest
from storage.models import Account
from storage.outbox import Alert
from storage.shards import ALL_SHARDS, ShardSet
from watch.digest_clock import DigestTrigger, missed, parse_hhmm
from watch.metrics import Metrics
from watch.render import Renderer

log = logging.getLogger(__name__)

# msgids: the renderer translates them into the guild's language when the digest is due
HEADINGS = {"hourly": N_("Hourly digest"), "daily": N_("Daily digest")}


def job_id(account_id: int) -> str:
    return f"digest:{account_id}"


class Digests:
    def __init__(
        self,
        engine: Engine,
        scheduler: BaseScheduler,
        renderer: Renderer,
        tz: tzinfo,
        on_queued: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
        shards: ShardSet = ALL_SHARDS,
    ) -> None:
        self.shards = shards
        self.engine = engine
        self.scheduler = scheduler
        self.render = renderer
        self.tz = tz
        self._on_queued = on_queued
        self.metrics = metrics or Metrics()

    async def start(self) -> int:
        """Schedule every account with digests; one whose digest fell due while the bot
        was down gets it at once. Returns how many accounts have digests."""
        accounts = await asyncio.to_thread(digest.digest_accounts, self.engine, self.shards)
        for account in accounts:
            await self.schedule(account)
        return len(accounts)

    async def schedule(self, account: Account) -> None:
        """(Re)schedule after a start or a change of delivery or digest_time. Switching to
        instant posts what was waiting, so nothing is stranded."""
        if account.id is None:
            raise ValueError("only a stored account has digests")
        self.unschedule(account.id)
        if account.delivery not in HEADINGS:
            await self.run(account.id)
            return
        trigger = DigestTrigger(account.delivery, parse_hhmm(account.digest_time), self.tz)
        job = self.scheduler.add_job(
            self.run,
            trigger,
            args=[account.id],
            id=job_id(account.id),
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,  # late (a busy loop) is better than never
        )
        oldest = await asyncio.to_thread(digest.oldest_waiting, self.engine, account.id)
        now = datetime.now(UTC)
        if oldest is not None and missed(account.delivery, trigger.at, self.tz, oldest, now):
            job.modify(next_run_time=now)

    def unschedule(self, account_id: int) -> None:
        job = self.scheduler.get_job(job_id(account_id))
        if job is not None:
            job.remove()

    def next_run(self, account_id: int) -> datetime | None:
        job = self.scheduler.get_job(job_id(account_id))
        return None if job is None else job.next_run_time

    async def run(self, account_id: int) -> int:
        """Post the account's digest now; returns how many messages it listed."""
        try:
            listed = await asyncio.to_thread(digest.flush, self.engine, account_id, self._build)
        except Exception:  # the job must keep its schedule: the rows wait for the next one
            log.exception("digest of account %s failed", account_id)
            return 0
        if listed is None:  # removed, e.g. with its server: no job should stay behind
            self.unschedule(account_id)
            return 0
        if listed:
            log.info("digest of account %s: %d message(s)", account_id, listed)
            self.metrics.alerts_queued.inc()
            self._on_queued()
        return listed

    def _build(self, account: Account, messages: list[NewMessage], total: int) -> list[Alert]:
        heading = HEADINGS.get(account.delivery, N_("Digest"))
        payload = self.render.digest(
            account.name,
            messages,
            total,
            account.privacy,
            heading=heading,
            guild_id=account.guild_id,
        )
        return [Alert(payload)]
