"""Threads and forum posts: a thread started from a message (its id is the message's, as on
Discord), a thread without a message in a text channel, and a forum post (a thread in a
type 15 channel with its starter message, whose id is the thread's). Threads are
channels: messages are posted into them with the usual route. Each new thread is also
announced over the gateway (THREAD_CREATE, newly_created) before the REST answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .records import RecordedRequest
from .specs import ChannelSpec, GuildSpec, _now_iso, snowflake
from .wire import _error, _json

TEXT_TYPES = (0, 5)  # text, announcement: threads start from their messages
FORUM_TYPES = (15, 16)  # forum, media: only posts (threads), no messages of their own
THREAD_TYPES = (10, 11, 12)
HAS_THREAD = 1 << 5  # message flag


@dataclass
class ThreadRecord:
    spec: ChannelSpec  # type 11 (public) or 12 (private); parent_id is the channel or forum
    guild_id: int
    owner_id: int
    starter_message_id: int | None  # the message it was started from, or the forum post's
    auto_archive_duration: int = 1440
    applied_tags: list[str] = field(default_factory=list)
    created: str = field(default_factory=_now_iso)


class ThreadsMixin:
    """Thread routes, the thread store and their inspection, for `DiscordDouble`."""

    # ----------------------------------------------------------------- inspection

    def threads(self, parent_id: int | None = None) -> list[dict[str, Any]]:
        """Every thread (of one channel or forum), as Discord's channel objects, oldest first."""
        return [
            self._thread_payload(self.get_guild(t.guild_id), t.spec)
            for t in self._threads.values()
            if parent_id is None or t.spec.parent_id == int(parent_id)
        ]

    def thread(self, thread_id: int) -> dict[str, Any] | None:
        record = self._threads.get(int(thread_id))
        if record is None:
            return None
        return self._thread_payload(self.get_guild(record.guild_id), record.spec)

    def thread_of(self, message_id: int) -> dict[str, Any] | None:
        """The thread started from a message (or the forum post it opens), if any."""
        return next(
            (
                self.thread(t.spec.id)
                for t in self._threads.values()
                if t.starter_message_id == int(message_id)
            ),
            None,
        )

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        """The stored message objects of a channel or thread, oldest first (a forum post's
        starter message included)."""
        found = [m for m in self._messages.values() if m["channel_id"] == str(channel_id)]
        return sorted(found, key=lambda m: int(m["id"]))

    async def delete_thread(self, thread_id: int) -> None:
        """A member deletes a thread (or forum post) in their client: it and its messages
        are gone (posting there is 404 Unknown Channel); THREAD_DELETE tells the bot."""
        record = self._threads.pop(int(thread_id))
        for message_id in [int(m["id"]) for m in self.messages_in(thread_id)]:
            del self._messages[message_id]
        starter = self._messages.get(record.starter_message_id or 0)
        if starter is not None:  # a text channel's message the thread started from stays
            starter.pop("thread", None)
            starter["flags"] = int(starter.get("flags") or 0) & ~HAS_THREAD
        payload = {
            "id": str(record.spec.id),
            "guild_id": str(record.guild_id),
            "parent_id": str(record.spec.parent_id),
            "type": record.spec.type,
        }
        await self._tell("THREAD_DELETE", payload)

    # ----------------------------------------------------------------- lookups and payloads

    def _channel_of(self, guild: GuildSpec, channel_id: int) -> ChannelSpec:
        """A guild channel or one of the guild's threads."""
        record = self._threads.get(int(channel_id))
        if record is not None and record.guild_id == guild.id:
            return record.spec
        return guild.channel(channel_id)

    def _thread_payload(
        self, guild: GuildSpec, spec: ChannelSpec, *, permissions: int | None = None
    ) -> dict[str, Any]:
        record = self._threads[spec.id]
        count = len([m for m in self._messages.values() if m["channel_id"] == str(spec.id)])
        last = max((int(m["id"]) for m in self.messages_in(spec.id)), default=None)
        payload: dict[str, Any] = {
            "id": str(spec.id),
            "type": spec.type,
            "guild_id": str(guild.id),
            "parent_id": str(spec.parent_id),
            "owner_id": str(record.owner_id),
            "name": spec.name,
            "last_message_id": str(last) if last else None,
            "rate_limit_per_user": 0,
            "message_count": count,
            "member_count": 1,
            "total_message_sent": count,
            "flags": 0,
            "applied_tags": list(record.applied_tags),
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": record.auto_archive_duration,
                "archive_timestamp": record.created,
                "locked": False,
                "create_timestamp": record.created,
            },
        }
        if spec.type == 12:
            payload["thread_metadata"]["invitable"] = True
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    # ----------------------------------------------------------------- routes

    def _start_thread_from_message(
        self, r: RecordedRequest, channel_id: str, message_id: str
    ) -> web.Response:
        found = self._find_channel(int(channel_id))
        if found is None:
            return _error(404, "Unknown Channel", 10003)
        guild, channel = found
        if channel.type not in TEXT_TYPES:
            return _error(400, "Cannot execute action on this channel type", 50024)
        message = self._messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, "Unknown Message", 10008)
        if int(message_id) in self._threads:
            return _error(400, "A thread has already been created for this message", 160004)
        body = r.json if isinstance(r.json, dict) else {}
        problem = _bad_name(body)
        if problem is not None:
            return problem
        record = self._add_thread(guild, channel, body, 11, thread_id=int(message_id))
        record.starter_message_id = int(message_id)
        payload = self._thread_payload(guild, record.spec)
        message["thread"] = payload
        message["flags"] = int(message.get("flags") or 0) | HAS_THREAD
        return _json(payload)

    def _start_thread(self, r: RecordedRequest, channel_id: str) -> web.Response:
        """A forum post (type 15/16 parent, with ``message``) or, in a text channel, a
        thread without a starter message."""
        found = self._find_channel(int(channel_id))
        if found is None:
            return _error(404, "Unknown Channel", 10003)
        guild, channel = found
        body = r.json if isinstance(r.json, dict) else {}
        problem = _bad_name(body)
        if problem is not None:
            return problem
        if channel.type in TEXT_TYPES:
            thread_type = int(body.get("type") or 12)  # Discord's default: private
            if thread_type not in (11, 12):
                return _error(400, "Invalid Form Body", 50035)
            record = self._add_thread(guild, channel, body, thread_type)
            return _json(self._thread_payload(guild, record.spec))
        if channel.type not in FORUM_TYPES:
            return _error(400, "Cannot execute action on this channel type", 50024)
        starter = body.get("message")
        if not isinstance(starter, dict) or not (
            starter.get("content") or starter.get("embeds") or r.files or starter.get("components")
        ):
            return _error(400, "Cannot send an empty message", 50006)
        record = self._add_thread(guild, channel, body, 11)
        message = self._new_message(record.spec.id, starter, r.files)
        self._messages.pop(int(message["id"]))
        message["id"] = str(record.spec.id)  # a forum post's first message has its id
        self._messages[record.spec.id] = message
        record.starter_message_id = record.spec.id
        self._channel_posts.setdefault(record.spec.id, []).append(starter)
        return _json({**self._thread_payload(guild, record.spec), "message": message})

    def _add_thread(
        self,
        guild: GuildSpec,
        parent: ChannelSpec,
        body: dict[str, Any],
        thread_type: int,
        thread_id: int | None = None,
    ) -> ThreadRecord:
        spec = ChannelSpec(
            id=thread_id or snowflake(),
            name=str(body["name"]),
            type=thread_type,
            parent_id=parent.id,
        )
        record = ThreadRecord(
            spec,
            guild.id,
            self.bot_user_id,
            None,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
            applied_tags=[str(t) for t in body.get("applied_tags") or []],
        )
        self._threads[spec.id] = record
        created = {**self._thread_payload(guild, spec), "newly_created": True}
        self._queue_dispatch("THREAD_CREATE", created)
        return record

    # ----------------------------------------------------------------- gateway, after REST

    def _queue_dispatch(self, event: str, data: Any) -> None:
        """Sent by the REST handler before its answer (route handlers are synchronous)."""
        self._pending_dispatches.append((event, data))

    async def _flush_dispatches(self) -> None:
        pending, self._pending_dispatches = self._pending_dispatches, []
        if not self._sessions:
            return  # nobody connected: nothing to tell
        for event, data in pending:
            await self.dispatch(event, data)


def _bad_name(body: dict[str, Any]) -> web.Response | None:
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        return _error(400, "Invalid Form Body (name: 1 to 100 characters)", 50035)
    return None
