"""A local double of Discord's REST API and gateway for the real discord.py client.

The double is an aiohttp server on 127.0.0.1. Tests point discord.py at it by patching
``discord.http.Route.BASE`` and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (the
``discord_double`` fixture does both and restores them), so product code needs no switch.

It records every REST request in order, answers the routes a bot uses (login, command sync,
interaction replies, webhooks, channel messages), injects failures on demand, and drives
interactions (slash commands, autocomplete, modal submits, button clicks) over the gateway
exactly as Discord shapes them for discord.py 2.7. Threads and forum posts are channels
the bot can create and post into.

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

Layout: ``specs`` (guild/channel/role/member specs, snowflakes, permissions), ``payloads``
(Discord's JSON shapes), ``records`` (recorded requests and interactions), ``wire`` (HTTP
helpers), ``rest`` (routes and failure injection), ``messages`` (message routes and store),
``gateway`` (websocket), ``interactions`` (slash/autocomplete/modal/button drivers),
``components`` (a stored message's buttons; ``press`` one as a member), ``members`` (roles
and members added while running), ``threads`` (threads from messages, forum posts),
``inspection`` (queries and waits), ``limits`` (Discord's global and per-channel rate
limits and a per-request latency, off until ``set_limits``), ``double`` (`DiscordDouble`,
composing the mixins) and ``fixtures``.
"""

from .double import FAKE_TOKEN, DiscordDouble
from .fixtures import discord_double, make_discord_double
from .records import InteractionHandle, RecordedRequest
from .specs import (
    ADMIN_PERMISSIONS,
    BOT_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    ChannelSpec,
    GuildSpec,
    MemberSpec,
    RoleSpec,
    snowflake,
    snowflake_on_shard,
)
from .specs import ADMINISTRATOR as ADMINISTRATOR  # importable as before, not in __all__
from .wire import API_PREFIX as API_PREFIX
from .wire import WS_PATH as WS_PATH

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
    "snowflake_on_shard",
]
