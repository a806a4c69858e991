"""The Discord double shards as Discord does, driven by the real discord.py
AutoShardedClient: GET /gateway/bot says how many shards; each connection IDENTIFYs with
[shard_id, shard_count] and receives only its guilds and their interactions."""

from __future__ import annotations

import json
import zlib
from collections import defaultdict

import discord
import pytest
from discord import app_commands

from tests.plugins.discord_double import GuildSpec, snowflake_on_shard


@pytest.fixture
def received(monkeypatch):
    """What arrived on each gateway connection of the client: shard id -> [(event, guild)],
    read where discord.py's websocket receives a frame."""
    seen: dict[int, list[tuple[str, int | None]]] = defaultdict(list)
    real = discord.gateway.DiscordWebSocket.received_message

    async def recording(ws, msg):
        raw = zlib.decompress(msg) if isinstance(msg, bytes) else msg
        frame = json.loads(raw)
        if frame.get("op") == 0:
            d = frame.get("d") or {}
            guild = d.get("guild_id") or (d.get("id") if frame["t"] == "GUILD_CREATE" else None)
            seen[ws.shard_id].append((frame["t"], int(guild) if guild else None))
        return await real(ws, msg)

    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "received_message", recording)
    return seen


async def test_each_shard_gets_its_guilds_and_their_interactions(make_discord_double, received):
    """The client learns 2 shards from /gateway/bot, identifies both, and each connection
    gets the GUILD_CREATE and the interaction of its own guild only."""
    g0 = GuildSpec(id=snowflake_on_shard(0, 2), name="zero")
    g1 = GuildSpec(id=snowflake_on_shard(1, 2), name="one")
    double = await make_discord_double(guilds=[g0, g1], shard_count=2)
    client = discord.AutoShardedClient(intents=discord.Intents(guilds=True))
    tree = app_commands.CommandTree(client)
    answered: list[int] = []

    @tree.command(name="ping")
    async def ping(interaction: discord.Interaction) -> None:
        answered.append(interaction.guild_id or 0)
        await interaction.response.send_message("pong", ephemeral=True)

    async with double.running(client):
        assert double.find(method="GET", path=r"^/gateway/bot$")
        assert client.shard_count == 2
        identified = sorted(
            f["d"]["shard"] for f in double.gateway_log if f["dir"] == "in" and f["op"] == 2
        )
        assert identified == [[0, 2], [1, 2]]
        await tree.sync()
        for guild in (g1, g0):
            call = await double.slash_command(
                guild.id, guild.channels[0].id, guild.members[0].user_id, "ping"
            )
            await call.wait_for_reply()
    assert answered == [g1.id, g0.id]
    for shard, guild in ((0, g0), (1, g1)):
        events = received[shard]
        assert ("GUILD_CREATE", guild.id) in events
        assert ("INTERACTION_CREATE", guild.id) in events
        other = g1 if guild is g0 else g0
        assert all(g != other.id for _, g in events), events
