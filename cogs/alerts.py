"""Wires the watching engine (watch/) and the outbox sender into the bot: the engine polls
and queues alerts with embeds from cogs/_ui; the sender posts them (cogs/_sender.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from cogs._notices import EmbedRenderer
from cogs._sender import OutboxSender
from storage import outbox
from storage.models import utcnow
from watch import digest_clock
from watch.digest import Digests
from watch.engine import FIRST_POLL_SPREAD, SWEEP_SECONDS, Watcher
from watch.state import WatchSettings

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)

SWEEP_JOB = "sweep"
PRUNE_JOB = "prune-outbox"
# After the store came back: every first poll falls before the first sweep, which runs
# them all (SWEEP_SECONDS after the resume), well within 30 s of the return.
RESUME_SPREAD = 10.0


class Alerts(commands.Cog):
    def __init__(self, bot: MailsyncBot) -> None:
        self.bot = bot
        settings = bot.settings
        self.sender = OutboxSender(bot, settings.shards)
        self.watcher = self._new_watcher()
        self.digests = Digests(
            bot.engine,
            bot.scheduler,
            EmbedRenderer(bot.languages),
            digest_clock.zone(settings.timezone),
            on_queued=self.sender.poke,
            metrics=bot.metrics,
            shards=settings.shards,
        )

    def _new_watcher(self) -> Watcher:
        settings = self.bot.settings
        return Watcher(
            self.bot.engine,
            self.bot.secrets,
            EmbedRenderer(self.bot.languages),
            WatchSettings(
                allow_private_hosts=settings.allow_private_hosts,
                poll_concurrency=settings.poll_concurrency,
                idle_reissue_seconds=settings.idle_reissue_minutes * 60,
                idle_silence_seconds=settings.idle_silence_seconds,
                idle_probe_seconds=settings.idle_probe_seconds,
                oauth_providers=settings.oauth_providers,
                shards=settings.shards,
            ),
            on_queued=self.sender.poke,
            metrics=self.bot.metrics,
        )

    async def cog_load(self) -> None:
        self.sender.start()  # it waits until the bot is connected

    async def start_watching(self, resumed: bool = False) -> None:
        """Schedule the accounts; the bot calls this once it holds its shards (another
        process may hold them first: then this waits, watching nothing meanwhile).
        `resumed`: after the shards were lost and taken back (bot.py), from the stored
        state, with the first polls soon enough that what came meanwhile is posted within
        30 s of the store's return."""
        if resumed:
            self.watcher = self._new_watcher()  # a stopped one does not start again
            self.sender.start()
        spread = RESUME_SPREAD if resumed else FIRST_POLL_SPREAD
        count = await self.watcher.start(spread)
        self.bot.scheduler.add_job(
            self.watcher.sweep,
            "interval",
            seconds=SWEEP_SECONDS,
            id=SWEEP_JOB,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
        self.bot.scheduler.add_job(
            self._prune, "interval", hours=1, id=PRUNE_JOB, replace_existing=True, coalesce=True
        )
        log.info("scheduled %d account(s)", count)
        digests = await self.digests.start()
        if digests:
            log.info("scheduled digests of %d account(s)", digests)

    async def _prune(self) -> None:
        gone = await asyncio.to_thread(outbox.prune_sent, self.bot.engine, utcnow())
        if gone:
            log.info("pruned %d sent outbox row(s) older than a week", gone)

    async def stop_watching(self) -> None:
        """The shards' locks are lost (bot.py): stop polling and sending at once, so that
        nothing runs next to a process that may take them over."""
        self._remove_jobs()
        await self.sender.stop()
        await self.watcher.stop()

    def _remove_jobs(self) -> None:
        for job_id in (SWEEP_JOB, PRUNE_JOB):
            job = self.bot.scheduler.get_job(job_id)
            if job is not None:
                job.remove()
        for job in self.bot.scheduler.get_jobs():
            if job.id.startswith("digest:"):
                job.remove()

    async def cog_unload(self) -> None:
        self._remove_jobs()
        await self.watcher.stop()
        await self.sender.stop()


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Alerts(bot))
