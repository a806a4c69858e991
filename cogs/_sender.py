"""Drains the alert outbox into Discord, in order per channel, under Discord's limits.

discord.py already waits out 429s (honouring `retry_after` and the route's bucket); this
adds what it leaves to the caller:
- an outage rule: a 5xx or a network failure stops all sending. While Discord is down,
  one probe at a time for the whole bot (the oldest due alert, sent for real) tests it,
  every 1 s, 2 s, 4 s ... up to 30 s apart; the first probe that goes through ends the
  outage and every held alert flows at once, in order per channel. So held alerts start
  within 30 s of Discord answering again, whatever the outage's length, and a long
  outage costs Discord two requests a minute, not one per alert or channel;
- a 429 that discord.py gave up on holds only that channel, briefly;
- a stop (not a retry loop) on a channel Discord refuses with 403/404;
- channels sent concurrently, each in its own lane (one row after another, so order
  within a channel holds), paced at about 5 messages per 5 s per channel, and every
  request of the bot spaced under Discord's global limit (cogs/_pacing.py): a backlog
  across hundreds of channels leaves at the global limit, not at one request's latency.
Each alert is sent with its row's own nonce (discord.py sets enforce_nonce), so a retry
after a lost response cannot post it twice. What a row does (post an alert, edit a status
board) depends on its kind: cogs/_deliveries.py."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import json
import logging
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import discord

from cogs._deliveries import KINDS
from cogs._pacing import ChannelPacer, GlobalPacer, pace_requests
from storage import outbox
from storage.models import OutboxAlert, utcnow
from storage.shards import ALL_SHARDS, ShardSet

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)

BATCH = 500  # rows read per look at the outbox
PROBE_FIRST = 1.0  # seconds before the first probe of an outage
PROBE_MAX = 30.0  # the longest wait between probes: held alerts flow within this
RETRY_MAX = timedelta(seconds=30)  # a rate-limited channel or an odd failure
MAX_ODD_ATTEMPTS = 5  # for failures that are not Discord's or the network's


def retry_delay(attempts: int) -> timedelta:
    return min(RETRY_MAX, timedelta(seconds=2**attempts))


# Set inside a lane's task: its requests stop at the global pacer once an outage began.
_IN_LANE: contextvars.ContextVar[bool] = contextvars.ContextVar("outbox_lane", default=False)


class _OutageBegan(Exception):
    """A lane's request was not sent: another lane met the outage while it waited."""


class Outcome(enum.Enum):
    SETTLED = "settled"  # sent, dropped, or its channel marked broken
    HELD = "held"  # this channel waits (a 429 discord.py gave up on, an odd failure)
    DOWN = "down"  # Discord or the network failed: an outage for the whole bot


