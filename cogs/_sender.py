"""Drains the alert outbox into Discord, in order per channel, under Discord's limits.

discord.py already waits out 429s; this adds what it leaves to the caller: retries of
5xx and network failures with backoff, a stop (not a retry loop) on a channel Discord
refuses with 403/404, and pacing of about 5 messages per 5 s per channel. Each alert is
sent with its row id as the nonce (discord.py sets enforce_nonce), so a retry after a
lost response cannot post it twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict, deque
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import discord

from storage import outbox
from storage.models import OutboxAlert, utcnow

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)

PER_CHANNEL = 5
PER_CHANNEL_WINDOW = 5.0
GLOBAL_PER_SECOND = 40  # below Discord's 50/s global bot limit
RETRY_MAX = timedelta(minutes=5)
MAX_ODD_ATTEMPTS = 5  # for failures that are not Discord's or the network's


def retry_delay(attempts: int) -> timedelta:
    return min(RETRY_MAX, timedelta(seconds=2**attempts))


class OutboxSender:
    def __init__(self, bot: MailsyncBot) -> None:
        self.bot = bot
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sent_at: defaultdict[int, deque[float]] = defaultdict(deque)
        self._global: deque[float] = deque()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mailsync-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            self._wake.clear()
            try:
                await self._drain()
            except Exception:
                log.exception("outbox pass failed; retrying shortly")
                await asyncio.sleep(5)
                continue
            upcoming = await asyncio.to_thread(outbox.next_due_at, self.bot.engine)
            timeout = 60.0
            if upcoming is not None:
                timeout = min(timeout, max(0.05, (upcoming - utcnow()).total_seconds()))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel that
            # lands just after a poke, and stop() would then wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _drain(self) -> None:
        while True:
            rows = await asyncio.to_thread(outbox.due, self.bot.engine, utcnow())
            if not rows:
                return
            held: set[int] = set()  # channels waiting on a retry keep their order
            for row in rows:
                if row.channel_id in held:
                    continue
                if not await self._deliver(row):
                    held.add(row.channel_id)
            if held:
                return

    async def _pace(self, channel_id: int) -> None:
        recent = self._sent_at[channel_id]
        while True:
            now = time.monotonic()
            while recent and now - recent[0] > PER_CHANNEL_WINDOW:
                recent.popleft()
            while self._global and now - self._global[0] > 1.0:
                self._global.popleft()
            wait = 0.0
            if len(recent) >= PER_CHANNEL:
                wait = recent[0] + PER_CHANNEL_WINDOW - now
            if len(self._global) >= GLOBAL_PER_SECOND:
                wait = max(wait, self._global[0] + 1.0 - now)
            if wait <= 0:
                recent.append(now)
                self._global.append(now)
                return
            await asyncio.sleep(wait)

    async def _deliver(self, row: OutboxAlert) -> bool:
        """True when the row is settled (sent, or its channel marked broken)."""
        engine = self.bot.engine
        payload = json.loads(row.payload)
        role = payload.get("role")
        mentions = (
            discord.AllowedMentions(
                everyone=False, users=False, roles=[discord.Object(id=role)], replied_user=False
            )
            if role
            else discord.AllowedMentions.none()
        )
        try:
            channel = self.bot.get_channel(row.channel_id) or await self.bot.fetch_channel(
                row.channel_id
            )
            await self._pace(row.channel_id)
            await channel.send(  # type: ignore[union-attr]
                content=f"<@&{role}>" if role else None,
                embed=discord.Embed.from_dict(payload["embed"]),
                allowed_mentions=mentions,
                nonce=f"ms{row.id}",
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            reason = f"Discord refused posting in <#{row.channel_id}> ({exc.status})"
            log.warning("account %s: %s; pausing its alerts", row.account_id, reason)
            await asyncio.to_thread(outbox.mark_channel_broken, engine, row.account_id, reason)
            return True
        except discord.HTTPException as exc:
            if exc.status == 429 or exc.status >= 500:
                await asyncio.to_thread(outbox.postpone, engine, row.id, retry_delay(row.attempts))
                return False
            log.error("alert %s rejected by Discord (%s); dropping it", row.id, exc.status)
        except (aiohttp.ClientError, OSError, TimeoutError):
            await asyncio.to_thread(outbox.postpone, engine, row.id, retry_delay(row.attempts))
            return False
        except Exception:
            # A bad row must not hold every channel's queue: retry a few times, then drop it.
            if row.attempts + 1 < MAX_ODD_ATTEMPTS:
                log.exception("alert %s failed unexpectedly; will retry", row.id)
                await asyncio.to_thread(outbox.postpone, engine, row.id, retry_delay(row.attempts))
                return False
            log.exception("alert %s failed %d times; dropping it", row.id, MAX_ODD_ATTEMPTS)
        await asyncio.to_thread(outbox.mark_sent, engine, row.id)
        return True
