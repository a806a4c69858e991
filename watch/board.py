"""Keeps status boards current (SPEC section 9), driven by the engine's events.

The engine calls `touch` when something a board shows may have moved: a poll or sweep
answered, quota was read, a poll failed, an account was paused or resumed. Accounts
without a board cost a set lookup. For a board, one task per account gathers the data
(in memory: folder counts from the last STATUS, quota, newest mail, the schedule; in the
store: health, archive totals), asks the renderer for the embed and queues an edit only
when the embed's hash differs from the last one queued, and never sooner than
`min_interval` after the last edit. Events during that wait fold into one refresh."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from mail import imap
from mail.errors import MailError
from mail.quota import QuotaReport, QuotaResource, QuotaRoot
from mail.types import NewMessage, Protocol
from storage import boards
from storage.models import Account
from watch import routed, routing
from watch.board_data import BoardData, FolderLine, Health, Newest, Pop3Box, to_minute
from watch.render import Renderer

if TYPE_CHECKING:
    from watch.engine import Watcher

log = logging.getLogger(__name__)

MIN_INTERVAL = 60.0  # seconds between two edits of one board


def content_hash(embed: dict) -> str:
    return hashlib.sha256(json.dumps(embed, sort_keys=True).encode()).hexdigest()


def _newest_of(messages: list[NewMessage]) -> Newest | None:
    if not messages:
        return None
    m = max(messages, key=lambda m: (m.date.timestamp() if m.date else 0.0, m.uid))
    return Newest(m.folder, m.sender, m.subject, m.date)


class BoardWatch:
    def __init__(
        self, watcher: Watcher, engine: Engine, render: Renderer, on_queued: Callable[[], None]
    ) -> None:
        self._watcher = watcher
        self._engine = engine
        self._render = render
        self._on_queued = on_queued
        self.min_interval = MIN_INTERVAL  # an attribute so tests can scale it down
        self._boards: set[int] = set()  # accounts with a live board
        self._edited: dict[int, float] = {}  # account -> monotonic time of the last edit
        self._dirty: set[int] = set()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._quota: dict[int, QuotaReport] = {}
        self._newest: dict[int, Newest | None] = {}  # absent: unknown since the start
        self._stat: dict[int, tuple[int, int]] = {}  # POP3: count, size at the last STAT
        self.refreshes: Counter[int] = Counter()  # refreshes done per board (tests, debugging)

    async def start(self) -> None:
        live = await asyncio.to_thread(boards.live, self._engine, self._watcher.settings.shards)
        now_wall, now = datetime.now(UTC), time.monotonic()
        for account_id, edited_at in live.items():
            self._boards.add(account_id)
            if edited_at is not None:
                if edited_at.tzinfo is None:  # SQLite hands back naive UTC
                    edited_at = edited_at.replace(tzinfo=UTC)
                self._edited[account_id] = now - (now_wall - edited_at).total_seconds()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- what the engine reports

    # Remembered for accounts with a board only (memory per watched account stays small);
    # the engine touches the board once the poll's health is written.

    def polled(self, account_id: int, messages: list[NewMessage]) -> None:
        newest = _newest_of(messages)
        if newest is not None and account_id in self._boards:
            self._newest[account_id] = newest

    def quota_read(self, account_id: int, report: QuotaReport) -> None:
        if account_id in self._boards:
            self._quota[account_id] = report

    def pop3_polled(self, account_id: int, count: int, size_bytes: int) -> None:
        if account_id in self._boards:
            self._stat[account_id] = (count, size_bytes)

    # -- boards coming and going (/mail board)

    def add(self, account_id: int) -> None:
        """A new or restarted board: refresh at once."""
        self._stop(account_id)  # a refresh waiting for the interval starts over now
        self._edited.pop(account_id, None)
        self._boards.add(account_id)
        self.touch(account_id)

    def discard(self, account_id: int) -> None:
        """The board ended: no refresh from now on (one queued meanwhile finds no board)."""
        self._stop(account_id)
        self._boards.discard(account_id)
        for memory in (self._edited, self._quota, self._newest, self._stat):
            memory.pop(account_id, None)

    def _stop(self, account_id: int) -> None:
        self._dirty.discard(account_id)
        task = self._tasks.pop(account_id, None)
        if task is not None:
            task.cancel()

    def busy(self, account_id: int) -> bool:
        """A refresh of the account's board runs or waits."""
        return account_id in self._tasks

    def touch(self, account_id: int) -> None:
        if account_id not in self._boards:
            return
        self._dirty.add(account_id)
        if account_id not in self._tasks:
            task = asyncio.create_task(self._run(account_id), name=f"board-{account_id}")
            self._tasks[account_id] = task

    async def _run(self, account_id: int) -> None:
        try:
            while account_id in self._dirty:
                last = self._edited.get(account_id, -math.inf)
                wait = last + self.min_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # the minimum interval between edits
                self._dirty.discard(account_id)
                try:
                    await self._refresh(account_id)
                except Exception:
                    log.exception("board of account %s: refresh failed", account_id)
        finally:
            if self._tasks.get(account_id) is asyncio.current_task():
                self._tasks.pop(account_id, None)

    async def _refresh(self, account_id: int) -> None:
        facts = await asyncio.to_thread(boards.facts, self._engine, account_id)
        if facts is None or facts.board.broken is not None or account_id not in self._boards:
            self._boards.discard(account_id)
            return
        if facts.account.protocol == Protocol.IMAP and account_id not in self._newest:
            await self._look_up_newest(facts.account)
        hide_pop3_newest = False
        if facts.account.protocol == Protocol.POP3:  # the archive's newest has no To/Cc
            rules = await asyncio.to_thread(routed.load_rules, self._engine, account_id)
            hide_pop3_newest = routing.keeps_mail_elsewhere(rules, facts.account)
        data = self._data(facts, hide_pop3_newest)
        # the guild's language now: a changed language changes the hash, so the board is edited
        embed = self._render.board(data, guild_id=facts.account.guild_id)
        digest = content_hash(embed)
        self.refreshes[account_id] += 1
        if digest == facts.board.content_hash:
            return
        queued = await asyncio.to_thread(boards.queue, self._engine, account_id, embed, digest)
        if queued:
            self._edited[account_id] = time.monotonic()
            self._on_queued()

    async def _look_up_newest(self, account: Account) -> None:
        """Once per start: the newest message of the first watched folder, on the
        account's own connection (a paused account keeps none: left unknown)."""
        if not self._watcher.scheduled(account.id):
            return
        folder = account.folder_list[0] if account.folder_list else "INBOX"
        try:
            found = await self._watcher.on_session(account, lambda c: imap.newest(c, folder))
        except MailError as exc:
            log.info("board of account %s: newest mail unreadable: %s", account.id, exc.kind)
            found = None
        if found is not None:  # muted or routed elsewhere by a rule: not on this board
            rules = await asyncio.to_thread(routed.load_rules, self._engine, account.id)
            found = next(iter(routing.public([found], rules, account)), None)
        if account.id not in self._newest:  # a poll may have brought newer mail meanwhile
            self._newest[account.id] = _newest_of([found] if found else [])

    def _data(self, facts: boards.BoardFacts, hide_pop3_newest: bool = False) -> BoardData:
        account, health = facts.account, facts.health
        account_id = account.id or 0
        failures = health.consecutive_failures if health else 0
        if account.paused:
            state = Health.PAUSED
        elif account.needs_reauth:
            state = Health.REAUTH
        elif failures:
            state = Health.FAILING
        else:
            state = Health.OK
        pushed = self._watcher.pushed(account_id)
        only_pushed = pushed and account.folder_list == ["INBOX"]
        next_check = None if only_pushed else self._watcher.next_check_at(account_id)
        common = {
            "account_name": account.name,
            "protocol": account.protocol,
            "privacy": account.privacy,
            "health": state,
            "failures": failures,
            # as raised when this process saw it (shown in the guild's language), else stored
            "last_error": (
                self._watcher.poll_health.last_error.get(account_id, health.last_error)
                if health and failures
                else None
            ),
            "alerts_held": account.channel_broken,
            "pushed": pushed,
            "interval_minutes": account.interval_minutes,
            "next_check": to_minute(next_check),
            "newest": self._newest.get(account_id),
        }
        if account.protocol == Protocol.POP3:
            stat = self._stat.get(account_id)
            archive = facts.archive or boards.ArchiveTotals(0, 0, None)
            # The archive always knows the newest downloaded message.
            # Unless rules mute mail or send it elsewhere: the archive row cannot tell.
            shown = archive.newest and not hide_pop3_newest
            common["newest"] = Newest("INBOX", *archive.newest) if shown else None
            box = Pop3Box(
                stat[0] if stat else None,
                stat[1] if stat else None,
                archive.count,
                archive.size_bytes,
                account.mailbox_limit_mb,
            )
            return BoardData(**common, pop3=box)
        counts = self._watcher.folder_counts(account_id)
        folders = tuple(
            FolderLine(f, counts[f].messages, counts[f].unseen)
            if f in counts
            else FolderLine(f, None, None)
            for f in account.folder_list
        )
        quota = self._quota.get(account_id)
        if quota is None and facts.quota is not None:  # the last stored reading
            sample = QuotaResource("STORAGE", facts.quota.usage, facts.quota.limit)
            quota = QuotaReport(True, (QuotaRoot("", (sample,)),))
        return BoardData(**common, folders=folders, quota=quota)
