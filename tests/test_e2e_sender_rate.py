"""End to end, the real bot's outbox sender against a double that limits like Discord
(50 requests a second, 5 posts per 5 s per channel, 80 ms a request): channels are sent
concurrently, each channel in order and once, and the bot plans under the global limit
instead of running into it."""

from __future__ import annotations

import asyncio
import itertools

from storage import outbox, repo
from storage.outbox import Alert
from tests.plugins.discord_double import ChannelSpec
from tests.store_helpers import new_account

LATENCY = 0.08


async def _backlog(harness, channels: int, per_channel: int) -> list[int]:
    """`per_channel` alerts in each of `channels` new channels, queued round-robin (ids
    interleave across channels) on one account; returns the channels' ids."""
    d, bot = harness.double, harness.bot
    ids = [c.id for c in d.guild.channels[-channels:]]
    account = await asyncio.to_thread(
        repo.create_account, bot.engine, new_account(guild_id=d.guild_id, channel_id=ids[0])
    )
    alerts = [
        Alert({"title": f"{channel} {i}"}, mention=False, channel_id=channel)
        for i, channel in itertools.product(range(per_channel), ids)
    ]
    await asyncio.to_thread(outbox.enqueue, bot.engine, account, alerts)
    harness.alerts.sender.poke()
    return ids


async def _all_posted(harness, ids: list[int], per_channel: int, timeout: float) -> None:
    d = harness.double
    async with asyncio.timeout(timeout):
        while any(len(d.channel_messages(c)) < per_channel for c in ids):
            await asyncio.sleep(0.05)


def _add_channels(double, count: int) -> None:
    double.guild.channels.extend(ChannelSpec(name=f"alerts-{i}") for i in range(count))


async def test_channels_go_concurrently_each_in_order_and_once(harness):
    """24 channels of 8 alerts each, queued interleaved: every channel's posts arrive in
    the order queued, each once, while requests to different channels overlap (most gaps
    between arrivals under one request's latency, which one at a time cannot do)."""
    d = harness.double
    _add_channels(d, 24)
    async with harness.running():
        d.set_limits(latency=LATENCY)
        mark = len(d.requests)
        ids = await _backlog(harness, 24, 8)
        await _all_posted(harness, ids, 8, timeout=90)
        for channel in ids:
            titles = [p["embeds"][0]["title"] for p in d.channel_messages(channel)]
            assert titles == [f"{channel} {i}" for i in range(8)]
        posts = [r for r in d.requests[mark:] if r.method == "POST" and r.status == 200]
        # One at a time, a post leaves only after the previous answer, LATENCY after its
        # arrival: a shorter gap between arrivals means two were in flight together.
        gaps = [b.monotonic - a.monotonic for a, b in itertools.pairwise(posts)]
        overlapping = sum(gap < LATENCY for gap in gaps)
        assert overlapping > len(gaps) / 2, "posts went one after another, not concurrently"


async def test_a_burst_across_channels_draws_no_global_429(harness):
    """300 alerts across 100 channels at once, with 80 ms a request: the double answers
    no global 429 and no channel 429 (one lane per channel sending at full speed would
    ask for over 1,000 requests a second), and every alert is posted once."""
    d = harness.double
    _add_channels(d, 100)
    async with harness.running():
        d.set_limits(latency=LATENCY)
        ids = await _backlog(harness, 100, 3)
        await _all_posted(harness, ids, 3, timeout=120)
        assert d.global_429s() == []
        assert d.route_429s() == []
        assert all(len(d.channel_messages(c)) == 3 for c in ids)
        # Planned, not just lucky: no second of arrivals held more than 50 requests.
        times = sorted(
            r.monotonic for r in d.requests if not r.path.startswith(("/interactions", "/webhooks"))
        )
        assert max(j - i for i, j in _windows(times)) <= 50


def _windows(times: list[float]) -> list[tuple[int, int]]:
    """For each request, its index and the index past the last one within 1 s of it."""
    out, end = [], 0
    for start, t in enumerate(times):
        while end < len(times) and times[end] - t < 1.0:
            end += 1
        out.append((start, end))
    return out
