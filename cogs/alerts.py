"""Polling and the alerts it produces. Each active account has an interval job; IMAP
accounts whose server offers IDLE also get push (cogs/_push.py), which asks for the same
poll. A poll runs the blocking mail code in a thread and writes its alerts to the outbox
in the same transaction that advances the stored state; cogs/_sender.py posts them."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from discord.ext import commands

from cogs import _ui
from cogs._push import PushWatcher
from cogs._sender import OutboxSender
from mail import imap
from mail.errors import MailError
from mail.quota import (
    QuotaReport,
    QuotaResource,
    QuotaRoot,
    days_until_full,
    next_warning,
    parse_thresholds,
)
from mail.types import FolderState, PollResult, Protocol, Security, ServerConfig
from storage import archive, outbox, repo
from storage.crypto import SecretKeyError
from storage.models import Account
from storage.outbox import Alert

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)

TROUBLE_AFTER = 3
BACKOFF_CAP = timedelta(hours=1)


def job_id(account_id: int) -> str:
    return f"poll:{account_id}"


def failure_backoff(interval_minutes: int, failures: int) -> timedelta:
    """From the third failure on, double the wait each time, up to an hour."""
    extra = max(0, failures - TROUBLE_AFTER)
    return min(BACKOFF_CAP, timedelta(minutes=interval_minutes) * 2 ** min(extra, 12))


class StoredSecretError(MailError):
    kind = "secret"


class Alerts(commands.Cog):
    def __init__(self, bot: MailsyncBot) -> None:
        self.bot = bot
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._slots = asyncio.Semaphore(bot.settings.poll_concurrency)
        self._again: dict[int, bool] = {}  # account -> another push arrived mid-poll
        self.push = PushWatcher(bot, self.config_of, self.request_poll)
        self.sender = OutboxSender(bot)

    async def cog_load(self) -> None:
        self.push.start()
        self.sender.start()
        accounts = await asyncio.to_thread(repo.active_accounts, self.bot.engine)
        for account in accounts:
            self.schedule(account)
        log.info("scheduled %d account(s)", len(accounts))

    async def cog_unload(self) -> None:
        for job in self.bot.scheduler.get_jobs():
            if job.id.startswith("poll:"):
                job.remove()
        await self.push.stop()
        await self.sender.stop()

    def config_of(self, account: Account) -> ServerConfig:
        try:
            password = self.bot.secrets.decrypt(account.password_encrypted)
        except SecretKeyError as exc:
            raise StoredSecretError(
                "The stored password cannot be decrypted with the current "
                "MAILSYNC_SECRET_KEY; set it again with /mail password."
            ) from exc
        return replace(self.config_of_unchecked(account), password=password)

    @staticmethod
    def config_of_unchecked(account: Account) -> ServerConfig:
        """The server settings without the stored password (for replacing it)."""
        return ServerConfig(
            protocol=Protocol(account.protocol),
            host=account.host,
            port=account.port,
            security=Security(account.security),
            username=account.username,
            password="",
        )

    def schedule(self, account: Account) -> None:
        """Interval job (the fallback and safety net) plus IDLE push where offered."""
        if account.id is None:
            raise ValueError("only a stored account can be scheduled")
        self.bot.scheduler.add_job(
            self._scheduled_poll,
            "interval",
            minutes=account.interval_minutes,
            args=[account.id],
            id=job_id(account.id),
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC) + timedelta(minutes=account.interval_minutes),
        )
        if account.protocol == Protocol.IMAP:
            self.push.watch(account.id)

    def unschedule(self, account_id: int) -> None:
        job = self.bot.scheduler.get_job(job_id(account_id))
        if job is not None:
            job.remove()
        self.push.unwatch(account_id)

    def request_poll(self, account_id: int) -> None:
        """Poll soon; pushes that arrive during a poll fold into one more poll after it."""
        if account_id in self._again:
            self._again[account_id] = True
            return
        self._again[account_id] = False
        asyncio.create_task(self._drain(account_id))  # noqa: RUF006 (tracked by _again)

    async def _drain(self, account_id: int) -> None:
        try:
            while True:
                self._again[account_id] = False
                await self._scheduled_poll(account_id)
                if not self._again.get(account_id):
                    return
        finally:
            self._again.pop(account_id, None)

    async def _scheduled_poll(self, account_id: int) -> None:
        try:
            await self.poll(account_id)
        except MailError as exc:
            log.info("poll of account %s failed: %s", account_id, exc.kind)
        except Exception:
            log.exception("poll of account %s crashed", account_id)

    async def poll(self, account_id: int) -> int:
        """Poll one account now; returns how many new messages were queued for posting."""
        engine = self.bot.engine
        async with self._slots, self._locks[account_id]:
            account = await asyncio.to_thread(repo.get_account, engine, account_id)
            if account is None:
                self.unschedule(account_id)
                return 0
            try:
                if account.protocol == Protocol.POP3:
                    announced = await self._poll_pop3(account)
                else:
                    announced = await self._poll_imap(account)
            except MailError as exc:
                await self._failed(account, exc)
                raise
            recovered = await asyncio.to_thread(repo.record_success, engine, account_id)
            if recovered is not None:
                await self._queue(
                    account, [Alert(_ui.recovered_embed(account.name, recovered).to_dict())]
                )
            self.sender.poke()
            return announced

    async def _failed(self, account: Account, exc: MailError) -> None:
        """Count the failure; at the third in a row say so once, and back off the job."""
        health = await asyncio.to_thread(
            repo.record_failure, self.bot.engine, account.id, exc.kind, str(exc)
        )
        if health.consecutive_failures < TROUBLE_AFTER:
            return
        retry_at = datetime.now(UTC) + failure_backoff(
            account.interval_minutes, health.consecutive_failures
        )
        job = self.bot.scheduler.get_job(job_id(account.id))
        if job is not None:
            job.modify(next_run_time=retry_at)
        if not health.trouble_notified:
            embed = _ui.trouble_embed(
                account.name, health.consecutive_failures, str(exc), exc.kind, retry_at
            )
            await self._queue(account, [Alert(embed.to_dict())])
            await asyncio.to_thread(repo.mark_trouble_notified, self.bot.engine, account.id)
            self.sender.poke()

    async def _queue(self, account: Account, alerts: list[Alert]) -> None:
        await asyncio.to_thread(outbox.enqueue, self.bot.engine, account, alerts)

    async def _poll_imap(self, account: Account) -> int:
        cfg = self.config_of(account)
        states = await asyncio.to_thread(repo.folder_states, self.bot.engine, account.id)
        result = await asyncio.to_thread(
            imap.poll_account, cfg, states, self.bot.settings.allow_private_hosts
        )
        announced = await self._queue_imap(account, result, states)
        if result.quota is not None:
            await self._check_quota(account, result.quota)
        return announced

    async def _queue_imap(
        self, account: Account, result: PollResult, states: dict[str, FolderState]
    ) -> int:
        alerts = [
            Alert(_ui.folder_reset_embed(account.name, f.folder).to_dict(), mention=False)
            for f in result.folders
            if f.reset
        ]
        new = [m for f in result.folders if not f.reset for m in f.messages]
        if len(new) > _ui.DIGEST_THRESHOLD:
            alerts.append(Alert(_ui.digest_embed(account.name, new).to_dict()))
        else:
            alerts.extend(Alert(_ui.new_mail_embed(account.name, m).to_dict()) for m in new)
        changed = {f.folder: f.state for f in result.folders if f.state != states.get(f.folder)}
        if alerts or changed:
            await asyncio.to_thread(
                outbox.enqueue_with_folder_states, self.bot.engine, account, alerts, changed
            )
        return len(new)

    async def _poll_pop3(self, account: Account) -> int:
        """Download into the archive (committed before any DELE), then queue what is stored
        but not yet announced, marking it announced in the same transaction."""
        result = await asyncio.to_thread(
            archive.sync,
            self.bot.engine,
            account.id,
            self.config_of(account),
            archive.Retention.parse(account.retention),
            self.bot.settings.allow_private_hosts,
        )
        rows = await asyncio.to_thread(archive.unannounced, self.bot.engine, account.id)
        if rows:
            messages = [archive.as_new_message(row) for row in rows]
            if len(messages) > _ui.DIGEST_THRESHOLD:
                alerts = [Alert(_ui.digest_embed(account.name, messages).to_dict())]
            else:
                alerts = [Alert(_ui.new_mail_embed(account.name, m).to_dict()) for m in messages]
            await asyncio.to_thread(
                outbox.enqueue_archived, self.bot.engine, account, alerts, [r.id for r in rows]
            )
        if account.mailbox_limit_mb:
            limit = QuotaResource(
                "STORAGE", result.size_bytes // 1024, account.mailbox_limit_mb * 1024
            )
            await self._check_quota(account, QuotaReport(True, (QuotaRoot("mailbox", (limit,)),)))
        return len(rows)

    async def _check_quota(self, account: Account, report: QuotaReport) -> None:
        fullest = report.fullest
        if fullest is None or fullest.percent is None:
            return
        warning, level = next_warning(
            fullest.percent, parse_thresholds(account.quota_warn), account.quota_level
        )
        storage = report.storage or fullest
        history = await asyncio.to_thread(
            repo.record_quota,
            self.bot.engine,
            account.id,
            storage.usage,
            storage.limit,
            warning,
            level,
        )
        if warning is not None:
            days = days_until_full(history, storage.limit)
            embed = _ui.quota_warning_embed(account.name, fullest, warning, days)
            await self._queue(account, [Alert(embed.to_dict())])


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Alerts(bot))
