"""The schedule, the sweep and the polls of every watched account.

Every IMAP account has one connection (mail/sessions.py). Where the account watches INBOX
and the server offers IDLE, that connection idles in one hub thread between polls: a push
asks for a poll, which runs on the same connection and leaves it idling again; quota is
read during the IDLE renewals; a quiet pushed account costs nothing else. Other accounts
are due at their interval; one sweep tick asks all their parked sessions for STATUS in one
multiplexed round, and only accounts whose counts moved (or that have no session) get a
full poll. A poll runs the blocking mail code in a thread and writes its alerts to the
outbox in the same transaction that advances the stored state; health and quota notices
are written with their state too, and a quiet poll writes nothing at all. What one poll
does on the account's connection is in watch/account_polls.py."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from i18n import N_
from mail import oauth
from mail.errors import AuthError, MailError
from mail.idle import IdleHub
from mail.quota import QuotaReport
from mail.sessions import SessionPool
from mail.sweep import FolderCounts
from mail.types import Protocol, ServerConfig
from storage import repo
from storage.crypto import SecretBox
from storage.models import Account
from storage.outbox import Alert
from watch import log_context
from watch.account_polls import AccountPolls
from watch.announce import Announcer
from watch.board import BoardWatch
from watch.credentials import Credentials
from watch.due_times import STEP, DueTimes
from watch.metrics import Metrics
from watch.poll_health import PollHealth
from watch.poll_outcome import PollOutcome
from watch.poll_slots import PollSlots
from watch.push import Reconnects
from watch.quota_watch import QuotaWatch
from watch.rebaselines import Rebaselines
from watch.render import Renderer
from watch.state import Watched, WatchSettings
from watch.two_way import TwoWay

log = logging.getLogger(__name__)

SWEEP_SECONDS = STEP  # tick (15 s); each account is still polled at its own interval
FIRST_POLL_SPREAD = 60.0  # seconds over which the first polls after a start are spread
# A pushed INBOX-only account needs no sweep while it idles: the tick only looks this often
# whether it still does (a lost connection or a failed poll makes it due at its interval).
PUSHED_RECHECK_SECONDS = 15 * 60.0


class Watcher(AccountPolls, PollOutcome):
    def __init__(
        self,
        engine: Engine,
        secrets: SecretBox,
        renderer: Renderer,
        settings: WatchSettings,
        on_queued: Callable[[], None] = lambda: None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.engine = engine
        self.secrets = secrets
        self.render = renderer
        self.settings = settings
        self._on_queued = on_queued
        self._loop = asyncio.get_running_loop()
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.slots = PollSlots(settings.poll_concurrency)  # a hung server holds one at most
        self._again: dict[int, bool] = {}  # account -> another push arrived mid-poll
        self.hub = IdleHub(
            on_activity=self._from_thread(self._activity),
            on_lost=self._from_thread(self._lost),
            reissue_seconds=settings.idle_reissue_seconds,
            quota_due=lambda key: self.quota.due_at_renewal(key),  # type: ignore[arg-type]
            on_quota=self._quota_at_renewal,
            silence_seconds=settings.idle_silence_seconds,
            probe_seconds=settings.idle_probe_seconds,
        )
        self.sessions = SessionPool(settings.allow_private_hosts, self.hub)
        self.reconnects = Reconnects(self.request_poll)
        self.rebaselines = Rebaselines()  # UIDVALIDITY churn: paused past its limit
        # The schedule lives here, not as one APScheduler job per account: one sweep tick
        # looks at every due account and asks all parked IMAP sessions in one STATUS round.
        self._due = DueTimes()  # account -> monotonic time its next poll is due
        self._watched: dict[int, Watched] = {}
        self._seen: dict[int, dict[str, FolderCounts]] = {}  # last STATUS per folder
        self.creds = Credentials(engine, secrets, settings.oauth_providers)
        self.poll_health = PollHealth(engine, renderer, self._notice, on_queued)
        self.quota = QuotaWatch(
            engine, renderer, self._notice, on_queued, settings.idle_reissue_seconds
        )
        self.boards = BoardWatch(self, engine, renderer, on_queued)
        self.two_way = TwoWay(engine)  # live alerts followed in the polls (SPEC section 8)
        self.announce = Announcer(engine, renderer, self.metrics, on_queued)
        self._closed = False

    async def start(self, spread: float = FIRST_POLL_SPREAD) -> int:
        """Start the IDLE hub and schedule every active account; returns how many. First
        polls (which also open the connections) are spread over `spread` seconds."""
        self.hub.start()
        await self.boards.start()
        accounts = await asyncio.to_thread(repo.active_accounts, self.engine, self.settings.shards)
        for account in accounts:
            # Spread the first polls after a restart so the servers are not hammered.
            first_in = random.uniform(0, min(spread, account.interval_minutes * 60))  # noqa: S311
            self.schedule(account, first_in=first_in)
        return len(accounts)

    async def stop(self) -> None:
        self._closed = True
        await self.boards.stop()
        self.reconnects.stop()
        await asyncio.to_thread(self.hub.stop)
        await asyncio.to_thread(self.sessions.close_all)
        self.slots.shutdown()

    def _from_thread(self, callback: Callable[..., None]) -> Callable[..., None]:
        def call(*args: object) -> None:
            if not self._closed:
                self._loop.call_soon_threadsafe(callback, *args)

        return call

    @property
    def scheduled_ids(self) -> set[int]:
        return set(self._due)

    def due_now(self, account_id: int) -> None:
        """Make the account due at the next sweep (tests and benchmarks use this)."""
        if account_id in self._due:
            self._due[account_id] = 0.0

    def scheduled(self, account_id: int) -> bool:
        return account_id in self._due

    def next_check_at(self, account_id: int) -> datetime | None:
        """When the account's next scheduled poll (or retry) is due, on the wall clock."""
        due = self._due.get(account_id)
        if due is None:
            return None
        return datetime.now(UTC) + timedelta(seconds=max(0.0, due - time.monotonic()))

    def folder_counts(self, account_id: int) -> dict[str, FolderCounts]:
        """The last STATUS answer per watched folder (from a poll or a sweep)."""
        return dict(self._seen.get(account_id, {}))

    @property
    def quota_read(self) -> dict[int, datetime]:
        return self.quota.read

    @property
    def last_poll(self) -> dict[int, datetime]:
        """Quiet polls and sweeps, remembered here instead of written."""
        return self.poll_health.last_poll

    def config_of(self, account: Account) -> ServerConfig:
        return self.creds.with_password(account)

    async def credentials(self, account: Account) -> ServerConfig:
        """The server settings with a usable secret (password or fresh OAuth2 token)."""
        return await self.creds.of(account)

    @staticmethod
    def config_of_unchecked(account: Account) -> ServerConfig:
        """The server settings without the stored secret (for replacing it)."""
        return Credentials.unchecked(account)

    @staticmethod
    def pushable(account: Account | Watched) -> bool:
        """IDLE watches INBOX; other folders are polled at the interval."""
        return account.protocol == Protocol.IMAP and "INBOX" in account.folder_list

    def schedule(self, account: Account, first_in: float | None = None) -> None:
        """Poll at the account's interval; an account watching INBOX is polled at once
        unless `first_in` says when, which opens its connection and IDLE where offered."""
        if account.id is None:
            raise ValueError("only a stored account can be scheduled")
        if not self.settings.shards.owns(account.guild_id):
            # Another process runs the guild's shard and watches it (its commands arrive
            # there, so this is never expected; it keeps one watcher per account).
            log.warning("account %s is not on this process's shards; not watched", account.id)
            return
        wait = account.interval_minutes * 60 if first_in is None else first_in
        self._due[account.id] = time.monotonic() + wait
        self._watched[account.id] = Watched.of(account)
        self.quota.forget(account.id)  # settings may have changed: write afresh
        self.poll_health.forget(account.id)
        self.rebaselines.forget(account.id)  # /mail resume starts the count over
        if self.pushable(account) and first_in is None:
            self.request_poll(account.id)  # opens the connection and starts IDLE
        self.boards.touch(account.id)

    def unschedule(self, account_id: int) -> None:
        self._due.pop(account_id, None)
        self._watched.pop(account_id, None)
        self._seen.pop(account_id, None)
        self.two_way.forget(account_id)
        self.poll_health.forget(account_id)
        self.reconnects.forget(account_id)
        self.sessions.close(account_id)  # shuts the socket locally: no round trip
        self.boards.touch(account_id)

    def pushed(self, account_id: int) -> bool:
        """The account's connection idles in the hub right now."""
        return self.sessions.idling(account_id)

    def _activity(self, account_id: Hashable) -> None:
        if account_id in self._due:
            self.request_poll(account_id)  # type: ignore[arg-type]

    def _lost(self, account_id: Hashable, reason: str) -> None:
        if account_id not in self._due:
            return
        key = int(account_id)  # type: ignore[call-overload]
        self._due_within_interval(key)
        watched = self._watched.get(key)
        if watched is not None and watched.auth == "oauth" and "expired" in reason.lower():
            # Exchange ends a session when its access token expires ("* BYE Session
            # invalidated - AccessTokenExpired"): refresh and reconnect now, no backoff.
            self.creds.token_expired(key)
            self.request_poll(key)
            return
        self.reconnects.lost(key, reason)

    def _quota_at_renewal(self, account_id: Hashable, report: QuotaReport) -> None:
        """Hub thread: a quota read during a renewal; an unchanged one stays there."""
        key = int(account_id)  # type: ignore[call-overload]
        if not self.quota.unchanged(key, report):
            self._from_thread(self._quota_from_renewal)(key, report)

    def _quota_from_renewal(self, account_id: int, report: QuotaReport) -> None:
        account = self._watched.get(account_id)
        if account is not None:
            keep = account_id in self._due
            asyncio.create_task(self.quota.check(account, report, keep))  # noqa: RUF006
            self.boards.quota_read(account_id, report)
            self.boards.touch(account_id)

    async def sweep(self) -> None:
        """Every due account: quiet IMAP sessions answer one multiplexed STATUS round;
        anything that moved, failed or has no session gets a full poll."""
        now = time.monotonic()
        due = []
        for account_id in self._due.take_due(now):
            if self._locks[account_id].locked():
                self._due.keep(account_id)  # being polled: looked at again next tick
            else:
                due.append(account_id)
        if not due:
            return  # the usual tick once accounts are pushed: nothing to look at
        targets: dict[int, list[str]] = {}
        for account_id in due:
            account = self._watched[account_id]
            self._due[account_id] = now + account.interval_minutes * 60
            if account.protocol == Protocol.IMAP and self.sessions.idling(account_id):
                if account.folder_list != ["INBOX"]:
                    self.request_poll(account_id)  # the other folders, on the same connection
                else:  # INBOX is pushed; quota is read with the IDLE renewals
                    self._due[account_id] = now + max(
                        PUSHED_RECHECK_SECONDS, account.interval_minutes * 60
                    )
                continue
            quota_due = self.quota.due(account_id)
            # Live alerts on a server without CONDSTORE: only a poll reads their flags.
            checks = self.two_way.needs_poll(account_id)
            if (
                account.protocol == Protocol.IMAP
                and account_id in self._seen
                and not quota_due
                and not checks
            ):
                targets[account_id] = account.folder_list
            else:
                self.request_poll(account_id)
        if not targets:
            return
        tracked = self.two_way.modseq_targets  # STATUS asks HIGHESTMODSEQ of these
        started = time.monotonic()
        answers = await asyncio.to_thread(self.sessions.sweep, targets, 20.0, tracked)
        self.metrics.sweep_seconds.observe(time.monotonic() - started)
        self.metrics.swept.inc(len(targets))
        stamp = datetime.now(UTC)
        for account_id, counts in answers.items():
            if (
                counts is not None
                and counts == self._seen.get(account_id)
                and not self.two_way.moved(account_id, counts)
            ):
                self.poll_health.last_poll[account_id] = stamp
                self._seen[account_id] = counts  # unseen counts may have moved
                self.boards.touch(account_id)
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
        except DBAPIError as exc:  # the store refused the poll's commit: nothing advanced
            self._store_refused(account_id, exc)
        except Exception:
            log.exception("poll of account %s crashed", account_id)

    async def poll(self, account_id: int, *, with_quota: bool = False) -> int:
        """Poll one account now; returns how many new messages were queued for posting.
        `with_quota` reads the quota too (an explicit /mail check asks for the whole state)."""
        # The account's lock first, then a slot: a second poll of a hung account waits
        # on the lock without holding a slot that a healthy account could use.
        async with self._locks[account_id], self.slots.hold():
            account = await asyncio.to_thread(repo.get_account, self.engine, account_id)
            if account is None:  # removed meanwhile; /mail remove already unscheduled it
                return 0
            log_context.bind(account.id, account.guild_id)  # this task's log lines name it
            if account.needs_reauth:
                raise oauth.ReauthNeededError(
                    N_("`{account}` waits for a new sign-in: run `/mail reauth`."),
                    account=account.name,
                )
            started = time.monotonic()
            try:
                try:
                    announced = await self._poll_once(account, with_quota)
                except AuthError as exc:
                    if account.auth != "oauth" or isinstance(exc, oauth.ReauthNeededError):
                        raise
                    # A token that expired on the server's clock before ours: refresh and
                    # log in again at once; that is no failure.
                    self.creds.token_expired(account_id)
                    announced = await self._poll_once(account, with_quota)
            except MailError as exc:
                self.metrics.poll_errors.labels(exc.kind).inc()
                await self._failed(account, exc)
                self.boards.touch(account_id)
                raise
            finally:
                self.metrics.polls.labels(account.protocol).inc()
                self.metrics.poll_seconds.labels(account.protocol).observe(
                    time.monotonic() - started
                )
            await self._succeeded(account)
            self.boards.touch(account_id)  # after the health it shows is written
            return announced

    def _notice(self, payload: dict) -> Alert:
        """A notice written with its state (health.py calls this inside the transaction)."""
        self.metrics.alerts_queued.inc()
        return Alert(payload)
