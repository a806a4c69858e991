"""`DiscordDouble`: the state, addresses and lifecycle, composed with the mixins that serve
REST, the gateway and interactions."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import discord
import yarl
from aiohttp import web

from .components import ComponentsMixin
from .gateway import GatewayMixin, _Session
from .inspection import InspectionMixin
from .interactions import InteractionsMixin
from .limits import LimitsMixin, RateLimits
from .members import MembersMixin
from .messages import MessagesMixin
from .nonces import NonceLedger
from .payloads import PayloadsMixin
from .records import RecordedRequest, _Interaction
from .rest import RestMixin, _Failure
from .specs import MANAGE_GUILD, ChannelSpec, GuildSpec, snowflake
from .threads import ThreadRecord, ThreadsMixin
from .wire import API_PREFIX, WS_PATH

FAKE_TOKEN = "fake-token"  # any string: the double does not check tokens


class DiscordDouble(
    InspectionMixin,
    LimitsMixin,
    RestMixin,
    MessagesMixin,
    GatewayMixin,
    InteractionsMixin,
    PayloadsMixin,
    ThreadsMixin,
    ComponentsMixin,
    MembersMixin,
):
    """Discord's API on loopback. See the package docstring."""

    def __init__(
        self,
        guilds: Sequence[GuildSpec] | None = None,
        *,
        bot_name: str = "Mailsync",
        heartbeat_interval: int = 41_250,
        shard_count: int = 1,
    ) -> None:
        self.guilds: list[GuildSpec] = list(guilds) if guilds is not None else [GuildSpec()]
        self.application_id: int = snowflake()
        self.bot_user_id: int = self.application_id  # Discord gives bots their app's id
        self.bot_name = bot_name
        self.application_flags = (1 << 19) | (1 << 23)
        self.heartbeat_interval = heartbeat_interval
        self.shard_count = shard_count  # what GET /gateway/bot recommends

        self.requests: list[RecordedRequest] = []
        #: Every gateway frame in both directions: {"dir": "in"|"out", "op", "t", "s", "d"}.
        self.gateway_log: list[dict[str, Any]] = []
        #: The query strings of gateway connections (v, encoding, compress).
        self.gateway_connections: list[dict[str, str]] = []

        self.limits = RateLimits()  # none until set_limits (limits.py)
        self.rate_limited: list[tuple[RecordedRequest, str]] = []
        self._failures: list[_Failure] = []
        self._persistent: list[_Failure] = []
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._interactions: dict[str, _Interaction] = {}
        self._messages: dict[int, dict[str, Any]] = {}  # message id -> message object
        self._channel_posts: dict[int, list[dict[str, Any]]] = {}
        self._nonces = NonceLedger()  # enforce_nonce: per author, for a few minutes
        self._modals: dict[str, dict[str, Any]] = {}
        self._last_modal: dict[str, Any] | None = None
        self._sessions: dict[str, _Session] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._removed_guilds: set[int] = set()
        self._threads: dict[int, ThreadRecord] = {}  # thread (channel) id -> thread
        self._pending_dispatches: list[tuple[str, Any]] = []  # see ThreadsMixin
        self._bot_role_ids: dict[int, int] = {}
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.port: int = 0
        self._patched: list[tuple[Any, str, Any]] = []

    # ----------------------------------------------------------------- addresses and lookups

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
        thread = self._threads.get(int(channel_id))
        if thread is not None and thread.guild_id not in self._removed_guilds:
            return self.get_guild(thread.guild_id), thread.spec
        return None

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