class OutboxSender:
    def __init__(self, bot: MailsyncBot, shards: ShardSet = ALL_SHARDS) -> None:
        self.bot = bot
        self.shards = shards  # only alerts of these shards' accounts: others have a sender
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.pacer = GlobalPacer()  # every REST request of the bot, once start() ran
        self.channels = ChannelPacer()
        # Outage state: None while Discord answers, else the wait before the next probe.
        # Instance attributes so tests can scale them (an outage of minutes in seconds).
        self.probe_first = PROBE_FIRST
        self.probe_max = PROBE_MAX
        self.probe_wait: float | None = None

    def start(self) -> None:
        pace_requests(self.bot.http, self.pacer, self._gate)
        self._task = asyncio.create_task(self._run(), name="mailsync-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        self._wake.set()

    @property
    def in_outage(self) -> bool:
        return self.probe_wait is not None

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            self._wake.clear()
            try:
                if self.probe_wait is not None:
                    await self._probe()
                # The usual minute of a quiet bot: nothing waits, one indexed lookup says so.
                unsent = await asyncio.to_thread(outbox.any_unsent, self.bot.engine)
                if self.probe_wait is None and unsent:
                    await self._drain()
            except Exception:
                log.exception("outbox pass failed; retrying shortly")
                await asyncio.sleep(5)
                continue
            if self.probe_wait is not None:
                continue  # pokes do not matter while Discord is down: the probe decides
            upcoming = (
                await asyncio.to_thread(outbox.next_due_at, self.bot.engine, self.shards)
                if unsent
                else None
            )
            timeout = 60.0
            if upcoming is not None:
                timeout = min(timeout, max(0.05, (upcoming - utcnow()).total_seconds()))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel that
            # lands just after a poke, and stop() would then wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _outage_began(self) -> None:
        if self.probe_wait is None:
            log.warning("Discord is not answering; holding alerts and probing until it does")
            self.probe_wait = self.probe_first

    async def _probe(self) -> None:
        """One request for the whole bot: the oldest due alert. Success ends the outage."""
        wait = self.probe_wait or self.probe_first
        await asyncio.sleep(wait)
        rows = await asyncio.to_thread(outbox.due, self.bot.engine, utcnow(), 1, self.shards)
        outcome = await self._deliver(rows[0]) if rows else Outcome.SETTLED
        if outcome is Outcome.DOWN:
            self.probe_wait = min(self.probe_max, wait * 2)
            return
        log.info("Discord answers again; sending held alerts")
        self.probe_wait = None

    def _gate(self) -> None:
        """Called by the global pacer just before a request leaves: a lane's request does
        not leave once Discord is down (the probe's does; it is not a lane)."""
        if _IN_LANE.get() and self.in_outage:
            raise _OutageBegan

    async def _drain(self) -> None:
        """Every due row, each channel in a lane of its own and all lanes at once; the
        outbox is read again whenever a lane ends or an alert is queued, skipping the
        channels whose lane runs (so one channel never has two lanes)."""
        lanes: dict[int, asyncio.Task[None]] = {}
        try:
            while True:
                self._wake.clear()  # a poke from here on reads the outbox again
                busy = frozenset(lanes)
                rows = await asyncio.to_thread(
                    outbox.due, self.bot.engine, utcnow(), BATCH, self.shards, busy
                )
                for channel_id, queue in _by_channel(rows).items():
                    lanes[channel_id] = asyncio.create_task(self._lane(queue))
                if not lanes:
                    return
                poked = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait([*lanes.values(), poked], return_when=asyncio.FIRST_COMPLETED)
                poked.cancel()
                for channel_id in [c for c, task in lanes.items() if task.done()]:
                    lanes.pop(channel_id).result()  # a lane handles its failures itself
                if self.in_outage:  # lanes stop at their next request; the probe decides
                    await asyncio.gather(*lanes.values())
                    return
        finally:
            for task in lanes.values():  # stop() cancelled the drain
                task.cancel()
            self.channels.forget_idle()

    async def _lane(self, rows: list[OutboxAlert]) -> None:
        """One channel's rows, in order, one at a time; stops at a row its channel must
        wait on (the rows behind it wait too) and at an outage."""
        _IN_LANE.set(True)  # this task's own context: the probe and others are not lanes
        for row in rows:
            if self.in_outage:
                return
            outcome = await self._deliver(row)
            if outcome is Outcome.DOWN:
                self._outage_began()
                return
            if outcome is Outcome.HELD:
                return

    async def _pace(self, channel_id: int) -> None:
        await self.channels.pace(channel_id)

    async def _deliver(self, row: OutboxAlert) -> Outcome:
        engine = self.bot.engine
        kind = KINDS.get(row.kind)
        if kind is None:
            log.error("outbox row %s has unknown kind %r; dropping it", row.id, row.kind)
            await asyncio.to_thread(outbox.mark_sent, engine, row.id)
            return Outcome.SETTLED
        try:
            channel = self.bot.get_channel(row.channel_id) or await self.bot.fetch_channel(
                row.channel_id
            )
            await self._pace(row.channel_id)
            if not await asyncio.to_thread(outbox.still_waiting, engine, row.id, row.channel_id):
                self.channels.unpace(row.channel_id)  # removed or moved while paced: read it again
                return Outcome.SETTLED
            try:
                message_id = await kind.send(
                    self.bot, channel, row, json.loads(row.payload), self._pace
                )
            except BaseException:
                self.channels.unpace(row.channel_id)  # only sends Discord took count towards pacing
                raise
        except _OutageBegan:
            return Outcome.DOWN  # not sent: it waits for the probe with the others
        except (discord.Forbidden, discord.NotFound) as exc:
            await kind.refused(self.bot, row, exc)  # held or dropped: the kind decides
            return Outcome.SETTLED
        except discord.HTTPException as exc:
            if exc.status >= 500:
                return Outcome.DOWN
            if exc.status == 429:  # discord.py waited and retried already; this channel waits
                await asyncio.to_thread(outbox.postpone, engine, row.id, retry_delay(row.attempts))
                return Outcome.HELD
            log.error("alert %s rejected by Discord (%s); dropping it", row.id, exc.status)
        except (aiohttp.ClientError, OSError, TimeoutError):
            return Outcome.DOWN
        except Exception:
            # A bad row must not hold every channel's queue: retry a few times, then drop it.
            if row.attempts + 1 < MAX_ODD_ATTEMPTS:
                log.exception("alert %s failed unexpectedly; will retry", row.id)
                await asyncio.to_thread(outbox.postpone, engine, row.id, retry_delay(row.attempts))
                return Outcome.HELD
            log.exception("alert %s failed %d times; dropping it", row.id, MAX_ODD_ATTEMPTS)
        else:
            await kind.settle(self.bot, row, message_id)
            return Outcome.SETTLED
        await asyncio.to_thread(outbox.mark_sent, engine, row.id)  # dropped: no message
        return Outcome.SETTLED


def _by_channel(rows: list[OutboxAlert]) -> dict[int, list[OutboxAlert]]:
    """The rows of each channel, in the order read (oldest first)."""
    lanes: defaultdict[int, list[OutboxAlert]] = defaultdict(list)
    for row in rows:
        lanes[row.channel_id].append(row)
    return lanes
