"""Alerts at Discord's rate limit: the real bot against a Discord double that limits like
Discord (50 requests a second per bot, 5 posts per 5 s per channel) and takes 80 ms a
request, with a real Dovecot over TLS. Printed, in the same run:
  - drain: 3,000 alerts across 300 channels held by an outage; from the probe that ends
    the outage to the last post, against the floor Discord's limits set (3,000 / 50 a
    second = 60 s), achieved requests a second, 429s (global and per channel);
  - the baseline: the same delivery one row after another (the sender before lanes, as
    `_deliver` in a plain loop), over the first --baseline alerts of another such backlog,
    its rate and the drain time it implies;
  - burst: N accounts idling on IMAP each get one mail at the same moment (APPENDs over
    connections opened beforehand); p50/p99 from each APPEND's completion to its post
    reaching the double, against the floor (N / 50 a second).

    .venv/bin/python -m bench.alert_rate                        # 3,000 / 300, 1,000 accounts
    .venv/bin/python -m bench.alert_rate --accounts 200 --alerts 600 --channels 60
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench._rig import bot_harness, dovecot_server
from bench.sweep import percentile, raise_inotify_limit
from storage import outbox, repo
from storage.outbox import Alert
from tests.plugins.discord_double import ChannelSpec
from tests.plugins.dovecot import make_message
from tests.store_helpers import new_account

LATENCY = 0.08
GLOBAL = 50
POSTS = r"/channels/\d+/messages$"


@dataclass
class Drain:
    alerts: int = 0
    seconds: float = 0.0
    global_429: int = 0
    route_429: int = 0
    baseline_alerts: int = 0
    baseline_seconds: float = 0.0
    per_second: list[int] = field(default_factory=list)  # posts served in each second

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds

    @property
    def baseline_rate(self) -> float:
        return self.baseline_alerts / self.baseline_seconds


@dataclass
class Burst:
    accounts: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0  # first APPEND done to last post
    global_429: int = 0
    route_429: int = 0


def _titles_posted(double, mark: int) -> dict[str, float]:
    """Title -> arrival time of each post the double served since `mark`."""
    out = {}
    for r in double.requests[mark:]:
        if r.method == "POST" and r.status == 200 and r.path.endswith("/messages"):
            out[r.json["embeds"][0]["title"]] = r.monotonic
    return out


async def _queue(harness, channels: list[int], per_channel: int, tag: str) -> None:
    bot = harness.bot
    account = await asyncio.to_thread(
        repo.create_account,
        bot.engine,
        new_account(guild_id=harness.double.guild_id, channel_id=channels[0], name=tag),
    )
    alerts = [
        Alert({"title": f"{tag} {channel} {i}"}, mention=False, channel_id=channel)
        for i, channel in itertools.product(range(per_channel), channels)
    ]
    await asyncio.to_thread(outbox.enqueue, bot.engine, account, alerts)


async def _until_posted(double, mark: int, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(_titles_posted(double, mark)) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(_titles_posted(double, mark))} of {count} posted")
        await asyncio.sleep(0.2)


async def drain(harness, channels: list[int], per_channel: int, baseline: int) -> Drain:
    d, sender = harness.double, harness.alerts.sender
    figures = Drain(alerts=len(channels) * per_channel)
    sender.probe_first = sender.probe_max = 1.0  # the outage's end is not what is measured
    d.fail_for("POST", POSTS, 3600)
    mark = len(d.requests)
    await _queue(harness, channels, per_channel, "drain")
    sender.poke()
    await d.wait_for(method="POST", path=POSTS, status=503, after=mark, timeout=60)
    limited = len(d.rate_limited)
    d.clear_status()  # Discord answers again: the next probe ends the outage
    await _until_posted(d, mark, figures.alerts, timeout=figures.alerts)
    served = [r.monotonic for r in d.requests[mark:] if r.status == 200 and r.method == "POST"]
    figures.seconds = max(served) - min(served) + LATENCY  # the last answer included
    figures.per_second = [0] * (int(max(served) - min(served)) + 1)
    for t in served:
        figures.per_second[int(t - min(served))] += 1
    figures.global_429 = sum(s == "global" for _, s in d.rate_limited[limited:])
    figures.route_429 = sum(s == "user" for _, s in d.rate_limited[limited:])

    # The baseline: the same rows, delivered one after another by the sender's own step.
    await sender.stop()
    mark = len(d.requests)
    await _queue(harness, channels, per_channel, "baseline")
    rows = await asyncio.to_thread(outbox.due, harness.bot.engine, outbox.utcnow(), baseline)
    start = time.monotonic()
    for row in rows:
        await sender._deliver(row)
    figures.baseline_seconds = time.monotonic() - start
    figures.baseline_alerts = len(rows)
    return figures


async def burst(harness, dovecot, users, channels: list[int]) -> Burst:
    d = harness.double
    figures = Burst(accounts=len(users))
    for i, user in enumerate(users):
        _, reply = await harness.add_account(
            user, name=f"b{i}", interval=1, channel=channels[i % len(channels)]
        )
        if "Watching" not in reply:
            raise SystemExit(f"/mail add failed: {reply[:300]}")
    ids = [harness.account_id(f"b{i}") for i in range(len(users))]
    deadline = time.monotonic() + 300
    while sum(harness.idle_client(a) is not None for a in ids) < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit("not every account idles after 300 s")
        await asyncio.sleep(0.5)
    await harness.posts(timeout=120)  # nothing pending from the adds
    await asyncio.sleep(2)
    clients = await asyncio.to_thread(lambda: [dovecot.imap(u) for u in users])
    d.set_limits(latency=LATENCY)
    mark, limited = len(d.requests), len(d.rate_limited)
    delivered: dict[str, float] = {}

    def deliver(i: int) -> None:
        clients[i].append("INBOX", make_message(subject=f"burst {i}"))
        delivered[f"burst {i}"] = time.monotonic()

    with ThreadPoolExecutor(32) as pool:
        await asyncio.gather(
            *(
                asyncio.get_running_loop().run_in_executor(pool, deliver, i)
                for i in range(len(users))
            )
        )
    await _until_posted(d, mark, len(users), timeout=300)
    posted = _titles_posted(d, mark)
    figures.latencies = [posted[t] + LATENCY - delivered[t] for t in delivered]
    figures.seconds = max(posted.values()) + LATENCY - min(delivered.values())
    figures.global_429 = sum(s == "global" for _, s in d.rate_limited[limited:])
    figures.route_429 = sum(s == "user" for _, s in d.rate_limited[limited:])
    for client in clients:
        client.logout()
    d.set_limits(latency=0.0, global_per_second=None, channel_messages=None)
    return figures


async def measure(args) -> tuple[Burst | None, Drain]:
    with dovecot_server() as dovecot:
        users = [dovecot.add_user() for _ in range(args.accounts)]
        async with bot_harness(dovecot, max_accounts_per_guild=args.accounts + 10) as harness:
            harness.double.guild.channels.extend(
                ChannelSpec(name=f"alerts-{i}") for i in range(args.channels)
            )
            channels = [c.id for c in harness.double.guild.channels[-args.channels :]]
            async with harness.running():
                result = None
                if users:
                    result = await burst(harness, dovecot, users, channels[: args.burst_channels])
                harness.double.set_limits(latency=LATENCY)
                drained = await drain(
                    harness, channels, args.alerts // args.channels, args.baseline
                )
                return result, drained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000, help="burst: 0 skips it")
    parser.add_argument("--burst-channels", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=3000, help="drain: the backlog")
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--baseline", type=int, default=300, help="alerts sent one by one")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # bot and APPEND clients: 2 x N
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.accounts + 1024)), hard)
    )
    print(raise_inotify_limit())
    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}")
    result, drained = asyncio.run(measure(args))
    floor = drained.alerts / GLOBAL
    print(
        f"\nDrain: {drained.alerts} alerts in {args.channels} channels after an outage, "
        f"{LATENCY * 1000:.0f} ms a request"
    )
    print(
        f"  lanes under the global pacer: {drained.seconds:.1f} s = {drained.seconds / floor:.3f}x "
        f"the {floor:.0f} s floor, {drained.rate:.1f} requests/s; 429s: "
        f"{drained.global_429} global, {drained.route_429} per channel"
    )
    projected = drained.alerts / drained.baseline_rate
    print(
        f"  baseline one at a time ({drained.baseline_alerts} alerts): "
        f"{drained.baseline_rate:.1f} requests/s, so {projected:.0f} s "
        f"for the backlog = {projected / floor:.2f}x the floor"
    )
    print(f"  speed-up over the baseline: {drained.rate / drained.baseline_rate:.1f}x")
    print(f"  posts served in each second: {' '.join(map(str, drained.per_second))}")
    if result is not None:
        n, lat = result.accounts, result.latencies
        print(f"\nBurst: {n} IDLE accounts, one mail each at the same moment")
        print(
            f"  delivery to post: p50 {statistics.median(lat):.2f} s, "
            f"p99 {percentile(lat, 99):.2f} s, "
            f"max {max(lat):.2f} s (floor {n / GLOBAL:.0f} s); all posted {result.seconds:.1f} s "
            f"after the first delivery, {n / result.seconds:.1f} requests/s; 429s: "
            f"{result.global_429} global, {result.route_429} per channel"
        )
    with open("/proc/loadavg") as f:
        print(f"load average at end: {' '.join(f.read().split()[:3])}")


if __name__ == "__main__":
    main()
