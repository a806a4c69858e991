"""The Discord double's rate limits and latency behave as Discord's do: a global limit of
50 requests a second (429 with X-RateLimit-Global), per-channel buckets of 5 posts per
5 s with their headers, exempt interaction routes, and a per-request latency."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import discord

from tests.plugins.discord_double import ChannelSpec, DiscordDouble, GuildSpec


def _post(double: DiscordDouble, channel_id: int, session: aiohttp.ClientSession):
    return session.post(
        f"{double.api_base}/channels/{channel_id}/messages",
        json={"content": "hello"},
        headers={"Authorization": "Bot fake-token"},
    )


async def _status_of(double, channel_id, session) -> tuple[int, dict, dict]:
    async with _post(double, channel_id, session) as response:
        return response.status, dict(response.headers), await response.json()


async def test_past_50_a_second_the_double_answers_a_global_429(discord_double):
    """60 posts at once over 60 channels (no channel bucket is full): the first 50 are
    served, the other 10 get 429 with X-RateLimit-Global: true and a retry_after that
    ends the second; after it, posts are served again."""
    d = discord_double
    d.guilds[0] = GuildSpec(channels=[ChannelSpec(name=f"c{i}") for i in range(60)])
    d.set_limits()
    channels = [c.id for c in d.guild.channels if c.type == 0][:60]
    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(_status_of(d, c, session) for c in channels))
        statuses = [status for status, _, _ in answers]
        assert statuses.count(200) == 50, statuses
        refused = [(h, body) for status, h, body in answers if status == 429]
        assert len(refused) == 10
        for headers, body in refused:
            assert headers["X-RateLimit-Global"] == "true"
            assert headers["X-RateLimit-Scope"] == "global"
            assert body["global"] is True
            assert 0 < body["retry_after"] <= 1.0
        assert len(d.global_429s()) == 10 and not d.route_429s()
        await asyncio.sleep(max(body["retry_after"] for _, body in refused) + 0.05)
        status, _, _ = await _status_of(d, channels[0], session)
        assert status == 200


async def test_a_channel_takes_5_posts_per_5_seconds_with_bucket_headers(discord_double):
    """Posts in one channel count down X-RateLimit-Remaining from 4 to 0; the sixth
    within the window is a route 429 (not global) with the wait until the window ends."""
    d = discord_double
    d.set_limits()
    async with aiohttp.ClientSession() as session:
        remaining = []
        for _ in range(5):
            status, headers, _ = await _status_of(d, d.channel_id, session)
            assert status == 200
            assert headers["X-RateLimit-Limit"] == "5"
            remaining.append(int(headers["X-RateLimit-Remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        status, headers, body = await _status_of(d, d.channel_id, session)
        assert status == 429
        assert "X-RateLimit-Global" not in headers and body["global"] is False
        assert 4.0 < body["retry_after"] <= 5.0
        assert len(d.route_429s()) == 1 and not d.global_429s()
        other = d.guild.channels[1].id  # another channel's bucket is untouched
        assert (await _status_of(d, other, session))[0] == 200


async def test_interaction_routes_are_exempt_from_the_global_limit(discord_double):
    """As on Discord, interaction callbacks and webhooks do not count towards the global
    limit and are not refused by it."""
    d = discord_double
    d.set_limits(global_per_second=3, channel_messages=None)
    url = f"{d.api_base}/webhooks/{d.application_id}/no-such-token"
    async with aiohttp.ClientSession() as session:
        for _ in range(10):
            async with session.post(url, json={"content": "x"}) as response:
                assert response.status == 404  # unknown webhook, but not rate limited
        assert not d.rate_limited


async def test_each_answer_leaves_the_latency_after_its_request(discord_double):
    """With 80 ms latency, answers take at least 80 ms each, and concurrent requests wait
    side by side, not one after another."""
    d = discord_double
    d.set_limits(latency=0.08)
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        await _status_of(d, d.channel_id, session)
        assert time.monotonic() - start >= 0.08
        channels = [c.id for c in d.guild.channels if c.type == 0]
        start = time.monotonic()
        await asyncio.gather(*(_status_of(d, c, session) for c in channels))
        assert time.monotonic() - start < 0.08 * len(channels)


async def test_discord_py_waits_out_the_global_429_and_posts_everything(discord_double):
    """The real discord.py client, bursting 60 posts: the double refuses some with a global
    429, discord.py waits the retry_after and retries, and every post lands once."""
    d = discord_double
    d.guilds[0] = GuildSpec(channels=[ChannelSpec(name=f"c{i}") for i in range(60)])
    d.set_limits()
    client = discord.Client(intents=discord.Intents.default())
    async with d.running(client):
        channels = [client.get_channel(c.id) for c in d.guild.channels if c.type == 0][:60]
        none = discord.AllowedMentions.none()
        await asyncio.gather(*(c.send("hello", allowed_mentions=none) for c in channels))
    assert d.global_429s(), "a burst of 60 should meet the global limit"
    assert all(len(d.channel_messages(c.id)) == 1 for c in channels)
