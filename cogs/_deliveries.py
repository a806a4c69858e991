"""What the outbox sender does with each kind of row. The sender (cogs/_sender.py) owns
order, pacing, the outage rule and retries; a Delivery does the Discord call(s) of one
kind, says what a refusal (403/404) means for it, and settles a sent row. A new kind is
a class here and one entry in KINDS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import discord

from cogs._alert_buttons import alert_embed, alert_view, view_of_post
from cogs._reply_buttons import with_buttons
from cogs._threads import Threads
from i18n import ENGLISH, translator
from storage import boards, live_alerts, outbox, thread_links
from storage.models import OutboxAlert

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)

Pace = Callable[[int], Awaitable[None]]  # wait for the channel's next send slot
UNKNOWN_MESSAGE = 10008  # Discord's code for a 404 on a deleted message


def _mentions(role: int | None) -> discord.AllowedMentions:
    if not role:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(id=role)], replied_user=False
    )


class Delivery(Protocol):
    async def send(
        self, bot: MailsyncBot, channel: Any, row: OutboxAlert, payload: dict[str, Any], pace: Pace
    ) -> int | None:
        """The Discord call(s); returns the message posted or edited. Raises discord's
        exceptions for the sender to judge (5xx: outage; 429: hold; 403/404: refused)."""
        ...

    async def refused(self, bot: MailsyncBot, row: OutboxAlert, exc: discord.HTTPException) -> None:
        """Discord refuses the channel for good (403, or 404 for the channel): hold the
        row (its channel marked broken) or settle it."""
        ...

    async def settle(self, bot: MailsyncBot, row: OutboxAlert, message_id: int | None) -> None:
        """Mark the row sent with its message id, in one transaction with what depends on it."""
        ...


class Post:
    """A new message: alerts and notices. The row's nonce goes with every try (Discord
    dedupes it; storage/models.py says why it is not the row id).
    A threaded alert or any post in a forum goes through cogs/_threads.py."""

    def __init__(self) -> None:
        self.threads = Threads()

    async def send(
        self, bot: MailsyncBot, channel: Any, row: OutboxAlert, payload: dict[str, Any], pace: Pace
    ) -> int | None:
        role = payload.get("role")
        message: dict[str, Any] = {
            "content": f"<@&{role}>" if role else None,
            "embed": discord.Embed.from_dict(payload["embed"]),
            "allowed_mentions": _mentions(role),
            "nonce": row.nonce,
        }
        if payload.get("actions"):  # a live alert's buttons, in a thread or a post too
            message["view"] = await view_of_post(bot, row.id)  # type: ignore[arg-type]
        if payload.get("view"):  # Reply / Reply all, or Resend / Discard (SPEC section 13)
            guild = getattr(channel, "guild", None)  # labels in the guild's language now
            t = translator(bot.languages(guild.id)) if guild is not None else ENGLISH
            message["view"] = with_buttons(message.get("view"), payload["view"], row.id, t)  # type: ignore[arg-type]
        if "thread" in payload or isinstance(channel, discord.ForumChannel):
            return await self.threads.send(bot, channel, row, payload, message, pace)
        sent = await channel.send(**message)
        return sent.id

    async def refused(self, bot: MailsyncBot, row: OutboxAlert, exc: discord.HTTPException) -> None:
        """The row waits, with every alert of its channel, until /mail edit channel: (or,
        for a routing rule's own channel, with only that rule's alerts)."""
        reason = f"Discord refused posting in <#{row.channel_id}> ({exc.status})"
        if row.rule_id is not None:
            log.warning("rule %s: %s; holding its alerts", row.rule_id, reason)
            await asyncio.to_thread(
                outbox.mark_rule_channel_broken, bot.engine, row.rule_id, reason
            )
            return
        log.warning("account %s: %s; pausing its alerts", row.account_id, reason)
        await asyncio.to_thread(
            outbox.mark_channel_broken, bot.engine, row.account_id, reason, row.channel_id
        )

    async def settle(self, bot: MailsyncBot, row: OutboxAlert, message_id: int | None) -> None:
        threaded = self.threads.take(row.id)
        if threaded is not None and message_id is not None:  # its Message-IDs linked with it
            refs, placed = threaded
            await asyncio.to_thread(
                thread_links.mark_sent, bot.engine, row, message_id, refs, placed
            )
        else:  # the channel it went to: the row in hand, not one a later edit moved it to
            await asyncio.to_thread(
                outbox.mark_sent,
                bot.engine,
                row.id,  # type: ignore[arg-type]
                message_id,
                row.channel_id,
            )
        bot.metrics.alerts_sent.inc()


class BoardEdit:
    """An account's status board: edit its message, or post one when it has none or the
    message was deleted (a 404 Unknown Message on the edit); the new id is stored."""

    async def send(
        self, bot: MailsyncBot, channel: Any, row: OutboxAlert, payload: dict[str, Any], pace: Pace
    ) -> int | None:
        board = await asyncio.to_thread(boards.get, bot.engine, row.account_id)
        if board is None or board.channel_id != row.channel_id:
            return None  # removed or moved meanwhile: nothing to show here
        embed = discord.Embed.from_dict(payload["embed"])
        none = discord.AllowedMentions.none()
        if board.message_id is not None:
            try:
                await channel.get_partial_message(board.message_id).edit(
                    embed=embed, allowed_mentions=none
                )
                return board.message_id
            except discord.NotFound as exc:
                if exc.code != UNKNOWN_MESSAGE:
                    raise  # the channel itself is gone: refused
                log.info("board of account %s was deleted; posting it again", row.account_id)
            await pace(row.channel_id)
        message = await channel.send(embed=embed, allowed_mentions=none, nonce=row.nonce)
        return message.id

    async def refused(self, bot: MailsyncBot, row: OutboxAlert, exc: discord.HTTPException) -> None:
        reason = f"Discord refused the board in <#{row.channel_id}> ({exc.status})"
        log.warning("account %s: %s; the board stops", row.account_id, reason)
        await asyncio.to_thread(boards.mark_broken, bot.engine, row.account_id, reason)
        await asyncio.to_thread(outbox.mark_sent, bot.engine, row.id)  # type: ignore[arg-type]
        bot.get_cog("Alerts").watcher.boards.discard(row.account_id)  # type: ignore[union-attr]

    async def settle(self, bot: MailsyncBot, row: OutboxAlert, message_id: int | None) -> None:
        kept = await asyncio.to_thread(
            boards.settle,
            bot.engine,
            row.id,  # type: ignore[arg-type]
            row.account_id,
            message_id,
            row.payload,  # as sent: newer content queued meanwhile keeps the row waiting
        )
        if not kept and message_id is not None:  # the board ended while this was sent
            with contextlib.suppress(discord.HTTPException):
                await bot.http.delete_message(row.channel_id, message_id)


class AlertEdit:
    """A live alert changed (SPEC section 8): edit its message with the state as it is
    now (several changes while this waited make one edit). Deleted in Discord (404 Unknown
    Message): the alert is forgotten, without a retry. Never holds a channel's alerts."""

    async def send(
        self, bot: MailsyncBot, channel: Any, row: OutboxAlert, payload: dict[str, Any], pace: Pace
    ) -> int | None:
        found = await asyncio.to_thread(live_alerts.for_edit, bot.engine, int(payload["alert"]))
        if found is None:
            return None  # dropped (older than 7 days, beyond 500, account removed)
        live, account, embed = found
        if live.message_id is None:
            return None  # its post never went out: it shows the state when it does
        # Where the message is now (a thread, a forum post, the channel it was sent to),
        # not where it was when this edit was queued: the post may have waited meanwhile.
        where = bot.get_partial_messageable(live.channel_id)
        try:
            t = translator(bot.languages(account.guild_id))  # the guild's language now
            await where.get_partial_message(live.message_id).edit(
                embed=alert_embed(embed, live, t),
                view=alert_view(account, live, t),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_MESSAGE:
                raise  # the channel itself is gone: refused
            log.info("an alert of account %s was deleted in Discord", row.account_id)
            await asyncio.to_thread(live_alerts.forget, bot.engine, live.id)  # type: ignore[arg-type]
            return None
        return live.message_id

    async def refused(self, bot: MailsyncBot, row: OutboxAlert, exc: discord.HTTPException) -> None:
        await asyncio.to_thread(outbox.mark_sent, bot.engine, row.id)  # type: ignore[arg-type]

    async def settle(self, bot: MailsyncBot, row: OutboxAlert, message_id: int | None) -> None:
        await asyncio.to_thread(outbox.mark_sent, bot.engine, row.id, message_id)  # type: ignore[arg-type]


KINDS: dict[str, Delivery] = {"post": Post(), "board": BoardEdit(), "edit": AlertEdit()}
