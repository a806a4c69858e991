"""A local double of Discord's REST API and gateway for the real discord.py client.

The double is an aiohttp server on 127.0.0.1. Tests point discord.py at it by patching
``discord.http.Route.BASE`` and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (the
``discord_double`` fixture does both and restores them), so product code needs no switch.

It records every REST request in order, answers the routes a bot uses (login, command sync,
interaction replies, webhooks, channel messages), injects failures on demand, and drives
interactions (slash commands, autocomplete, modal submits, button clicks) over the gateway
exactly as Discord shapes them for discord.py 2.7.

Typical use::

    async def test_something(discord_double):
        bot = make_my_bot()
        async with discord_double.running(bot):
            await discord_double.wait_for(method="PUT", path=r"/commands$")
            call = await discord_double.slash_command(
                discord_double.guild_id, discord_double.channel_id, discord_double.admin_id,
                "mail list", {},
            )
            reply = await call.wait_for_reply()
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest_asyncio
import yarl
from aiohttp import web

__all__ = [
    "ADMIN_PERMISSIONS",
    "BOT_PERMISSIONS",
    "EVERYONE_PERMISSIONS",
    "FAKE_TOKEN",
    "MANAGE_GUILD",
    "ChannelSpec",
    "DiscordDouble",
    "GuildSpec",
    "InteractionHandle",
    "MemberSpec",
    "RecordedRequest",
    "RoleSpec",
    "discord_double",
    "make_discord_double",
    "snowflake",
]

API_PREFIX = "/api/v10"
FAKE_TOKEN = "fake-token"  # any string: the double does not check tokens
WS_PATH = "/gateway-ws"

MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
#: What a plain member may do: view, send, embed, attach, history, react, use commands.
EVERYONE_PERMISSIONS = (
    (1 << 0)  # create instant invite
    | (1 << 6)  # add reactions
    | (1 << 10)  # view channel
    | (1 << 11)  # send messages
    | (1 << 14)  # embed links
    | (1 << 15)  # attach files
    | (1 << 16)  # read message history
    | (1 << 18)  # use external emojis
    | (1 << 26)  # change nickname
    | (1 << 31)  # use application commands
)
#: Everything, which includes Administrator (0x8) and Manage Server (0x20).
ADMIN_PERMISSIONS = discord.Permissions.all().value
#: The bot's managed role: what Mailsync needs to post alerts and mention a role.
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | (1 << 17)  # + mention everyone / any role

_DISCORD_EPOCH_MS = 1_420_070_400_000
_increment = itertools.count(1)


def snowflake() -> int:
    """A fresh Discord-style snowflake (time-based, unique within the process)."""
    ms = int(time.time() * 1000) - _DISCORD_EPOCH_MS
    return (ms << 22) | (next(_increment) & 0x3FFFFF)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


# --------------------------------------------------------------------------- configuration


@dataclass
class ChannelSpec:
    """A guild channel. ``type`` 0 is a text channel, 4 a category, 2 a voice channel."""

    id: int = field(default_factory=snowflake)
    name: str = "alerts"
    type: int = 0
    topic: str | None = None
    position: int | None = None
    parent_id: int | None = None
    nsfw: bool = False
    permission_overwrites: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RoleSpec:
    """A guild role (the @everyone role is added automatically with the guild's id)."""

    id: int = field(default_factory=snowflake)
    name: str = "role"
    permissions: int = 0
    position: int = 1
    mentionable: bool = True
    managed: bool = False
    tags: dict[str, Any] | None = None


@dataclass
class MemberSpec:
    """A guild member. ``permissions`` is what interactions carry as the resolved permissions;
    when ``None`` it is computed from @everyone and the member's roles."""

    user_id: int = field(default_factory=snowflake)
    name: str = "member"
    permissions: int | None = None
    roles: list[int] = field(default_factory=list)
    bot: bool = False
    nick: str | None = None


@dataclass
class GuildSpec:
    """A guild the bot is in. Defaults: two text channels, an admin and a plain member."""

    id: int = field(default_factory=snowflake)
    name: str = "Mailsync Test Guild"
    channels: list[ChannelSpec] = field(default_factory=list)
    roles: list[RoleSpec] = field(default_factory=list)
    members: list[MemberSpec] = field(default_factory=list)
    owner_id: int | None = None
    everyone_permissions: int = EVERYONE_PERMISSIONS
    bot_permissions: int = BOT_PERMISSIONS
    locale: str = "en-US"

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = [ChannelSpec(name="alerts"), ChannelSpec(name="general")]
        if not self.members:
            admin_role = RoleSpec(name="Admins", permissions=ADMIN_PERMISSIONS, position=2)
            self.roles = [admin_role, RoleSpec(name="Mail Watchers", position=1), *self.roles]
            self.members = [
                MemberSpec(name="admin", roles=[admin_role.id]),
                MemberSpec(name="member", permissions=self.everyone_permissions),
            ]
        if self.owner_id is None:
            self.owner_id = self.members[0].user_id
        for position, channel in enumerate(self.channels):
            if channel.position is None:
                channel.position = position

    def channel(self, channel_id: int) -> ChannelSpec:
        for channel in self.channels:
            if channel.id == int(channel_id):
                return channel
        raise KeyError(f"guild {self.id} has no channel {channel_id}")

    def role(self, role_id: int) -> RoleSpec | None:
        return next((r for r in self.roles if r.id == int(role_id)), None)

    def member(self, user_id: int) -> MemberSpec:
        for member in self.members:
            if member.user_id == int(user_id):
                return member
        raise KeyError(f"guild {self.id} has no member {user_id}")

    def permissions_of(self, member: MemberSpec) -> int:
        if member.permissions is not None:
            return member.permissions
        value = self.everyone_permissions
        for role_id in member.roles:
            role = self.role(role_id)
            if role is not None:
                value |= role.permissions
        if value & ADMINISTRATOR:
            value = ADMIN_PERMISSIONS
        return value


# --------------------------------------------------------------------------- records


@dataclass
class RecordedRequest:
    """One REST request the double received, with the answer it gave."""

    index: int
    method: str
    path: str  # relative to /api/v10, e.g. "/channels/123/messages"
    query: dict[str, str]
    json: Any  # the JSON body, or multipart ``payload_json`` parsed; None when absent
    files: list[dict[str, Any]]  # multipart files: {"field", "filename", "content_type", "data"}
    headers: dict[str, str]
    timestamp: float  # time.time()
    monotonic: float  # time.monotonic()
    status: int = 0
    response: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    body: dict[str, Any] | None = None
    is_global: bool = False

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.search(path) is not None


@dataclass
class _Session:
    id: str
    intents: int | None
    shard: list[int] | None
    seq: int = 0
    ws: web.WebSocketResponse | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    payload: dict[str, Any]
    guild_id: int | None
    channel_id: int | None
    responded: bool = False
    callback_type: int | None = None
    original: dict[str, Any] | None = None
    modal: dict[str, Any] | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)


