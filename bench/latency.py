"""Delivery-to-post latency: IMAP IDLE push against interval polling, side by side.

Runs the real bot (bot.py, discord.py against the local Discord double) on a real Dovecot.
N messages are appended at random moments to two accounts at once: one watches INBOX (IDLE
push), the other watches a folder without push, polled every --poll-seconds (the product's
minimum interval is 60 s; a shorter one is used here so the run stays short — polling
latency grows with the interval, about half of it on average).

    .venv/bin/python -m bench.latency --messages 30
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from bench._rig import bot_harness, dovecot_server
from cogs.alerts import SWEEP_JOB
from storage import repo
from tests.plugins.dovecot import make_message


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(messages: int, poll_seconds: float, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    with dovecot_server() as dovecot:
        user = dovecot.add_user()
        async with bot_harness(dovecot) as harness, harness.running() as bot:
            await harness.add_account(user, name="idle", interval=60)
            await harness.add_account(user, name="poll", folders="Sent", interval=60)
            account = repo.find_account(bot.engine, harness.double.guild_id, "poll")
            alerts = bot.get_cog("Alerts").watcher
            # Bench only: an interval below the product's 1-minute minimum, and a sweep
            # tick of 0.5 s, so the polling side finishes in a reasonable time.
            alerts._watched[account.id].interval_minutes = poll_seconds / 60
            alerts.due_now(account.id)
            bot.scheduler.get_job(SWEEP_JOB).reschedule("interval", seconds=0.5)
            await asyncio.sleep(0.5)
            double = harness.double
            sent: dict[str, float] = {}
            for i in range(messages):
                await asyncio.sleep(rng.uniform(0.1, poll_seconds))
                for mode, folder in (("idle", "INBOX"), ("poll", "Sent")):
                    subject = f"{mode} {i}"
                    sent[subject] = time.monotonic()
                    dovecot.append(user, make_message(subject=subject), folder=folder)
            deadline = time.monotonic() + poll_seconds * 3 + 10
            while len(double.channel_messages(double.channel_id)) < 2 * messages:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            latencies: dict[str, list[float]] = {"idle": [], "poll": []}
            for request in double.find("POST", r"/channels/\d+/messages$", status=200):
                title = request.json["embeds"][0]["title"]
                if title in sent:
                    latencies[title.split(" ")[0]].append(request.monotonic - sent[title])
            return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--poll-seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = asyncio.run(measure(args.messages, args.poll_seconds, args.seed))
    print(f"{args.messages} messages per mode, delivered at random moments")
    print(f"{'mode':<24}{'posted':>8}{'p50 s':>10}{'p95 s':>10}{'max s':>10}")
    for mode, label in (("idle", "IDLE push"), ("poll", f"polling every {args.poll_seconds:g}s")):
        values = result[mode]
        if not values:
            print(f"{label:<24}{0:>8}")
            continue
        print(
            f"{label:<24}{len(values):>8}{statistics.median(values):>10.3f}"
            f"{percentile(values, 95):>10.3f}{max(values):>10.3f}"
        )
    if result["idle"] and result["poll"]:
        ratio = statistics.median(result["poll"]) / statistics.median(result["idle"])
        print(f"p50 ratio polling / IDLE: {ratio:.1f}x")


if __name__ == "__main__":
    main()
