"""Threaded alerts (`threads: on`, SPEC section 8) and every post in a forum channel.

Post (cogs/_deliveries.py) hands a row here when its payload has a "thread" entry
(watch/conversations.py) or its channel is a forum; Post builds the message itself (embed,
mentions locked down, nonce), so every path sends the same thing.

- A reply, i.e. a parent linked in this channel by this account (storage/thread_links.py),
  resolved now, at send time: in a text channel it goes into the thread on the
  conversation's first alert, which the first reply starts, named with the conversation's
  title (Discord's 160004, "a thread exists for this message", means it is there: a thread
  started from a message has the message's id); in a forum, into the conversation's post.
- A new conversation: a plain message in a text channel; in a forum, a new post titled
  with the entry's title.
- The thread or the first alert is gone (404) or refused (403, an archived or locked
  thread): the reply starts the conversation afresh in the channel, the log says so, and
  the conversation's links move to it.
- A row without an entry in a forum (a burst digest, a notice) is a post of its own,
  titled with its embed's title.

Forum posts carry no nonce (Discord's create-thread route takes none), so a response
lost in flight followed by a retry may post one twice; messages are deduped as ever."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from i18n import ENGLISH, translator
from storage import thread_links
from storage.models import OutboxAlert, ThreadLink
from storage.thread_links import Placed
from watch.conversations import clean_title

if TYPE_CHECKING:
    from bot import MailsyncBot
    from cogs._deliveries import Pace

log = logging.getLogger(__name__)

ARCHIVE_MINUTES = 10080  # a thread Mailsync starts stays in the list a week after its last post
THREAD_EXISTS = 160004
REFUSED_IN_THREAD = (50083, 160005)  # the thread is archived and locked; the thread is locked
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _gone(exc: discord.HTTPException) -> bool:
    return exc.status in (403, 404) or exc.code in REFUSED_IN_THREAD


def _embed_title(payload: dict[str, Any]) -> str:
    """A forum post's name for a row that is no single alert (digest, notice)."""
    title = (payload.get("embed") or {}).get("title") or "Mailsync"
    return clean_title(_MD_ESCAPE.sub(r"\1", title))


class Threads:
    def __init__(self) -> None:
        # Where each threaded row landed, from send() to settle() (which the sender calls
        # right after a send that returned).
        self._placed: dict[int, tuple[list[str], Placed]] = {}

    def take(self, row_id: int | None) -> tuple[list[str], Placed] | None:
        """The Message-IDs a sent row announced and where it landed; None for a row that
        is not a threaded alert."""
        return self._placed.pop(row_id, None) if row_id is not None else None

    async def send(
        self,
        bot: MailsyncBot,
        channel: Any,
        row: OutboxAlert,
        payload: dict[str, Any],
        message: dict[str, Any],
        pace: Pace,
    ) -> int:
        entry = payload.get("thread")
        title = entry["title"] if entry else _embed_title(payload)
        replaced = None
        if entry and entry.get("parents"):
            parent = await asyncio.to_thread(
                thread_links.find, bot.engine, row.account_id, row.channel_id, entry["parents"]
            )
            if parent is not None:
                placed = await self._reply(bot, channel, row, parent, message, pace)
                if placed is not None:
                    message_id, where = placed
                    self._placed[row.id] = (entry["ids"], where)  # type: ignore[index]
                    return message_id
                replaced, title = parent.root_message_id, parent.title or title
                await pace(row.channel_id)
        if isinstance(channel, discord.ForumChannel):
            post = await channel.create_thread(
                name=title,
                auto_archive_duration=ARCHIVE_MINUTES,
                **{k: v for k, v in message.items() if k != "nonce"},
            )
            message_id = post.message.id
            where = Placed(
                row.channel_id, post.thread.id, post.thread.id, title, replaced, post.thread.id
            )
        else:
            sent = await channel.send(**message)
            message_id = sent.id
            where = Placed(row.channel_id, sent.id, None, title, replaced, row.channel_id)
        if entry is not None or isinstance(channel, discord.ForumChannel):
            # A forum post lives in its thread: settle records that (for two-way edits)
            # even for a row queued without a thread entry.
            self._placed[row.id] = (entry["ids"] if entry else [], where)  # type: ignore[index]
        return message_id

    async def _reply(
        self,
        bot: MailsyncBot,
        channel: Any,
        row: OutboxAlert,
        parent: ThreadLink,
        message: dict[str, Any],
        pace: Pace,
    ) -> tuple[int, Placed] | None:
        """Post into the parent's thread (starting it on a text channel's first alert);
        None when the thread or that alert is gone or refused."""
        thread_id = parent.thread_id
        try:
            if thread_id is None:
                thread_id = await self._start(bot, channel, row, parent)
                await pace(row.channel_id)
            sent = await bot.get_partial_messageable(thread_id).send(**message)
        except discord.HTTPException as exc:
            if not _gone(exc):
                raise
            log.warning(
                "account %s: the thread of alert %s in channel %s is gone or refused (%s, "
                "code %s); posting the reply in the channel as a new conversation",
                row.account_id,
                parent.root_message_id,
                row.channel_id,
                exc.status,
                exc.code,
            )
            return None
        title = parent.title
        return sent.id, Placed(
            row.channel_id, parent.root_message_id, thread_id, title, posted_in=thread_id
        )

    async def _start(
        self, bot: MailsyncBot, channel: Any, row: OutboxAlert, parent: ThreadLink
    ) -> int:
        """A thread on the conversation's first alert, stored before anything is posted
        in it (so a retry reuses it)."""
        try:
            guild = getattr(channel, "guild", None)  # the thread name is a channel post
            t = translator(bot.languages(guild.id)) if guild is not None else ENGLISH
            thread = await channel.get_partial_message(parent.root_message_id).create_thread(
                name=parent.title or t("Conversation"), auto_archive_duration=ARCHIVE_MINUTES
            )
            thread_id = thread.id
        except discord.HTTPException as exc:
            if exc.code != THREAD_EXISTS:
                raise
            thread_id = parent.root_message_id  # started already, e.g. by a member
        await asyncio.to_thread(
            thread_links.set_thread,
            bot.engine,
            row.account_id,
            row.channel_id,
            parent.root_message_id,
            thread_id,
        )
        return thread_id