class InteractionHandle:
    """What ``slash_command``/``autocomplete``/``submit_modal``/``click_button`` return."""

    def __init__(self, double: DiscordDouble, record: _Interaction) -> None:
        self._double = double
        self._record = record

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} type={self.type} replies={len(self.replies)}>"

    @property
    def id(self) -> int:
        return self._record.id

    @property
    def token(self) -> str:
        return self._record.token

    @property
    def type(self) -> int:
        return self._record.type

    @property
    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE ``d`` sent to the bot."""
        return self._record.payload

    @property
    def replies(self) -> list[dict[str, Any]]:
        """Successful callbacks, followups, edits and deletes for this interaction, in order."""
        return list(self._record.replies)

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot answered with (callback type 9), if any."""
        return self._record.modal

    async def wait_for_reply(
        self, *, kind: str | None = None, after: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        return await self._double.wait_for_reply(
            self.token, kind=kind, after=after, timeout=timeout
        )

    async def wait_for_modal(self, timeout: float = 10.0) -> dict[str, Any]:
        reply = await self.wait_for_reply(kind="callback", timeout=timeout)
        if reply["type"] != 9 or self.modal is None:
            raise AssertionError(
                f"the bot answered with callback type {reply['type']}, not a modal"
            )
        return self.modal


# --------------------------------------------------------------------------- the double


_OPTION_STRING, _OPTION_INTEGER, _OPTION_BOOLEAN = 3, 4, 5
_OPTION_USER, _OPTION_CHANNEL, _OPTION_ROLE, _OPTION_MENTIONABLE = 6, 7, 8, 9
_OPTION_NUMBER, _OPTION_ATTACHMENT = 10, 11
_LIST_VALUE_COMPONENTS = frozenset({3, 5, 6, 7, 8, 19, 22})


class DiscordDouble:
    """Discord's API on loopback. See the module docstring."""

    def __init__(
        self,
        guilds: Sequence[GuildSpec] | None = None,
        *,
        bot_name: str = "Mailsync",
        heartbeat_interval: int = 41_250,
    ) -> None:
        self.guilds: list[GuildSpec] = list(guilds) if guilds is not None else [GuildSpec()]
        self.application_id: int = snowflake()
        self.bot_user_id: int = self.application_id  # Discord gives bots their app's id
        self.bot_name = bot_name
        self.application_flags = (1 << 19) | (1 << 23)
        self.heartbeat_interval = heartbeat_interval

        self.requests: list[RecordedRequest] = []
        #: Every gateway frame in both directions: {"dir": "in"|"out", "op", "t", "s", "d"}.
        self.gateway_log: list[dict[str, Any]] = []
        #: The query strings of gateway connections (v, encoding, compress).
        self.gateway_connections: list[dict[str, str]] = []

        self._failures: list[_Failure] = []
        self._persistent: list[_Failure] = []
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._interactions: dict[str, _Interaction] = {}
        self._messages: dict[int, dict[str, Any]] = {}  # message id -> message object
        self._channel_posts: dict[int, list[dict[str, Any]]] = {}
        self._modals: dict[str, dict[str, Any]] = {}
        self._last_modal: dict[str, Any] | None = None
        self._sessions: dict[str, _Session] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._removed_guilds: set[int] = set()
        self._bot_role_ids: dict[int, int] = {}
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.port: int = 0
        self._patched: list[tuple[Any, str, Any]] = []

    # ----------------------------------------------------------------- addresses and users

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}{API_PREFIX}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"

    @property
    def guild(self) -> GuildSpec:
        """The first configured guild."""
        return self.guilds[0]

    @property
    def guild_id(self) -> int:
        return self.guild.id

    @property
    def channel_id(self) -> int:
        """The first text channel of the first guild."""
        return next(c.id for c in self.guild.channels if c.type == 0)

    @property
    def admin_id(self) -> int:
        """A member of the first guild holding Manage Server."""
        g = self.guild
        return next(m.user_id for m in g.members if g.permissions_of(m) & MANAGE_GUILD)

    @property
    def member_id(self) -> int:
        """A member of the first guild without Manage Server."""
        g = self.guild
        return next(m.user_id for m in g.members if not g.permissions_of(m) & MANAGE_GUILD)

    def get_guild(self, guild_id: int) -> GuildSpec:
        for guild in self.guilds:
            if guild.id == int(guild_id):
                return guild
        raise KeyError(f"no guild {guild_id} configured")

    def _find_channel(self, channel_id: int) -> tuple[GuildSpec, ChannelSpec] | None:
        for guild in self.guilds:
            if guild.id in self._removed_guilds:
                continue
            for channel in guild.channels:
                if channel.id == int(channel_id):
                    return guild, channel
        return None

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_user_id),
            "username": self.bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "banner": None,
            "accent_color": None,
        }

    @staticmethod
    def _user(member: MemberSpec) -> dict[str, Any]:
        return {
            "id": str(member.user_id),
            "username": member.name,
            "discriminator": "0",
            "global_name": member.name.title(),
            "avatar": None,
            "bot": member.bot,
            "public_flags": 0,
        }

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get(WS_PATH, self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextlib.contextmanager
    def patched(self) -> Iterator[DiscordDouble]:
        """Point discord.py's REST base and gateway at this double; restore on exit."""
        saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.ws_url)
        try:
            yield self
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved

    @contextlib.asynccontextmanager
    async def running(
        self,
        client: discord.Client,
        *,
        token: str = FAKE_TOKEN,
        ready_timeout: float = 10.0,
        guild_ready_timeout: float | None = 0.05,
    ) -> AsyncIterator[discord.Client]:
        """Start ``client`` against the double, wait for on_ready, close it on exit.

        discord.py waits ``guild_ready_timeout`` (2 s by default) after the last GUILD_CREATE
        before READY; this shortens it on the client's state unless given ``None``.
        """
        if guild_ready_timeout is not None:
            client._connection.guild_ready_timeout = guild_ready_timeout
        task = asyncio.create_task(client.start(token), name="discord-double-client")
        try:
            deadline = time.monotonic() + ready_timeout
            while not client.is_ready():
                if task.done():
                    task.result()  # raises what start() raised
                    raise AssertionError("client.start() returned before the client was ready")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"client not ready after {ready_timeout}s: {self.summary()}")
                await asyncio.sleep(0.01)
            yield client
        finally:
            await client.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)

    # ----------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        path_regex: str,
        statuses: Sequence[int] = (429, 503, 503),
        retry_after: float = 0.05,
        *,
        is_global: bool = False,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next matching requests with ``statuses``, one each, then normally.

        ``method`` may be "*"; ``path_regex`` is searched in the path relative to /api/v10.
        A 429 carries ``retry_after`` in its JSON body and the rate-limit headers.
        """
        pattern = re.compile(path_regex)
        for status in statuses:
            self._failures.append(
                _Failure(method.upper(), pattern, int(status), retry_after, body, is_global)
            )

    def set_status(
        self, method: str, path_regex: str, status: int, body: dict[str, Any] | None = None
    ) -> None:
        """Answer every matching request with ``status`` until ``clear_status``."""
        self._persistent.append(
            _Failure(method.upper(), re.compile(path_regex), int(status), 0.05, body)
        )

    def clear_status(self, method: str | None = None, path_regex: str | None = None) -> None:
        """Drop persistent statuses (all, or those set with this method and regex)."""
        self._persistent = [
            f
            for f in self._persistent
            if not (
                (method is None or f.method == method.upper())
                and (path_regex is None or f.pattern.pattern == path_regex)
            )
        ]

    def clear_failures(self) -> None:
        self._failures.clear()
        self._persistent.clear()

    # ----------------------------------------------------------------- inspection

    def mark(self) -> int:
        """The current number of recorded requests, to pass as ``after=``."""
        return len(self.requests)

    def summary(self, last: int = 15) -> str:
        lines = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-last:]]
        return "; ".join(lines) or "no requests"

    def find(
        self, method: str | None = None, path: str | None = None, *, status: int | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests by method and path regex (searched), optionally by status."""
        return [r for r in self.requests if _matches(r, method, path, status, None)]

    async def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        after: int = 0,
        timeout: float = 10.0,
    ) -> RecordedRequest:
        """The first request in ``requests[after:]`` matching every given filter.

        Already recorded requests count; ``after=double.mark()`` looks only at later ones.
        """

        def find() -> RecordedRequest | None:
            for r in self.requests[after:]:
                if _matches(r, method, path, status, predicate):
                    return r
            return None

        return await self._wait(find, timeout, f"request {method} {path} status={status}")

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """The JSON bodies successfully posted to a channel, in order."""
        return list(self._channel_posts.get(int(channel_id), []))

    def message(self, message_id: int) -> dict[str, Any] | None:
        """A message object the double created (channel posts and interaction replies)."""
        return self._messages.get(int(message_id))

    def interaction_replies(self, token: str) -> list[dict[str, Any]]:
        """Successful replies to one interaction, in order.

        Each is ``{"kind", "type", "body", "message_id", "index"}`` with kind one of
        callback, followup, edit, get, delete (``type`` is the callback type for callbacks,
        ``message_id`` is the target for edits/gets/deletes, ``index`` the request's index).
        """
        return list(self._interactions[token].replies)

    async def wait_for_reply(
        self, token: str, *, kind: str | None = None, after: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first reply (``interaction_replies(token)[after:]``) of ``kind`` (any if None)."""
        record = self._interactions[token]

        def find() -> dict[str, Any] | None:
            return next(
                (r for r in record.replies[after:] if kind is None or r["kind"] == kind), None
            )

        return await self._wait(find, timeout, f"reply kind={kind} to interaction {record.id}")

    def synced_commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Commands stored by the last bulk PUT: global (None) or for one guild."""
        return list(self._commands.get(None if guild_id is None else int(guild_id), []))

    async def _wait(self, find: Callable[[], Any], timeout: float, what: str) -> Any:
        assert self._changed is not None, "the double is not started"
        try:
            async with asyncio.timeout(timeout), self._changed:
                while (found := find()) is None:
                    await self._changed.wait()
                return found
        except TimeoutError:
            raise TimeoutError(f"no {what} within {timeout}s; seen: {self.summary()}") from None

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------- REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.match_info.get("tail", "")
        full = "/" + raw_path
        path = full[len(API_PREFIX) :] if full.startswith(API_PREFIX + "/") else full
        body, files = await _read_body(request)
        record = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            timestamp=time.time(),
            monotonic=time.monotonic(),
        )
        self.requests.append(record)
        try:
            response = self._injected(record)
            if response is None:
                if not full.startswith(API_PREFIX + "/"):
                    response = _error(404, "Unknown API version or path", 0)
                else:
                    response = self._route(record)
            record.status = response.status
            if response.body and response.content_type == "application/json":
                record.response = json.loads(bytes(response.body))
            return response
        finally:
            await self._notify()

    def _injected(self, record: RecordedRequest) -> web.Response | None:
        failure = next((f for f in self._failures if f.matches(record.method, record.path)), None)
        if failure is not None:
            self._failures.remove(failure)
        else:
            failure = next(
                (f for f in self._persistent if f.matches(record.method, record.path)), None
            )
        if failure is None:
            return None
        if failure.status == 429:
            body = failure.body or {
                "message": "You are being rate limited.",
                "retry_after": failure.retry_after,
                "global": failure.is_global,
            }
            headers = {
                "Retry-After": str(max(1, round(failure.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                "X-RateLimit-Bucket": "double-bucket",
                "X-RateLimit-Scope": "shared" if not failure.is_global else "global",
            }
            if failure.is_global:
                headers["X-RateLimit-Global"] = "true"
            return _json(body, status=429, headers=headers)
        default = {
            403: ("Missing Access", 50001),
            404: ("Unknown", 0),
            401: ("401: Unauthorized", 0),
            400: ("Invalid Form Body", 50035),
        }.get(failure.status, ("Server error", 0))
        return _json(failure.body or {"message": default[0], "code": default[1]}, failure.status)

    def _route(self, r: RecordedRequest) -> web.Response:
        for method, pattern, handler in self._routes():
            if method != r.method:
                continue
            m = pattern.fullmatch(r.path)
            if m is not None:
                return handler(r, *m.groups())
        return _error(404, "Unknown", 0)

    def _routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., web.Response]]]:
        d = r"(\d+)"
        hook = r"/webhooks/(\d+)/([^/]+)"
        table: list[tuple[str, str, Callable[..., web.Response]]] = [
            ("GET", "/users/@me", lambda r: _json(self.bot_user())),
            ("GET", "/oauth2/applications/@me", lambda r: _json(self._app_info())),
            ("GET", "/applications/@me", lambda r: _json(self._app_info())),
            ("GET", "/gateway", lambda r: _json({"url": self.ws_url})),
            ("GET", "/gateway/bot", lambda r: _json(self._gateway_bot())),
            ("PUT", f"/applications/{d}/commands", self._put_commands),
            ("PUT", f"/applications/{d}/guilds/{d}/commands", self._put_commands),
            ("GET", f"/applications/{d}/commands", self._get_commands),
            ("GET", f"/applications/{d}/guilds/{d}/commands", self._get_commands),
            ("POST", f"/interactions/{d}/([^/]+)/callback", self._callback),
            ("POST", hook, self._followup),
            ("GET", hook + r"/messages/(@original|\d+)", self._webhook_get),
            ("PATCH", hook + r"/messages/(@original|\d+)", self._webhook_edit),
            ("DELETE", hook + r"/messages/(@original|\d+)", self._webhook_delete),
            ("POST", f"/channels/{d}/messages", self._post_message),
            ("GET", f"/channels/{d}/messages/{d}", self._get_message),
            ("PATCH", f"/channels/{d}/messages/{d}", self._edit_message),
            ("DELETE", f"/channels/{d}/messages/{d}", self._delete_message),
            ("GET", f"/channels/{d}", self._get_channel),
            ("GET", f"/guilds/{d}", self._get_guild),
            ("GET", f"/guilds/{d}/channels", self._get_guild_channels),
            ("GET", f"/guilds/{d}/members/{d}", self._get_member),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    def _app_info(self) -> dict[str, Any]:
        owner = self.guild.member(self.guild.owner_id) if self.guilds else None
        owner_user = self._user(owner) if owner else self.bot_user()
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": owner_user,
            "team": None,
            "flags": self.application_flags,
            "bot": self.bot_user(),
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    def _gateway_bot(self) -> dict[str, Any]:
        return {
            "url": self.ws_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    def _put_commands(self, r: RecordedRequest, app_id: str, guild_id: str | None = None):
        if int(app_id) != self.application_id:
            return _error(403, "Missing Access", 50001)
        if not isinstance(r.json, list):
            return _error(400, "Invalid Form Body", 50035)
        key = int(guild_id) if guild_id is not None else None
        previous = {c["name"]: c for c in self._commands.get(key, [])}
        stored = []
        for command in r.json:
            old = previous.get(command.get("name"))
            entry = {
                "type": 1,
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": old["id"] if old else str(snowflake()),
                "application_id": str(self.application_id),
                "version": str(snowflake()),
            }
            if key is not None:
                entry["guild_id"] = str(key)
            stored.append(entry)
        self._commands[key] = stored
        return _json(stored)

    def _get_commands(self, r: RecordedRequest, app_id: str, guild_id: str | None = None):
        return _json(self.synced_commands(int(guild_id) if guild_id else None))

    # -- interaction callbacks and webhooks

    def _callback(self, r: RecordedRequest, interaction_id: str, token: str) -> web.Response:
        record = self._interactions.get(token)
        if record is None or record.id != int(interaction_id):
            return _error(404, "Unknown interaction", 10062)
        if record.responded:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        body = r.json if isinstance(r.json, dict) else {}
        cb_type = int(body.get("type", 0))
        data = body.get("data") or {}
        record.responded = True
        record.callback_type = cb_type
        message: dict[str, Any] | None = None
        interaction_info: dict[str, Any] = {"id": str(record.id), "type": record.type}
        if cb_type == 4:
            message = self._new_message(record.channel_id, data, r.files, interaction=record)
        elif cb_type == 5:
            flags = int(data.get("flags", 0)) | 128  # LOADING
            message = self._new_message(record.channel_id, {"flags": flags}, [], interaction=record)
            interaction_info["response_message_loading"] = True
        elif cb_type == 7 and record.payload.get("message"):
            message = self._edit_existing(int(record.payload["message"]["id"]), data, r.files)
        elif cb_type == 9:
            record.modal = data
            self._modals[str(data.get("custom_id"))] = data
            self._last_modal = data
        if message is not None and cb_type in (4, 5):
            record.original = message
            interaction_info["response_message_id"] = message["id"]
            interaction_info["response_message_ephemeral"] = bool(message["flags"] & 64)
        self._reply(record, "callback", r, type=cb_type, message_id=message and message["id"])
        if r.query.get("with_response", "").lower() not in ("1", "true"):
            return web.Response(status=204)  # Discord answers 204 without ?with_response
        resource: dict[str, Any] = {"type": cb_type}
        if message is not None:
            resource["message"] = message
        return _json({"interaction": interaction_info, "resource": resource})

    def _reply(
        self, record: _Interaction, kind: str, r: RecordedRequest, *, type=None, message_id=None
    ) -> None:
        record.replies.append(
            {
                "kind": kind,
                "type": type,
                "body": r.json,
                "files": r.files,
                "message_id": message_id,
                "index": r.index,
            }
        )

    def _hook_record(self, app_id: str, token: str) -> _Interaction | None:
        if int(app_id) != self.application_id:
            return None
        return self._interactions.get(token)

    def _followup(self, r: RecordedRequest, app_id: str, token: str) -> web.Response:
        record = self._hook_record(app_id, token)
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        if not record.responded:  # as Discord: no followups before the first response
            return _error(404, "Unknown Webhook", 10015)
        body = r.json if isinstance(r.json, dict) else {}
        message = self._new_message(record.channel_id, body, r.files, interaction=record)
        self._reply(record, "followup", r, message_id=message["id"])
        return _json(message)

    def _hook_target(self, record: _Interaction, which: str) -> dict[str, Any] | None:
        if which == "@original":
            return record.original
        return self._messages.get(int(which))

    def _webhook_get(self, r: RecordedRequest, app_id: str, token: str, which: str):
        record = self._hook_record(app_id, token)
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        message = self._hook_target(record, which)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        self._reply(record, "get", r, message_id=message["id"])
        return _json(message)

    def _webhook_edit(self, r: RecordedRequest, app_id: str, token: str, which: str):
        record = self._hook_record(app_id, token)
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        message = self._hook_target(record, which)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        body = r.json if isinstance(r.json, dict) else {}
        message = self._edit_existing(int(message["id"]), body, r.files)
        if which == "@original":
            record.original = message
        self._reply(record, "edit", r, message_id=message["id"])
        return _json(message)

    def _webhook_delete(self, r: RecordedRequest, app_id: str, token: str, which: str):
        record = self._hook_record(app_id, token)
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        message = self._hook_target(record, which)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        self._messages.pop(int(message["id"]), None)
        if which == "@original":
            record.original = None
        self._reply(record, "delete", r, message_id=message["id"])
        return web.Response(status=204)

    # -- channels and messages

    def _post_message(self, r: RecordedRequest, channel_id: str) -> web.Response:
        found = self._find_channel(int(channel_id))
        if found is None:
            return _error(404, "Unknown Channel", 10003)
        body = r.json if isinstance(r.json, dict) else {}
        if not (body.get("content") or body.get("embeds") or r.files or body.get("components")):
            return _error(400, "Cannot send an empty message", 50006)
        message = self._new_message(int(channel_id), body, r.files)
        self._channel_posts.setdefault(int(channel_id), []).append(body)
        return _json(message)

    def _get_message(self, r: RecordedRequest, channel_id: str, message_id: str):
        message = self._messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, "Unknown Message", 10008)
        return _json(message)

    def _edit_message(self, r: RecordedRequest, channel_id: str, message_id: str):
        message = self._messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, "Unknown Message", 10008)
        body = r.json if isinstance(r.json, dict) else {}
        return _json(self._edit_existing(int(message_id), body, r.files))

    def _delete_message(self, r: RecordedRequest, channel_id: str, message_id: str):
        message = self._messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, "Unknown Message", 10008)
        del self._messages[int(message_id)]
        return web.Response(status=204)

    def _get_channel(self, r: RecordedRequest, channel_id: str) -> web.Response:
        found = self._find_channel(int(channel_id))
        if found is None:
            return _error(404, "Unknown Channel", 10003)
        guild, channel = found
        return _json(self._channel_payload(guild, channel))

    def _get_guild(self, r: RecordedRequest, guild_id: str) -> web.Response:
        try:
            guild = self.get_guild(int(guild_id))
        except KeyError:
            return _error(404, "Unknown Guild", 10004)
        if guild.id in self._removed_guilds:
            return _error(403, "Missing Access", 50001)
        payload = self._guild_payload(guild, include_members=False)
        for key in ("channels", "members", "threads", "presences", "voice_states"):
            payload.pop(key, None)
        return _json(payload)

    def _get_guild_channels(self, r: RecordedRequest, guild_id: str) -> web.Response:
        try:
            guild = self.get_guild(int(guild_id))
        except KeyError:
            return _error(404, "Unknown Guild", 10004)
        return _json([self._channel_payload(guild, c) for c in guild.channels])

    def _get_member(self, r: RecordedRequest, guild_id: str, user_id: str) -> web.Response:
        try:
            guild = self.get_guild(int(guild_id))
            if int(user_id) == self.bot_user_id:
                return _json(self._bot_member_payload(guild))
            return _json(self._member_payload(guild, guild.member(int(user_id))))
        except KeyError:
            return _error(404, "Unknown Member", 10007)

    def _new_message(
        self,
        channel_id: int | None,
        body: Mapping[str, Any],
        files: list[dict[str, Any]],
        *,
        interaction: _Interaction | None = None,
    ) -> dict[str, Any]:
        message_id = snowflake()
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": self.bot_user(),
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": _attachments(files, body, channel_id),
            "embeds": list(body.get("embeds") or []),
            "reactions": [],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags") or 0),
            "components": list(body.get("components") or []),
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if interaction is not None:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            message["type"] = 20 if interaction.type == 2 else 19 if interaction.type == 3 else 0
        self._messages[message_id] = message
        return message

    def _edit_existing(
        self, message_id: int, body: Mapping[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        message = self._messages.get(message_id)
        if message is None:  # e.g. a component on a message the double never saw
            message = self._new_message(None, {}, [])
            self._messages.pop(int(message["id"]))
            message["id"] = str(message_id)
            self._messages[message_id] = message
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        if "flags" in body and body["flags"] is not None:
            message["flags"] = int(body["flags"])
        if "attachments" in body or files:
            message["attachments"] = _attachments(files, body, message["channel_id"])
        message["flags"] = message.get("flags", 0) & ~128  # an edit ends "thinking…"
        message["edited_timestamp"] = _now_iso()
        return message

    # ----------------------------------------------------------------- payload builders

    def _role_payload(self, role: RoleSpec) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(role.id),
            "name": role.name,
            "permissions": str(role.permissions),
            "position": role.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": role.managed,
            "mentionable": role.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if role.tags is not None:
            payload["tags"] = role.tags
        return payload

    def _bot_role(self, guild: GuildSpec) -> RoleSpec:
        return RoleSpec(
            id=self._bot_role_ids.setdefault(guild.id, snowflake()),
            name=self.bot_name,
            permissions=guild.bot_permissions,
            position=len(guild.roles) + 1,
            mentionable=False,
            managed=True,
            tags={"bot_id": str(self.bot_user_id)},
        )

    def _roles_payload(self, guild: GuildSpec) -> list[dict[str, Any]]:
        everyone = RoleSpec(
            id=guild.id, name="@everyone", permissions=guild.everyone_permissions, position=0
        )
        return [self._role_payload(r) for r in (everyone, *guild.roles, self._bot_role(guild))]

    def _channel_payload(
        self, guild: GuildSpec, channel: ChannelSpec, *, permissions: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(guild.id),
            "name": channel.name,
            "position": channel.position or 0,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "permission_overwrites": list(channel.permission_overwrites),
            "nsfw": channel.nsfw,
            "flags": 0,
        }
        if channel.type in (0, 5, 15, 16):
            payload.update(
                topic=channel.topic,
                last_message_id=None,
                rate_limit_per_user=0,
                default_auto_archive_duration=1440,
            )
        if channel.type in (2, 13):
            payload.update(bitrate=64000, user_limit=0, rtc_region=None, video_quality_mode=1)
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    def _member_payload(
        self, guild: GuildSpec, member: MemberSpec, *, permissions: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "user": self._user(member),
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in member.roles],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    def _bot_member_payload(self, guild: GuildSpec) -> dict[str, Any]:
        return {
            "user": self.bot_user(),
            "nick": None,
            "avatar": None,
            "roles": [str(self._bot_role(guild).id)],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def _guild_payload(self, guild: GuildSpec, *, include_members: bool) -> dict[str, Any]:
        members = [self._bot_member_payload(guild)]
        if include_members:
            members += [self._member_payload(guild, m) for m in guild.members]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "preferred_locale": guild.locale,
            "features": [],
            "max_members": 500_000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "application_id": None,
            "roles": self._roles_payload(guild),
            "emojis": [],
            "stickers": [],
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members) + 1,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "lazy": True,
            "channels": [self._channel_payload(guild, c) for c in guild.channels],
            "threads": [],
            "members": members,
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "incidents_data": None,
        }

    # ----------------------------------------------------------------- gateway

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

    def _current_session(self) -> _Session:
        if not self._sessions:
            raise RuntimeError("no gateway session: the client has not identified yet")
        return list(self._sessions.values())[-1]

    async def dispatch(self, event: str, data: Any) -> None:
        """Send a gateway dispatch to the latest session (queued for RESUME if disconnected)."""
        await self._send_dispatch(self._current_session(), event, data)

    async def remove_guild(self, guild_id: int) -> None:
        """The bot was removed from a guild: GUILD_DELETE without ``unavailable``."""
        self._removed_guilds.add(int(guild_id))
        await self.dispatch("GUILD_DELETE", {"id": str(guild_id)})

    async def add_guild(self, guild: GuildSpec) -> None:
        """The bot joined a guild: GUILD_CREATE for a new (or re-added) guild."""
        if guild not in self.guilds:
            self.guilds.append(guild)
        self._removed_guilds.discard(guild.id)
        session = self._current_session()
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

    # ----------------------------------------------------------------- driving interactions

    def _command_definition(self, guild_id: int | None, name: str) -> tuple[dict, int | None]:
        scopes: list[int | None] = [None] if guild_id is None else [int(guild_id), None]
        for scope in scopes:
            for command in self._commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command, scope
        known = {str(k): [c["name"] for c in v] for k, v in self._commands.items()}
        raise LookupError(f"command {name!r} was never synced (synced: {known}); sync first")

    def _interaction(
        self,
        type_: int,
        guild_id: int,
        channel_id: int,
        user_id: int,
        data: dict[str, Any],
        *,
        permissions: int | None = None,
        message: dict[str, Any] | None = None,
    ) -> _Interaction:
        guild = self.get_guild(guild_id)
        channel = guild.channel(channel_id)
        member = guild.member(user_id)
        perms = guild.permissions_of(member) if permissions is None else int(permissions)
        interaction_id = snowflake()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "guild": {"id": str(guild.id), "locale": guild.locale, "features": []},
            "guild_id": str(guild.id),
            "channel": self._channel_payload(guild, channel, permissions=perms),
            "channel_id": str(channel.id),
            "member": self._member_payload(guild, member, permissions=perms),
            "token": token,
            "version": 1,
            "app_permissions": str(guild.bot_permissions),
            "locale": "en-US",
            "guild_locale": guild.locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        record = _Interaction(interaction_id, token, type_, payload, guild.id, channel.id)
        self._interactions[token] = record
        return record

    async def _send_interaction(self, record: _Interaction) -> InteractionHandle:
        await self.dispatch("INTERACTION_CREATE", record.payload)
        return InteractionHandle(self, record)

    def _command_data(
        self,
        guild_id: int,
        name: str,
        options: Mapping[str, Any],
        *,
        user_id: int,
        permissions: int | None,
        focused: str | None = None,
    ) -> dict[str, Any]:
        parts = name.split()
        command, scope = self._command_definition(guild_id, parts[0])
        guild = self.get_guild(guild_id)
        if permissions is None:
            permissions = guild.permissions_of(guild.member(user_id))
        resolved: dict[str, dict[str, Any]] = {}
        definitions = command.get("options") or []
        nesting: list[tuple[int, str]] = []
        for part in parts[1:]:
            sub = next((o for o in definitions if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise LookupError(f"{command['name']!r} has no subcommand or group {part!r}")
            nesting.append((sub["type"], part))
            definitions = sub.get("options") or []
        values = dict(options)
        if focused is not None and focused not in values:
            values[focused] = ""
        leaf = []
        for key, value in values.items():
            definition = next((o for o in definitions if o["name"] == key), None)
            if definition is None:
                names = [o["name"] for o in definitions]
                raise LookupError(f"/{name} has no option {key!r} (has {names})")
            option = {"name": key, "type": definition["type"]}
            if key == focused:
                option["value"] = str(value)
                option["focused"] = True
            else:
                option["value"] = self._option_value(
                    guild, definition["type"], value, resolved, permissions
                )
            leaf.append(option)
        tree: list[dict[str, Any]] = leaf
        for sub_type, sub_name in reversed(nesting):
            tree = [{"type": sub_type, "name": sub_name, "options": tree}]
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": tree,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    def _option_value(
        self,
        guild: GuildSpec,
        type_: int,
        value: Any,
        resolved: dict[str, dict[str, Any]],
        permissions: int,
    ) -> Any:
        if type_ == _OPTION_STRING:
            return str(value)
        if type_ == _OPTION_INTEGER:
            return int(value)
        if type_ == _OPTION_BOOLEAN:
            return bool(value)
        if type_ == _OPTION_NUMBER:
            return float(value)
        ident = int(getattr(value, "id", getattr(value, "user_id", value)))
        if type_ == _OPTION_CHANNEL:
            channel = guild.channel(ident)
            # "permissions" here is what the invoking member may do in that channel
            payload = self._channel_payload(guild, channel, permissions=permissions)
            resolved.setdefault("channels", {})[str(ident)] = payload
            return str(ident)
        role = self._all_roles(guild).get(ident)
        if type_ == _OPTION_ROLE or (type_ == _OPTION_MENTIONABLE and role is not None):
            if role is None:
                raise LookupError(f"guild {guild.id} has no role {ident}")
            resolved.setdefault("roles", {})[str(ident)] = self._role_payload(role)
            return str(ident)
        if type_ in (_OPTION_USER, _OPTION_MENTIONABLE):
            member = guild.member(ident)
            resolved.setdefault("users", {})[str(ident)] = self._user(member)
            member_payload = self._member_payload(
                guild, member, permissions=guild.permissions_of(member)
            )
            member_payload.pop("user")
            resolved.setdefault("members", {})[str(ident)] = member_payload
            return str(ident)
        raise NotImplementedError(f"option type {type_} is not supported by the double")

    def _all_roles(self, guild: GuildSpec) -> dict[int, RoleSpec]:
        everyone = RoleSpec(id=guild.id, name="@everyone", permissions=guild.everyone_permissions)
        roles = {r.id: r for r in guild.roles}
        roles[guild.id] = everyone
        return roles

    async def slash_command(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None = None,
        permissions: int | None = None,
    ) -> InteractionHandle:
        """Invoke a synced chat-input command. ``name`` may be "group sub" or "group sub sub".

        Option types come from the synced definition; channel, role, user and mentionable
        values (ids or specs) are put into ``data.resolved`` as Discord does.
        ``permissions`` overrides the member's resolved permissions in the payload.
        """
        data = self._command_data(
            guild_id, name, options or {}, user_id=user_id, permissions=permissions
        )
        record = self._interaction(2, guild_id, channel_id, user_id, data, permissions=permissions)
        return await self._send_interaction(record)

    async def autocomplete(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None,
        focused: str,
        permissions: int | None = None,
    ) -> InteractionHandle:
        """An autocomplete interaction (type 4); ``options[focused]`` is the typed text."""
        data = self._command_data(
            guild_id, name, options or {}, user_id=user_id, permissions=permissions, focused=focused
        )
        record = self._interaction(4, guild_id, channel_id, user_id, data, permissions=permissions)
        return await self._send_interaction(record)

    async def autocomplete_choices(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None,
        focused: str,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Run ``autocomplete`` and return the bot's choices (callback type 8)."""
        handle = await self.autocomplete(guild_id, channel_id, user_id, name, options, focused)
        reply = await handle.wait_for_reply(kind="callback", timeout=timeout)
        if reply["type"] != 8:
            raise AssertionError(f"autocomplete answered with callback type {reply['type']}")
        return list(reply["body"]["data"]["choices"])

    async def submit_modal(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        custom_id: str | None = None,
        values: Mapping[str, Any] | None = None,
        permissions: int | None = None,
    ) -> InteractionHandle:
        """Submit a modal the bot showed (type 5 MODAL_SUBMIT).

        ``custom_id`` picks the modal (default: the last one shown). ``values`` are keyed by a
        component's custom_id or by its label; text inputs take str, selects and checkbox
        groups a list, a checkbox a bool. The submission mirrors the modal's layout: action
        rows (type 1) hold the inputs directly, labels (type 18) hold one ``component``.
        """
        modal = self._last_modal if custom_id is None else self._modals.get(custom_id)
        if modal is None and custom_id is None:
            raise LookupError("the bot has not shown any modal yet")
        values = dict(values or {})
        if modal is None:  # an unknown modal: build rows straight from the values
            components = [
                {"type": 1, "components": [{"type": 4, "custom_id": k, "value": str(v)}]}
                for k, v in values.items()
            ]
        else:
            components = _submitted_components(modal.get("components") or [], values)
            if values:
                raise LookupError(f"modal {modal.get('custom_id')!r} has no inputs {list(values)}")
        data = {"custom_id": custom_id or modal["custom_id"], "components": components}
        record = self._interaction(5, guild_id, channel_id, user_id, data, permissions=permissions)
        return await self._send_interaction(record)

    async def click_button(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        custom_id: str,
        message_id: int,
        *,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        permissions: int | None = None,
    ) -> InteractionHandle:
        """Press a button (or pick ``values`` in a select, ``component_type`` 3) on a message."""
        message = self._messages.get(int(message_id))
        if message is None:
            message = {
                "id": str(message_id),
                "channel_id": str(channel_id),
                "author": self.bot_user(),
                "content": "",
                "timestamp": _now_iso(),
                "edited_timestamp": None,
                "tts": False,
                "mention_everyone": False,
                "mentions": [],
                "mention_roles": [],
                "attachments": [],
                "embeds": [],
                "pinned": False,
                "type": 0,
                "flags": 0,
                "components": [],
            }
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        record = self._interaction(
            3, guild_id, channel_id, user_id, data, permissions=permissions, message=message
        )
        return await self._send_interaction(record)


# --------------------------------------------------------------------------- helpers


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # discord.py parses JSON only when the content type is exactly "application/json";
    # web.json_response would add "; charset=utf-8".
    all_headers = {"Content-Type": "application/json", "Via": "1.1 google"}
    all_headers.update(headers or {})
    return web.Response(body=json.dumps(body).encode(), status=status, headers=all_headers)


def _error(status: int, message: str, code: int) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


async def _read_body(request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
    if not request.can_read_body:
        return None, []
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[dict[str, Any]] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            data = await part.read()  # type: ignore[union-attr]
            name = part.name  # type: ignore[union-attr]
            if name == "payload_json":
                body = json.loads(data)
            else:
                files.append(
                    {
                        "field": name,
                        "filename": part.filename,  # type: ignore[union-attr]
                        "content_type": part.headers.get("Content-Type"),  # type: ignore[union-attr]
                        "data": bytes(data),
                    }
                )
        return body, files
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode("utf-8", "replace"), []


def _attachments(
    files: list[dict[str, Any]], body: Mapping[str, Any], channel_id: Any
) -> list[dict[str, Any]]:
    described = {str(a.get("id")): a for a in body.get("attachments") or []}
    result = []
    for index, f in enumerate(files):
        meta = described.get(str(index), {})
        ident = snowflake()
        url = f"https://cdn.discordapp.com/attachments/{channel_id}/{ident}/{f['filename']}"
        result.append(
            {
                "id": str(ident),
                "filename": f["filename"] or f"file{index}",
                "size": len(f["data"]),
                "url": url,
                "proxy_url": url,
                "content_type": f["content_type"],
                "description": meta.get("description"),
            }
        )
    return result


def _submitted_components(
    components: list[dict[str, Any]], values: dict[str, Any]
) -> list[dict[str, Any]]:
    """The MODAL_SUBMIT ``data.components`` for a modal's definition; pops used ``values``."""
    counter = itertools.count(1)

    def answer(component: dict[str, Any], label: str | None) -> dict[str, Any] | None:
        custom_id = component.get("custom_id")
        if custom_id is None:
            return None
        out: dict[str, Any] = {
            "type": component["type"],
            "id": component.get("id", next(counter)),
            "custom_id": custom_id,
        }
        if custom_id in values:
            given = values.pop(custom_id)
        elif label is not None and label in values:
            given = values.pop(label)
        else:
            given = _UNSET
        if component["type"] in _LIST_VALUE_COMPONENTS:
            out["values"] = [] if given is _UNSET else [str(v) for v in given]
        elif component["type"] == 23:  # checkbox
            out["value"] = False if given is _UNSET else bool(given)
        elif component["type"] == 21:  # radio group
            out["value"] = None if given is _UNSET else str(given)
        else:  # text input
            out["value"] = component.get("value", "") if given is _UNSET else str(given)
        return out

    submitted: list[dict[str, Any]] = []
    for component in components:
        if component["type"] == 1:
            inner = [answer(c, c.get("label")) for c in component.get("components", [])]
            row = {"type": 1, "id": component.get("id", next(counter))}
            row["components"] = [c for c in inner if c is not None]
            submitted.append(row)
        elif component["type"] == 18:
            inner = answer(component["component"], component.get("label"))
            if inner is not None:
                label_id = component.get("id", next(counter))
                submitted.append({"type": 18, "id": label_id, "component": inner})
        elif component["type"] == 10:  # text display: echoed by id only
            submitted.append({"type": 10, "id": component.get("id", next(counter))})
    return submitted


_UNSET = object()


def _matches(
    r: RecordedRequest,
    method: str | None,
    path: str | None,
    status: int | None,
    predicate: Callable[[RecordedRequest], bool] | None,
) -> bool:
    return (
        (method is None or r.method == method.upper())
        and (path is None or re.search(path, r.path) is not None)
        and (status is None or r.status == status)
        and (predicate is None or predicate(r))
    )


# --------------------------------------------------------------------------- fixtures


@contextlib.asynccontextmanager
async def _serving(double: DiscordDouble) -> AsyncIterator[DiscordDouble]:
    await double.start()
    try:
        with double.patched():
            yield double
    finally:
        await double.stop()


@pytest_asyncio.fixture
async def discord_double() -> AsyncIterator[DiscordDouble]:
    """A started double with one default guild; discord.py points at it for the test."""
    async with _serving(DiscordDouble()) as double:
        yield double


@pytest_asyncio.fixture
async def make_discord_double() -> AsyncIterator[Callable[..., Any]]:
    """An async factory: ``double = await make_discord_double(guilds=[GuildSpec(...)])``.

    Only one double can be patched in at a time; a second call raises.
    """
    stack = contextlib.AsyncExitStack()
    made: list[DiscordDouble] = []

    async def make(*args: Any, **kwargs: Any) -> DiscordDouble:
        if made:
            raise RuntimeError("make_discord_double supports one double per test")
        double = await stack.enter_async_context(_serving(DiscordDouble(*args, **kwargs)))
        made.append(double)
        return double

    async with stack:
        yield make
