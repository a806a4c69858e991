"""POP3 as a user sees it: `/mail check` from the command to its reply, through the bot and
the Discord double, for a mailbox of N new messages, beside the download-only floor and
fetchmail on the same mailbox in the same round (issue 11 measured the bot this way).

Each round: a new Dovecot user, `/mail add` of an empty POP3 account (retention keep), N
messages delivered, one untimed RETR pass (Dovecot's index warm), then the three in an
order rotated each round: `/mail check` (the bot downloads, stores, reads the headers of
the mail its digest shows, queues the digest and replies), the floor (pipelined RETR, bytes
dropped) and fetchmail (--bsmtp, as bench.pop3 runs it). The bot runs in this process on
its own event loop thread pool, as `python bot.py` would, start-up objects frozen as
bot.main does. Wall times; medians of the rounds.

    .venv/bin/python -m bench.pop3_check --messages 3000 --rounds 5 --plain
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path

from bench._pop3_baselines import run_fetchmail
from bench._pop3_common import Target
from bench._pop3_runners import run_floor
from bench._rig import bot_harness, dovecot_server
from bench.pop3 import build_messages, deliver, rotation, warm_up


async def measure(count: int, rounds: int, tls: bool) -> dict[str, list[float]]:
    messages = build_messages(count, seed=1)
    expected = set(messages)
    times: dict[str, list[float]] = {"check": [], "floor": [], "fetchmail": []}
    with dovecot_server() as dovecot:
        async with bot_harness(dovecot) as harness, harness.running():
            gc.freeze()
            for index in range(rounds + 1):  # the first round is a warm-up, not counted
                user = dovecot.add_user(quota_kib=200 * 1024)
                target = Target(dovecot, user, tls)
                name = f"pop{index}"
                _, reply = await harness.add_account(
                    user,
                    protocol="pop3",
                    port=target.port,
                    security="tls" if tls else "none",
                    name=name,
                    interval=60,
                )  # retention keep, the default: every tool finds the same mailbox
                if f"Watching `{name}`" not in reply:
                    raise RuntimeError(f"/mail add failed: {reply}")
                deliver(dovecot, user, list(messages.values()))
                warm_up(target)
                for tool in rotation(list(times), index):
                    if tool == "check":
                        started = time.perf_counter()
                        handle = await harness.command("mail check", {"account": name})
                        text = await harness.reply_text(handle, timeout=120)
                        took = time.perf_counter() - started
                        if f"{count} new messages" not in text:
                            raise RuntimeError(f"/mail check replied: {text}")
                    else:
                        run = run_floor if tool == "floor" else run_fetchmail
                        with tempfile.TemporaryDirectory() as tmp:
                            took = (await asyncio.to_thread(run, target, Path(tmp), expected)).wall
                    if index:
                        times[tool].append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--plain", action="store_true", help="plain POP3 instead of POP3S")
    args = parser.parse_args()
    times = asyncio.run(measure(args.messages, args.rounds, not args.plain))
    transport = "plain POP3" if args.plain else "POP3S"
    print(f"{args.messages} messages over {transport}, {args.rounds} rounds, medians [min-max]:")
    for tool, values in times.items():
        print(
            f"  {tool:10s} {statistics.median(values):6.3f} s  "
            f"[{min(values):.3f}-{max(values):.3f}]"
        )
    check, floor = statistics.median(times["check"]), statistics.median(times["floor"])
    fetchmail = statistics.median(times["fetchmail"])
    print(f"  /mail check / floor     {check / floor:.2f}x")
    print(f"  fetchmail / /mail check {fetchmail / check:.2f}x")


if __name__ == "__main__":
    main()
