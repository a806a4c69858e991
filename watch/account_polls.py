"""One poll's work on an account, for the Watcher (watch/engine.py): the IMAP poll on the
account's one connection (two-way checks and the quota read on it too), the POP3 download
into the archive, and other work run on that connection (/mail folders, /mail quota, a
button press). A mixin of Watcher: it uses the watcher's sessions, credentials, schedule
and the parts a poll reports to (announcer, quota, boards, two-way)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from imapclient import IMAPClient

from mail import imap, imap_quota
from mail.errors import MailError
from mail.quota import QuotaReport, QuotaResource, QuotaRoot
from mail.sweep import FolderCounts
from mail.types import PollResult, Protocol
from storage import archive, repo
from storage.models import Account
from storage.store_faults import faults_of
from watch import two_way
from watch.pop3_download import download
from watch.rebaselines import ChurnPausedError
from watch.two_way import Checked

log = logging.getLogger(__name__)

T = TypeVar("T")
STORE_RETRY_SECONDS = 15.0  # a poll the store refused is tried again this soon


class AccountPolls:
    def _store_refused(self, account_id: int, exc: Exception) -> None:
        """The store refused a poll's commit (SQLite locked, a full disk, PostgreSQL gone):
        say so on the account, and poll it again in a sweep tick, not at its next push
        (this one is spent; the mail state did not advance, so the mail is found again)."""
        faults_of(self.engine).on_account(account_id, exc)

        def again() -> None:
            if not self._closed and account_id in self._due:
                self.request_poll(account_id)

        self._loop.call_later(STORE_RETRY_SECONDS, again)

    async def _poll_once(self, account: Account, with_quota: bool) -> int:
        if account.protocol == Protocol.POP3:
            return await self._poll_pop3(account)
        return await self._poll_imap(account, with_quota)

    async def _poll_imap(self, account: Account, with_quota: bool) -> int:
        cfg = await self.credentials(account)
        states = await asyncio.to_thread(repo.folder_states, self.engine, account.id)
        quota_due = with_quota or self.quota.due(account.id)
        plan = await self.two_way.plan(account)  # None: actions off, nothing to follow

        polled: list[PollResult] = []  # the work's result, for `stale` right after it
        checked: list[Checked] = []

        def work(client: IMAPClient) -> tuple[PollResult, QuotaReport | None]:
            result = imap.poll(client, states)
            polled.append(result)
            if plan is not None:  # on the same connection, right after the poll
                checked.append(two_way.check(client, plan, result))
            moved = result.messages or any(f.reset for f in result.folders)
            if not (quota_due or moved):
                return result, None
            try:
                return result, imap_quota.quota(client)
            except MailError as exc:  # quota is extra information: it must not fail the poll
                log.info("quota of account %s unreadable: %s", account.id, exc.kind)
                return result, None

        def stale(selected: dict) -> bool:
            inbox = next((f.state for f in polled[-1].folders if f.folder == "INBOX"), None)
            return inbox is not None and imap.shows_more(selected, inbox)

        # Read now, on the loop where /mail pause and remove unschedule: a close() from
        # them before this poll's checkout still drops its session afterwards.
        if account.id in self._due:
            generation = self.sessions.generation(account.id)
            result, report = await self.slots.in_thread(
                self.sessions.run,
                account.id,
                cfg,
                work,
                "INBOX" if self.pushable(account) else None,
                stale,
                generation,
            )
        else:  # a paused account (/mail check): no connection is kept for it
            allow = self.settings.allow_private_hosts
            result, report = await self.slots.in_thread(imap.once, cfg, allow, work)
        if any(f.reset for f in result.folders) and not self.rebaselines.allow(account.id):
            await self._pause_for_churn(account)  # nothing stored: resume starts from here
            raise ChurnPausedError(f"`{account.name}` is paused: {self.rebaselines.reason()}")
        tracks = None
        if plan is not None and checked:
            if await self.two_way.store(account, plan, checked[-1]):
                self._on_queued()  # alert edits
            tracks = two_way.tracks(plan, checked[-1], result)
        announced, public = await self.announce.imap(account, result, states, tracks)
        if report is not None:
            self.quota.was_read(account.id)
            await self.quota.check(account, report, account.id in self._due)
            self.boards.quota_read(account.id, report)
        self._seen[account.id] = {
            f.folder: FolderCounts(f.state, f.messages_total, f.unseen) for f in result.folders
        }
        self.boards.polled(account.id, public)
        return announced

    async def on_session(self, account: Account, work: Callable[[IMAPClient], T]) -> T:
        """Run `work` (blocking) on the account's one IMAP connection, e.g. for /mail
        folders and /mail quota, instead of opening a second one."""
        if account.id is None:
            raise ValueError("only a stored account has a session")
        cfg = await self.credentials(account)
        if account.id not in self._due:  # paused: no connection is kept for it
            allow = self.settings.allow_private_hosts
            return await self.slots.in_thread(imap.once, cfg, allow, work)
        idle = "INBOX" if self.pushable(account) else None
        generation = self.sessions.generation(account.id)  # a pause while waiting drops it
        known = self._seen.get(account.id, {}).get("INBOX")

        def stale(selected: dict) -> bool:
            return known is None or imap.shows_more(selected, known.state)

        async with self._locks[account.id]:
            return await self.slots.in_thread(
                self.sessions.run, account.id, cfg, work, idle, stale, generation
            )

    async def _poll_pop3(self, account: Account) -> int:
        """Download into the archive (committed before any DELE), then queue what is stored
        but not yet announced, marking it announced in the same transaction."""
        cfg = await self.credentials(account)
        self.sessions.logins.take(account.id, cfg.host)  # each POP3 poll is one login
        result = await self.slots.in_thread(
            download,
            self.engine,
            account.id,
            cfg,
            archive.Retention.parse(account.retention),
            self.settings.allow_private_hosts,
        )
        announced = await self.announce.pop3(account)
        self.boards.pop3_polled(account.id, result.count, result.size_bytes)
        if account.mailbox_limit_mb:
            limit = QuotaResource(
                "STORAGE", result.size_bytes // 1024, account.mailbox_limit_mb * 1024
            )
            report = QuotaReport(True, (QuotaRoot("mailbox", (limit,)),))
            await self.quota.check(account, report, account.id in self._due)
        return announced
