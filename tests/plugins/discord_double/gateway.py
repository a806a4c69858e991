"""The gateway websocket: HELLO, IDENTIFY/READY, RESUME, heartbeats, member chunks and
dispatches (guild joins and removals, disconnects) driven by the test.

Sharding as Discord does it: a session that IDENTIFYs with `[shard_id, shard_count]` gets
only the guilds with `(guild_id >> 22) % shard_count == shard_id`, and a guild's events
(its interactions, joins and removals) go to the latest session of its shard."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .specs import GuildSpec


@dataclass
class _Session:
    id: str
    intents: int | None
    shard: list[int] | None
    seq: int = 0
    ws: web.WebSocketResponse | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class GatewayMixin:
    """The gateway side of `DiscordDouble`: one session per IDENTIFY, replayed on RESUME."""

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.gateway_connections.append(dict(request.query))
        self._sockets.add(ws)
        session: _Session | None = None
        try:
            await self._ws_send(
                ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval}}
            )
            async for msg in ws:
                if msg.type.name != "TEXT":
                    continue
                frame = json.loads(msg.data)
                op, d = frame.get("op"), frame.get("d")
                self.gateway_log.append({"dir": "in", "op": op, "t": None, "s": None, "d": d})
                if op == 1:
                    await self._ws_send(ws, {"op": 11})
                elif op == 2:
                    session = await self._identify(ws, d or {})
                elif op == 6:
                    session = await self._resume(ws, d or {})
                elif op == 8:
                    await self._request_members(session, d or {})
                await self._notify()
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
        return ws

    async def _ws_send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        frame = {"op": frame["op"], "d": frame.get("d"), "s": frame.get("s"), "t": frame.get("t")}
        self.gateway_log.append({"dir": "out", **frame})
        await ws.send_str(json.dumps(frame))

    async def _send_dispatch(self, session: _Session, event: str, data: Any) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.history.append(frame)
        if session.ws is not None and not session.ws.closed:
            await self._ws_send(session.ws, frame)

    def _session_guilds(self, session: _Session) -> list[GuildSpec]:
        guilds = [g for g in self.guilds if g.id not in self._removed_guilds]
        if session.shard:
            shard_id, count = session.shard
            guilds = [g for g in guilds if (g.id >> 22) % count == shard_id]
        return guilds

    @staticmethod
    def _members_intent(session: _Session) -> bool:
        # As Discord: GUILD_CREATE lists every member only with GUILD_PRESENCES (1 << 8);
        # otherwise just the bot, and discord.py asks for the rest with op 8 when it has
        # GUILD_MEMBERS.
        return session.intents is None or bool(session.intents & (1 << 8))

    async def _identify(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> _Session:
        session = _Session(id=secrets.token_hex(16), intents=d.get("intents"), shard=d.get("shard"))
        session.ws = ws
        self._sessions[session.id] = session
        guilds = self._session_guilds(session)
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.ws_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["discord-double"],
        }
        if session.shard:
            ready["shard"] = session.shard
        await self._send_dispatch(session, "READY", ready)
        for guild in guilds:
            payload = self._guild_payload(guild, include_members=self._members_intent(session))
            await self._send_dispatch(session, "GUILD_CREATE", payload)
        return session

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> _Session | None:
        session = self._sessions.get(str(d.get("session_id")))
        if session is None:
            await self._ws_send(ws, {"op": 9, "d": False})
            return None
        session.ws = ws
        seq = int(d.get("seq") or 0)
        for frame in session.history:
            if frame["s"] > seq:
                await self._ws_send(ws, frame)
        await self._send_dispatch(session, "RESUMED", {"_trace": ["discord-double"]})
        return session

    async def _request_members(self, session: _Session | None, d: dict[str, Any]) -> None:
        if session is None:
            return
        guild = self.get_guild(int(d["guild_id"]))
        members = [self._bot_member_payload(guild)]
        members += [self._member_payload(guild, m) for m in guild.members]
        if d.get("user_ids"):
            wanted = {str(u) for u in d["user_ids"]}
            members = [m for m in members if m["user"]["id"] in wanted]
        if d.get("query"):
            members = [m for m in members if m["user"]["username"].startswith(d["query"])]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    def _current_session(self, guild_id: int | None = None) -> _Session:
        """The latest session, or with `guild_id` the latest one whose shard has the guild."""
        sessions = list(self._sessions.values())
        if guild_id is not None:
            sessions = [
                s for s in sessions if not s.shard or (guild_id >> 22) % s.shard[1] == s.shard[0]
            ]
        if not sessions:
            raise RuntimeError(
                "no gateway session: the client has not identified yet"
                + ("" if guild_id is None else f" on the shard of guild {guild_id}")
            )
        return sessions[-1]

    @staticmethod
    def _guild_of(event: str, data: Any) -> int | None:
        if not isinstance(data, dict):
            return None
        raw = data.get("guild_id") or (data.get("id") if event.startswith("GUILD_") else None)
        return int(raw) if raw else None

    async def dispatch(self, event: str, data: Any) -> None:
        """Send a gateway dispatch to the latest session of the guild's shard (or the latest
        session for an event of no guild); queued for RESUME if it is disconnected."""
        session = self._current_session(self._guild_of(event, data))
        await self._send_dispatch(session, event, data)

    def shard_sessions(self, shard_id: int) -> int:
        """How many times a client IDENTIFYed as shard `shard_id` (of any count)."""
        return sum(1 for s in self._sessions.values() if s.shard and s.shard[0] == shard_id)

    async def remove_guild(self, guild_id: int) -> None:
        """The bot was removed from a guild: GUILD_DELETE without ``unavailable``."""
        self._removed_guilds.add(int(guild_id))
        await self.dispatch("GUILD_DELETE", {"id": str(guild_id)})

    async def add_guild(self, guild: GuildSpec) -> None:
        """The bot joined a guild: GUILD_CREATE for a new (or re-added) guild."""
        if guild not in self.guilds:
            self.guilds.append(guild)
        self._removed_guilds.discard(guild.id)
        session = self._current_session(guild.id)
        await self.dispatch(
            "GUILD_CREATE",
            self._guild_payload(guild, include_members=self._members_intent(session)),
        )

    async def disconnect_gateway(self, code: int = 4000) -> None:
        """Close the gateway socket; discord.py reconnects to resume_gateway_url and RESUMEs."""
        session = self._current_session()
        if session.ws is not None:
            ws, session.ws = session.ws, None
            await ws.close(code=code)
