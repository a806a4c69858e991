"""The Discord double's enforce_nonce: per author, in any channel, for a few minutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest

from tests.plugins.discord_double import DiscordDouble
from tests.test_discord_double import MailBot


@pytest.fixture
async def bot(discord_double: DiscordDouble) -> AsyncIterator[MailBot]:
    bot = MailBot(discord_double.guild_id)
    async with discord_double.running(bot):
        yield bot


def _text_channels(bot: MailBot, d: DiscordDouble) -> list[discord.TextChannel]:
    guild = bot.get_guild(d.guild_id)
    assert guild is not None
    return [c for c in guild.channels if isinstance(c, discord.TextChannel)][:2]


async def test_a_repeated_nonce_returns_the_earlier_message_in_any_channel(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """A nonce the bot used minutes ago, even in another channel, returns that message and
    creates none; another nonce posts."""
    d = discord_double
    first, second = _text_channels(bot, d)
    earlier = await first.send("first alert", nonce="ms7")
    again = await second.send("another account's alert", nonce="ms7")
    assert again.id == earlier.id
    assert [m["content"] for m in d.channel_messages(second.id)] == []
    other = await second.send("another account's alert", nonce="mfresh")
    assert other.id != earlier.id
    assert [m["content"] for m in d.channel_messages(second.id)] == ["another account's alert"]
    assert [m["content"] for m in d.channel_messages(first.id)] == ["first alert"]


async def test_a_nonce_past_the_window_posts_again(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """After the dedupe window the same nonce creates a new message (Discord keeps nonces
    only for a few minutes; the window is scaled down here)."""
    d = discord_double
    d._nonces.window_seconds = 0.3
    channel, _ = _text_channels(bot, d)
    earlier = await channel.send("one", nonce="ms1")
    await asyncio.sleep(0.5)
    later = await channel.send("two", nonce="ms1")
    assert later.id != earlier.id
    assert [m["content"] for m in d.channel_messages(channel.id)] == ["one", "two"]
