"""Polling and the posts it produces. Each active account has an interval job; IMAP
accounts whose server offers IDLE also get push (cogs/_push.py), which asks for the same
poll. A poll runs the blocking mail code in a thread, posts the alerts, then advances the
stored state, so a failed post is retried and a finished one is never repeated."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from cogs import _ui
from cogs._push import PushWatcher
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
from storage import archive, repo
from storage.crypto import SecretKeyError
from storage.models import Account

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)


def job_id(account_id: int) -> str:
    return f"poll:{account_id}"


class StoredSecretError(MailError):
    kind = "secret"


class Alerts(commands.Cog):
    def __init__(self, bot: MailsyncBot) -> None:
        self.bot = bot
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._slots = asyncio.Semaphore(bot.settings.poll_concurrency)
        self._again: dict[int, bool] = {}  # account -> another push arrived mid-poll
        self.push = PushWatcher(bot, self.config_of, self.request_poll)

    async def cog_load(self) -> None:
        self.push.start()
        accounts = await asyncio.to_thread(repo.active_accounts, self.bot.engine)
        for account in accounts:
            self.schedule(account)
        log.info("scheduled %d account(s)", len(accounts))

    async def cog_unload(self) -> None:
        for job in self.bot.scheduler.get_jobs():
            if job.id.startswith("poll:"):
                job.remove()
        await self.push.stop()

    def config_of(self, account: Account) -> ServerConfig:
        try:
            password = self.bot.secrets.decrypt(account.password_encrypted)
        except SecretKeyError as exc:
            raise StoredSecretError(
                "The stored password cannot be decrypted with the current "
                "MAILSYNC_SECRET_KEY; set it again with /mail password."
            ) from exc
        return ServerConfig(
            protocol=Protocol(account.protocol),
            host=account.host,
            port=account.port,
            security=Security(account.security),
            username=account.username,
            password=password,
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
        """Poll one account now; returns how many messages were announced."""
        engine = self.bot.engine
        async with self._slots, self._locks[account_id]:
            account = await asyncio.to_thread(repo.get_account, engine, account_id)
            if account is None:
                self.unschedule(account_id)
                return 0
            try:
                if account.protocol == Protocol.POP3:
                    posted = await self._poll_pop3(account)
                else:
                    posted = await self._poll_imap(account)
            except MailError as exc:
                await asyncio.to_thread(repo.record_poll, engine, account_id, exc.kind, str(exc))
                raise
            await asyncio.to_thread(repo.record_poll, engine, account_id)
            return posted

    async def _poll_imap(self, account: Account) -> int:
        cfg = self.config_of(account)
        states = await asyncio.to_thread(repo.folder_states, self.bot.engine, account.id)
        result = await asyncio.to_thread(
            imap.poll_account, cfg, states, self.bot.settings.allow_private_hosts
        )
        posted = await self._announce(account, result, states)
        if result.quota is not None:
            await self._check_quota(account, result.quota)
        return posted

    async def _poll_pop3(self, account: Account) -> int:
        """Download into the archive (committed before any DELE), then announce from the
        archive: what is stored but not yet announced, so a failed post is retried."""
        result = await asyncio.to_thread(
            archive.sync,
            self.bot.engine,
            account.id,
            self.config_of(account),
            archive.Retention.parse(account.retention),
            self.bot.settings.allow_private_hosts,
        )
        posted = await self._announce_archived(account)
        if account.mailbox_limit_mb:
            limit = QuotaResource(
                "STORAGE", result.size_bytes // 1024, account.mailbox_limit_mb * 1024
            )
            await self._check_quota(account, QuotaReport(True, (QuotaRoot("mailbox", (limit,)),)))
        return posted

    async def _announce_archived(self, account: Account) -> int:
        rows = await asyncio.to_thread(archive.unannounced, self.bot.engine, account.id)
        if not rows:
            return 0
        channel = await self._channel(account.channel_id)
        messages = [archive.as_new_message(row) for row in rows]
        if len(messages) > _ui.DIGEST_THRESHOLD:
            await self._send(channel, _ui.digest_embed(account.name, messages), account)
            await asyncio.to_thread(archive.mark_announced, self.bot.engine, [r.id for r in rows])
            return len(rows)
        for row, message in zip(rows, messages, strict=True):
            await self._send(channel, _ui.new_mail_embed(account.name, message), account)
            await asyncio.to_thread(archive.mark_announced, self.bot.engine, [row.id])
        return len(rows)

    async def _announce(
        self, account: Account, result: PollResult, states: dict[str, FolderState]
    ) -> int:
        """Post, then store the new state. If a post fails, only what was posted advances."""
        channel = await self._channel(account.channel_id)
        done: dict[str, FolderState] = {}
        posted = 0
        try:
            for folder in result.folders:
                if folder.reset:
                    await self._send(channel, _ui.folder_reset_embed(account.name, folder.folder))
                    done[folder.folder] = folder.state
            new = [m for f in result.folders if not f.reset for m in f.messages]
            if len(new) > _ui.DIGEST_THRESHOLD:
                await self._send(channel, _ui.digest_embed(account.name, new), account)
                posted = len(new)
            else:
                for message in new:
                    await self._send(channel, _ui.new_mail_embed(account.name, message), account)
                    posted += 1
                    done[message.folder] = FolderState(
                        states[message.folder].uidvalidity, message.uid
                    )
            done.update({f.folder: f.state for f in result.folders})
        finally:
            if done:
                await asyncio.to_thread(repo.save_folder_states, self.bot.engine, account.id, done)
        return posted

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
            channel = await self._channel(account.channel_id)
            await self._send(channel, _ui.quota_warning_embed(account.name, fullest, warning, days))

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        return channel  # type: ignore[return-value]

    @staticmethod
    async def _send(
        channel: discord.abc.Messageable, embed: discord.Embed, account: Account | None = None
    ) -> None:
        """Post an alert. Only the account's own alert role may be mentioned, nobody else."""
        role = account.mention_role_id if account is not None else None
        if role:
            await channel.send(
                content=f"<@&{role}>",
                embed=embed,
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, users=False, roles=[discord.Object(id=role)], replied_user=False
                ),
            )
        else:
            await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Alerts(bot))
