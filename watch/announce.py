"""What a poll found, turned into outbox rows: new-mail alerts routed by the account's rules
(watch/routing.py), digest lines kept for hourly or daily delivery, written in the
transaction that advances the stored state (IMAP) or marks the archive rows announced
(POP3). The engine (watch/engine.py) polls; this decides what is posted where."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import Engine

from mail.types import FolderState, NewMessage, PollResult
from storage import archive, digest, outbox, repo
from storage.live_alerts import Track
from storage.models import Account
from storage.outbox import Alert
from watch import routed, routing
from watch.conversations import thread_entry
from watch.metrics import Metrics
from watch.render import Renderer
from watch.reply_source import reply_view

log = logging.getLogger(__name__)


class Announcer:
    """One per engine; every method runs its SQL in a thread."""

    def __init__(
        self, engine: Engine, render: Renderer, metrics: Metrics, on_queued: Callable[[], None]
    ) -> None:
        self.engine = engine
        self.render = render
        self.metrics = metrics
        self._on_queued = on_queued

    async def imap(
        self,
        account: Account,
        result: PollResult,
        states: dict[str, FolderState],
        tracks: Callable[[NewMessage], Track | None] | None = None,
    ) -> tuple[int, list[NewMessage]]:
        """Queue the poll's alerts; returns how many messages were new, and those whose
        alert or digest line goes to the account's own channel (for its status board)."""
        alerts = [
            Alert(
                self.render.folder_reset(account.name, f.folder, guild_id=account.guild_id),
                mention=False,
            )
            for f in result.folders
            if f.reset
        ]
        new = [m for f in result.folders if not f.reset for m in f.messages]
        planned = await self._route(account, new)
        alerts.extend(routing.alerts(planned, self.render, account, tracks))
        waiting = digest.rows(account.id, planned.waiting)
        changed = {f.folder: f.state for f in result.folders if f.state != states.get(f.folder)}
        if alerts or changed or waiting:
            try:
                await asyncio.to_thread(
                    outbox.enqueue_with_folder_states,
                    self.engine,
                    account,
                    alerts,
                    changed,
                    waiting,
                    states,
                )
            except repo.StateMovedError as exc:  # its writer announced this mail already
                log.warning(
                    "account %s: folder %s moved on in the store during this poll (a "
                    "shard taken over, or its folders edited); queued nothing",
                    account.id,
                    exc,
                )
                return 0, []
        if alerts:
            self.metrics.alerts_queued.inc(len(alerts))
            self._on_queued()
        mine = [ms for r, ms in planned.instant.items() if r.channel_id == account.channel_id]
        own = [m for ms in mine for m in ms]
        return len(new), [*own, *planned.waiting]

    async def pop3(self, account: Account) -> int:
        """Queue what the archive holds but has not announced, marking it announced in the
        same transaction; returns how many messages that was."""
        rules = await asyncio.to_thread(routed.load_rules, self.engine, account.id)
        try:
            if rules or account.delivery != "instant":
                queued, announced = await asyncio.to_thread(
                    routed.queue_pop3, self.engine, self.render, account, rules
                )
                self._queued(queued)
                return announced
            return await self._pop3_newest(account)
        except repo.StateMovedError as exc:  # another writer announced these meanwhile
            log.warning("account %s: %s during this poll; queued nothing", account.id, exc)
            return 0

    async def _pop3_newest(self, account: Account) -> int:
        """No rules, instant delivery: only the newest rows are read (a first download of
        thousands becomes one digest)."""
        rows, total = await asyncio.to_thread(
            archive.unannounced, self.engine, account.id, self.render.digest_lines
        )
        if rows:
            single = total <= self.render.digest_threshold
            messages = await asyncio.to_thread(archive.new_messages, self.engine, rows, single)
            if single:
                alerts = [
                    Alert(
                        self.render.new_mail(
                            account.name, m, account.privacy, guild_id=account.guild_id
                        ),
                        thread=thread_entry(account, m, self.render.translator(account.guild_id)),
                        view=reply_view(account, m),
                    )
                    for m in messages
                ]
            else:
                payload = self.render.digest(
                    account.name, messages, total, account.privacy, guild_id=account.guild_id
                )
                alerts = [Alert(payload)]
            up_to = max(r.id for r in rows)
            await asyncio.to_thread(
                outbox.enqueue_archived, self.engine, account, alerts, up_to, expected=total
            )
            self.metrics.alerts_queued.inc(len(alerts))
            self._on_queued()
        return total if rows else 0

    async def _route(self, account: Account, new: list[NewMessage]) -> routing.Plan:
        if not new:
            return routing.Plan()
        rules = await asyncio.to_thread(routed.load_rules, self.engine, account.id)
        return routing.plan(new, rules, account)

    def _queued(self, count: int) -> None:
        if count:
            self.metrics.alerts_queued.inc(count)
            self._on_queued()
