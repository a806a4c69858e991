"""The schedule, the sweep and the polls of every watched account.

Each active account is due at its interval; one sweep tick looks at every due account and
asks all quiet IMAP sessions for STATUS in one multiplexed round; only accounts whose
counts moved (or that have no session) get a full poll. IMAP accounts whose server offers
IDLE also get push (watch/push.py), which asks for the same poll. A poll runs the blocking
mail code in a thread and writes its alerts to the outbox in the same transaction that
advances the stored state; health and quota notices are written with their state too."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

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
from storage import archive, health, outbox, repo
from storage.crypto import SecretBox, SecretKeyError
from storage.models import Account
from storage.outbox import Alert
from watch.push import PushWatcher
from watch.render import Renderer

log = logging.getLogger(__name__)

TROUBLE_AFTER = 3
BACKOFF_CAP = timedelta(hours=1)
SWEEP_SECONDS = 15.0  # tick; each account is still polled at its own interval
QUOTA_EVERY = 30 * 60.0  # seconds between quota reads when no mail arrives
FIRST_POLL_SPREAD = 60.0  # seconds over which the first polls after a start are spread


def failure_backoff(interval_minutes: int, failures: int) -> timedelta:
    """From the third failure on, double the wait each time, up to an hour."""
    extra = max(0, failures - TROUBLE_AFTER)
    return min(BACKOFF_CAP, timedelta(minutes=interval_minutes) * 2 ** min(extra, 12))


class StoredSecretError(MailError):
    kind = "secret"


@dataclass(frozen=True)
class WatchSettings:
    allow_private_hosts: bool = False
    poll_concurrency: int = 20
    idle_reissue_seconds: float = 24 * 60.0


class Watcher:
    def __init__(
        self,
        engine: Engine,
        secrets: SecretBox,
        renderer: Renderer,
        settings: WatchSettings,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.secrets = secrets
        self.render = renderer
        self.settings = settings
        self._on_queued = on_queued
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._slots = asyncio.Semaphore(settings.poll_concurrency)
        self._again: dict[int, bool] = {}  # account -> another push arrived mid-poll
        self.push = PushWatcher(
            engine,
            self.config_of,
            self.request_poll,
            allow_private=settings.allow_private_hosts,
            reissue_seconds=settings.idle_reissue_seconds,
        )
        self.sessions = SessionPool(settings.allow_private_hosts)
        # The schedule lives here, not as one APScheduler job per account: one sweep tick
        # looks at every due account and asks all quiet IMAP sessions in one STATUS round.
        self._due: dict[int, float] = {}  # account -> monotonic time its next poll is due
        self._watched: dict[int, Account] = {}
        self._seen: dict[int, dict[str, FolderCounts]] = {}  # last STATUS per folder
        self._quota_at: dict[int, float] = {}
        self.last_poll: dict[int, datetime] = {}  # quiet sweeps, not written to the store

    async def start(self) -> int:
        """Start push and schedule every active account; returns how many."""
        self.push.start()
        accounts = await asyncio.to_thread(repo.active_accounts, self.engine)
        for account in accounts:
            # Spread the first polls after a restart so the servers are not hammered.
            spread = random.uniform(0, min(FIRST_POLL_SPREAD, account.interval_minutes * 60))  # noqa: S311
            self.schedule(account, first_in=spread)
        return len(accounts)

    async def stop(self) -> None:
        await self.push.stop()
        await asyncio.to_thread(self.sessions.close_all)

    @property
    def scheduled_ids(self) -> set[int]:
        return set(self._due)

    def due_now(self, account_id: int) -> None:
        """Make the account due at the next sweep (tests and benchmarks use this)."""
        if account_id in self._due:
            self._due[account_id] = 0.0

    def config_of(self, account: Account) -> ServerConfig:
        try:
            password = self.secrets.decrypt(account.password_encrypted)
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

    async def sweep(self) -> None:
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

    async def poll(self, account_id: int, *, with_quota: bool = False) -> int:
        """Poll one account now; returns how many new messages were queued for posting.
        `with_quota` reads the quota too (an explicit /mail check asks for the whole state)."""
        async with self._slots, self._locks[account_id]:
            account = await asyncio.to_thread(repo.get_account, self.engine, account_id)
            if account is None:  # removed meanwhile; /mail remove already unscheduled it
                return 0
            try:
                if account.protocol == Protocol.POP3:
                    announced = await self._poll_pop3(account)
                else:
                    announced = await self._poll_imap(account, with_quota)
            except MailError as exc:
                await self._failed(account, exc)
                raise
            recovered = await asyncio.to_thread(
                health.record_success,
                self.engine,
                account_id,
                lambda failures: Alert(self.render.recovered(account.name, failures)),
            )
            if recovered is not None:
                log.info("account %s recovered after %d failed polls", account_id, recovered)
            self._on_queued()
            return announced

    async def _failed(self, account: Account, exc: MailError) -> None:
        """Count the failure; at the third in a row say so once, and back off."""
        if account.id is None:
            return
        state = await asyncio.to_thread(
            health.record_failure,
            self.engine,
            account.id,
            exc.kind,
            str(exc),
            TROUBLE_AFTER,
            lambda failures: self._trouble_alert(account, exc, failures),
        )
        if state.consecutive_failures < TROUBLE_AFTER:
            return
        delay = failure_backoff(account.interval_minutes, state.consecutive_failures)
        if account.id in self._due:
            self._due[account.id] = time.monotonic() + delay.total_seconds()
        self._on_queued()

    def _trouble_alert(self, account: Account, exc: MailError, failures: int) -> Alert:
        retry_at = datetime.now(UTC) + failure_backoff(account.interval_minutes, failures)
        return Alert(self.render.trouble(account.name, failures, str(exc), exc.kind, retry_at))

    async def _poll_imap(self, account: Account, with_quota: bool) -> int:
        cfg = self.config_of(account)
        states = await asyncio.to_thread(repo.folder_states, self.engine, account.id)
        result = await asyncio.to_thread(
            self.sessions.run, account.id, cfg, lambda client: imap.poll(client, states)
        )
        announced = await self._queue_imap(account, result, states)
        moved = result.messages or any(f.reset for f in result.folders)
        last_quota = self._quota_at.get(account.id, 0.0)
        if with_quota or moved or time.monotonic() - last_quota > QUOTA_EVERY:
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
            Alert(self.render.folder_reset(account.name, f.folder), mention=False)
            for f in result.folders
            if f.reset
        ]
        new = [m for f in result.folders if not f.reset for m in f.messages]
        if len(new) > self.render.digest_threshold:
            alerts.append(Alert(self.render.digest(account.name, new)))
        else:
            alerts.extend(Alert(self.render.new_mail(account.name, m)) for m in new)
        changed = {f.folder: f.state for f in result.folders if f.state != states.get(f.folder)}
        if alerts or changed:
            await asyncio.to_thread(
                outbox.enqueue_with_folder_states, self.engine, account, alerts, changed
            )
        return len(new)

    async def _poll_pop3(self, account: Account) -> int:
        """Download into the archive (committed before any DELE), then queue what is stored
        but not yet announced, marking it announced in the same transaction."""
        result = await asyncio.to_thread(
            archive.sync,
            self.engine,
            account.id,
            self.config_of(account),
            archive.Retention.parse(account.retention),
            self.settings.allow_private_hosts,
        )
        rows, total = await asyncio.to_thread(
            archive.unannounced, self.engine, account.id, self.render.digest_lines
        )
        if rows:
            single = total <= self.render.digest_threshold
            messages = await asyncio.to_thread(archive.new_messages, self.engine, rows, single)
            if single:
                alerts = [Alert(self.render.new_mail(account.name, m)) for m in messages]
            else:
                alerts = [Alert(self.render.digest(account.name, messages, total))]
            await asyncio.to_thread(
                outbox.enqueue_archived, self.engine, account, alerts, max(r.id for r in rows)
            )
        if account.mailbox_limit_mb:
            limit = QuotaResource(
                "STORAGE", result.size_bytes // 1024, account.mailbox_limit_mb * 1024
            )
            await self._check_quota(account, QuotaReport(True, (QuotaRoot("mailbox", (limit,)),)))
        return total if rows else 0

    async def _check_quota(self, account: Account, report: QuotaReport) -> None:
        """Store the read and the warned level; a due warning goes in the same transaction."""
        fullest = report.fullest
        if account.id is None:
            return
        if fullest is None or fullest.percent is None:
            await asyncio.to_thread(
                health.record_quota, self.engine, account.id, None, None, account.quota_level
            )
            return
        threshold, level = next_warning(
            fullest.percent, parse_thresholds(account.quota_warn), account.quota_level
        )
        storage = report.storage or fullest

        def warning(history: health.QuotaHistory) -> Alert:
            days = days_until_full(history, storage.limit)
            return Alert(self.render.quota_warning(account.name, fullest, threshold, days))

        await asyncio.to_thread(
            health.record_quota,
            self.engine,
            account.id,
            storage.usage,
            storage.limit,
            level,
            warning if threshold is not None else None,
        )
        if threshold is not None:
            log.info("account %s: quota over %d %%", account.id, threshold)
