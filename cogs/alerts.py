"""Polling and the alerts it produces. Each active account has an interval job; IMAP
accounts whose server offers IDLE also get push (cogs/_push.py), which asks for the same
poll. A poll runs the blocking mail code in a thread and writes its alerts to the outbox
in the same transaction that advances the stored state; cogs/_sender.py posts them."""

from __future__ import annotations

import asyncio
import logging
import random
import time
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
from mail.sessions import SessionPool
from mail.sweep import FolderCounts
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
SWEEP_JOB = "sweep"
SWEEP_SECONDS = 15.0  # tick; each account is still polled at its own interval
QUOTA_EVERY = 30 * 60.0  # seconds between quota reads when no mail arrives


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
        self.sessions = SessionPool(bot.settings.allow_private_hosts)
        # The schedule lives here, not as one APScheduler job per account: one sweep job
        # looks at every due account and asks all quiet IMAP sessions in one STATUS round.
        self._due: dict[int, float] = {}  # account -> monotonic time its next poll is due
        self._watched: dict[int, Account] = {}
        self._seen: dict[int, dict[str, FolderCounts]] = {}  # last STATUS per folder
        self._quota_at: dict[int, float] = {}
        self.last_poll: dict[int, datetime] = {}  # quiet sweeps, not written to the store

    async def cog_load(self) -> None:
        self.push.start()
        self.sender.start()
        accounts = await asyncio.to_thread(repo.active_accounts, self.bot.engine)
        for account in accounts:
            # Spread the first polls after a restart so the servers are not hammered.
            spread = random.uniform(0, min(60, account.interval_minutes * 60))  # noqa: S311
            self.schedule(account, first_in=spread)
        self.bot.scheduler.add_job(
            self._sweep,
            "interval",
            seconds=SWEEP_SECONDS,
            id=SWEEP_JOB,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
        log.info("scheduled %d account(s)", len(accounts))

    async def cog_unload(self) -> None:
        job = self.bot.scheduler.get_job(SWEEP_JOB)
        if job is not None:
            job.remove()
        await self.push.stop()
        await self.sender.stop()
        await asyncio.to_thread(self.sessions.close_all)

    @property
    def scheduled_ids(self) -> set[int]:
        return set(self._due)

    def due_now(self, account_id: int) -> None:
        """Make the account due at the next sweep (tests and /mail resume use this)."""
        if account_id in self._due:
            self._due[account_id] = 0.0

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

    def schedule(self, account: Account, first_in: float | None = None) -> None:
        """Poll at the account's interval (the fallback and safety net), plus IDLE push."""
        if account.id is None:
            raise ValueError("only a stored account can be scheduled")
        wait = account.interval_minutes * 60 if first_in is None else first_in
        self._due[account.id] = time.monotonic() + wait
        self._watched[account.id] = account
        if account.protocol == Protocol.IMAP:
            self.push.watch(account.id)

    def unschedule(self, account_id: int) -> None:
        self._due.pop(account_id, None)
        self._watched.pop(account_id, None)
        self._seen.pop(account_id, None)
        self.push.unwatch(account_id)
        self.sessions.close(account_id)  # shuts the socket locally: no round trip

    async def _sweep(self) -> None:
        """Every due account: quiet IMAP sessions answer one multiplexed STATUS round;
        anything that moved, failed or has no session gets a full poll."""
        now = time.monotonic()
        due = [a for a, at in self._due.items() if at <= now and not self._locks[a].locked()]
        if not due:
            return
        targets: dict[int, list[str]] = {}
        for account_id in due:
            account = self._watched[account_id]
            self._due[account_id] = now + account.interval_minutes * 60
            quota_due = now - self._quota_at.get(account_id, 0.0) > QUOTA_EVERY
            if account.protocol == Protocol.IMAP and account_id in self._seen and not quota_due:
                targets[account_id] = account.folder_list
            else:
                self.request_poll(account_id)
        if not targets:
            return
        answers = await asyncio.to_thread(self.sessions.sweep, targets)
        stamp = datetime.now(UTC)
        for account_id, counts in answers.items():
            if counts is not None and counts == self._seen.get(account_id):
                self.last_poll[account_id] = stamp
            else:
                self.request_poll(account_id)

    def request_poll(self, account_id: int) -> None:
        """Poll soon; pushes that arrive during a poll fold into one more poll after it."""
        if account_id in self._again:
            self._again[account_id] = True
            return
        self._again[account_id] = False
        asyncio.create_task(self._drain(account_id))  # noqa: RUF006 (tracked by _again)

    async def _drain(self, account_id: int) -> None:
        try:
            while account_id in self._due:  # paused or removed meanwhile: stop
                self._again[account_id] = False
                await self._scheduled_poll(account_id)
                if not self._again.get(account_id):
                    return
        finally:
            self._again.pop(account_id, None)

    async def _scheduled_poll(self, account_id: int) -> None:
        try:
            posted = await self.poll(account_id)
            log.debug("polled account %s: %d new", account_id, posted)
        except MailError as exc:
            log.info("poll of account %s failed: %s", account_id, exc.kind)
        except Exception:
            log.exception("poll of account %s crashed", account_id)

    async def poll(self, account_id: int) -> int:
        """Poll one account now; returns how many new messages were queued for posting."""
        engine = self.bot.engine
        async with self._slots, self._locks[account_id]:
            account = await asyncio.to_thread(repo.get_account, engine, account_id)
            if account is None:  # removed meanwhile; /mail remove already unscheduled it
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
        delay = failure_backoff(account.interval_minutes, health.consecutive_failures)
        retry_at = datetime.now(UTC) + delay
        if account.id in self._due:
            self._due[account.id] = time.monotonic() + delay.total_seconds()
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
            self.sessions.run, account.id, cfg, lambda client: imap.poll(client, states)
        )
        announced = await self._queue_imap(account, result, states)
        moved = result.messages or any(f.reset for f in result.folders)
        last_quota = self._quota_at.get(account.id, 0.0)
        if moved or time.monotonic() - last_quota > QUOTA_EVERY:
            self._quota_at[account.id] = time.monotonic()
            try:
                report = await asyncio.to_thread(self.sessions.run, account.id, cfg, imap.quota)
            except MailError as exc:  # quota is extra information: it must not fail the poll
                log.info("quota of account %s unreadable: %s", account.id, exc.kind)
            else:
                await self._check_quota(account, report)
        self._seen[account.id] = {
            f.folder: FolderCounts(f.state, f.messages_total) for f in result.folders
        }
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
        rows, total = await asyncio.to_thread(
            archive.unannounced, self.bot.engine, account.id, _ui.DIGEST_LINES
        )
        if rows:
            single = total <= _ui.DIGEST_THRESHOLD
            messages = await asyncio.to_thread(archive.new_messages, self.bot.engine, rows, single)
            if single:
                alerts = [Alert(_ui.new_mail_embed(account.name, m).to_dict()) for m in messages]
            else:
                alerts = [Alert(_ui.digest_embed(account.name, messages, total).to_dict())]
            await asyncio.to_thread(
                outbox.enqueue_archived, self.bot.engine, account, alerts, max(r.id for r in rows)
            )
        if account.mailbox_limit_mb:
            limit = QuotaResource(
                "STORAGE", result.size_bytes // 1024, account.mailbox_limit_mb * 1024
            )
            await self._check_quota(account, QuotaReport(True, (QuotaRoot("mailbox", (limit,)),)))
        return total if rows else 0

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
