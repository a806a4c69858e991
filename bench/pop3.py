"""POP3 download throughput: Mailsync's archive sync against fetchmail and getmail6.

One real Dovecot mailbox holds N messages of 3-4 KB (random sizes, fixed seed). Each tool
then downloads all N from it, fresh (no UIDL state from an earlier run), keeping the mail on
the server, over POP3S (implicit TLS, certificate verified against the rig's test CA) or,
with --plain, plain POP3:

- Mailsync: watch.pop3_download.download, retention keep, into a new SQLite store
  (mail.pop3.poll: pipelined RETR, zstd-compressed and committed in batches of 1,000), then
  what the engine reads to announce it (watch/announce.py without rules: the newest 20
  rows, whose headers are read then; the other rows' headers when first needed).
- fetchmail (Debian package): -p POP3 --keep --fetchall --ssl --sslcertck --sslcertfile CA
  --bsmtp FILE --nosyslog, no daemon; a fresh FETCHMAILHOME, rcfile and idfile per run.
- getmail6: SimplePOP3SSLRetriever with ca_certs, Maildir destination, delete = false,
  read_all = true, verbose = 0, a fresh --getmaildir per run.
- poplib: a plain sequential poplib loop (RETR, wait, next), bytes dropped: what a naive
  client costs; the issue's outside measurement used one.
- floor: Mailsync's protocol layer alone (pipelined RETR, bytes dropped): not a product path.

Fairness: before the timed rounds one untimed pass RETRs every message and QUITs (Dovecot's
index, cache and \\Seen flags and the page cache are then the same for every tool), and each
tool runs once untimed (binaries, libraries and Python imports warm). Then every round runs
every tool once, in an order rotated by one each round, so that no tool always follows the
same neighbour (e.g. fetchmail right after Mailsync's fsyncs). Medians, min and max are
printed, and the ratios both from the medians and as the median of each round's own ratio
(a round's tools ran within seconds of each other, so a paired ratio survives load changes
better). Each run is checked: the tool must have stored exactly the N Message-IDs that were
delivered. Times are wall clock; CPU is the client's user+system time (in-process for
Mailsync, floor and poplib, wait4 rusage for the baselines, whose figures include their
process start, about 20 ms for fetchmail).

    .venv/bin/python -m bench.pop3                  # 5,000 messages, 5 rounds, POP3S
    .venv/bin/python -m bench.pop3 --messages 3000 --plain
    .venv/bin/python -m bench.pop3 --tools mailsync,floor --profile   # where Mailsync's time goes

Baselines (bench-only, not project dependencies):
    apt-get install fetchmail
    .venv/bin/pip install getmail6        (or: apt-get install getmail6)

This module is the entry point: the mailbox, the timing loop and the report. Mailsync's own
runners (Mailsync, floor, poplib) are in bench/_pop3_runners.py, the fetchmail and getmail6
runners in bench/_pop3_baselines.py; Target, Run and the Message-ID check they all share
are in bench/_pop3_common.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import poplib
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench._pop3_baselines import (
    INSTALL,
    baseline_version,
    fetchmail_config,
    getmail_binary,
    getmail_config,
    run_fetchmail,
    run_getmail,
)
from bench._pop3_common import BenchError, Run, Target
from bench._pop3_runners import run_floor, run_mailsync, run_poplib
from bench._rig import dovecot_server
from tests.plugins.dovecot import Dovecot, MailUser, make_message

TOOLS = ("mailsync", "fetchmail", "getmail6", "poplib", "floor")
DEFAULT_TOOLS = ("mailsync", "fetchmail", "poplib", "floor")  # getmail6 takes ~1 min a run
# From issue 11: Mailsync at least this much faster than each baseline, and within this
# factor of the floor measured in the same rounds.
TARGETS = {"fetchmail": 1.5, "getmail6": 80}
FLOOR_TARGET = 1.5
MIN_SIZE, MAX_SIZE = 3 * 1024, 4 * 1024


# ---------------------------------------------------------------------- the mailbox


def build_messages(count: int, seed: int) -> dict[str, bytes]:
    """Message-ID (without brackets) -> raw message, sizes uniform in 3-4 KB."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    out: dict[str, bytes] = {}
    for i in range(count):
        message_id = f"bench-{seed}-{i}@example.com"
        out[message_id] = make_message(
            subject=f"Bench message {i}",
            body=f"Message {i} of {count}.\n",
            size=rng.randint(MIN_SIZE, MAX_SIZE),
            date=start + dt.timedelta(minutes=i),
            message_id=f"<{message_id}>",
        )
    return out


def deliver(dovecot: Dovecot, user: MailUser, messages: list[bytes]) -> None:
    with dovecot.imap(user, timeout=120) as client:
        for start in range(0, len(messages), 250):
            client.multiappend("INBOX", messages[start : start + 250])


def warm_up(target: Target) -> tuple[int, int]:
    """RETR everything once and QUIT (untimed); returns STAT's (count, bytes)."""
    conn = poplib.POP3(target.dovecot.host, target.dovecot.pop3_port, timeout=60)
    try:
        conn.user(target.user.name)
        conn.pass_(target.user.password)
        count, size = conn.stat()
        for number in range(1, count + 1):
            conn.retr(number)
    finally:
        conn.quit()
    return count, size


RUNNERS: dict[str, Callable[[Target, Path, set[str]], Run]] = {
    "mailsync": run_mailsync,
    "fetchmail": run_fetchmail,
    "getmail6": run_getmail,
    "poplib": run_poplib,
    "floor": run_floor,
}


def version(tool: str) -> str:
    if tool in ("mailsync", "floor", "poplib"):
        return f"Python {sys.version.split()[0]}" + (", SQLite store" if tool == "mailsync" else "")
    return baseline_version(tool)


def configuration(tool: str, target: Target) -> str:
    if tool == "fetchmail":
        return fetchmail_config(target)
    if tool == "getmail6":
        return getmail_config(target)
    security = "Security.TLS (POP3S)" if target.tls else "Security.NONE"
    if tool == "poplib":
        return "poplib.POP3(_SSL): USER/PASS, STAT, RETR 1..N one at a time, QUIT; bytes dropped"
    if tool == "floor":
        return (
            f"mail.pop3.session + retrieve (pipelined RETR), {security}, bytes dropped: "
            "no parse, no store; not a product path, the server+transport+poplib floor"
        )
    return f"download, Retention keep, {security}, SQLite WAL synchronous=FULL"


# ---------------------------------------------------------------------- main


def rotation(tools: list[str], round_index: int) -> list[str]:
    """Round r runs the tools rotated by r: each tool takes each position, and follows a
    different neighbour, as often as the rounds allow."""
    shift = round_index % len(tools)
    return tools[shift:] + tools[:shift]


def _run(tool: str, target: Target, expected: set[str]) -> Run:
    with tempfile.TemporaryDirectory(prefix=f"bench-pop3-{tool}-") as tmp:
        return RUNNERS[tool](target, Path(tmp), expected)


def measure(count: int, seed: int, rounds: int, tools: list[str], tls: bool, warmups: int) -> dict:
    messages = build_messages(count, seed)
    expected = set(messages)
    runs: dict[str, list[Run]] = {tool: [] for tool in tools}
    orders: list[list[str]] = []
    with dovecot_server() as dovecot:
        user = dovecot.add_user(quota_kib=max(200 * 1024, total_bytes(messages) * 3 // 1024))
        target = Target(dovecot, user, tls)
        wall0 = time.perf_counter()
        deliver(dovecot, user, list(messages.values()))
        delivered_s = time.perf_counter() - wall0
        on_server, server_bytes = warm_up(target)
        if on_server != count:
            raise BenchError(f"the mailbox holds {on_server} messages, expected {count}")
        gc.freeze()  # as bot.main does after start-up: no full collection walks the rig's objects
        for _ in range(warmups):  # untimed, checked like the others
            for tool in tools:
                _run(tool, target, expected)
        load_before = os.getloadavg()
        for index in range(rounds):
            order = rotation(tools, index)
            orders.append(order)
            for tool in order:
                runs[tool].append(_run(tool, target, expected))
        configs = {tool: configuration(tool, target) for tool in tools}
    return {
        "runs": runs,
        "orders": orders,
        "configs": configs,
        "bytes": server_bytes,
        "delivered_s": delivered_s,
        "load": (load_before, os.getloadavg()),
    }


def total_bytes(messages: dict[str, bytes]) -> int:
    return sum(len(m) for m in messages.values())


def profile(count: int, seed: int, tls: bool, top: int) -> None:
    """One Mailsync run under cProfile (after an untimed warm-up run), printed by internal
    and by cumulative time: where the download path spends its time."""
    import cProfile
    import pstats

    messages = build_messages(count, seed)
    expected = set(messages)
    with dovecot_server() as dovecot:
        user = dovecot.add_user(quota_kib=max(200 * 1024, total_bytes(messages) * 3 // 1024))
        target = Target(dovecot, user, tls)
        deliver(dovecot, user, list(messages.values()))
        warm_up(target)
        plain = _run("mailsync", target, expected)
        profiler = cProfile.Profile()
        profiler.enable()
        profiled = _run("mailsync", target, expected)
        profiler.disable()
    print(
        f"mailsync {count} messages: {plain.wall:.3f} s unprofiled, {profiled.wall:.3f} s profiled"
    )
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def _stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def paired_ratio(runs: dict[str, list[Run]], over: str, under: str) -> tuple[float, float, float]:
    """Each round's wall of `over` divided by the same round's wall of `under`: median, min, max."""
    return _stats([a.wall / b.wall for a, b in zip(runs[over], runs[under], strict=True)])


def report(result: dict, messages: int, seed: int, rounds: int, warmups: int, plain: bool) -> None:
    transport = "plain POP3 (no TLS)" if plain else "POP3S (implicit TLS, verified)"
    print(
        f"{messages} messages, {result['bytes'] / 1e6:.1f} MB ({MIN_SIZE}-{MAX_SIZE} B "
        f"each, seed {seed}), from Dovecot over {transport} on loopback, kept on the server"
    )
    print(
        f"(mailbox filled by IMAP MULTIAPPEND in {result['delivered_s']:.1f} s, untimed; one "
        f"untimed RETR pass, {warmups} untimed run(s) per tool, then {rounds} round(s), tools "
        "rotated each round)"
    )
    load = " -> ".join("/".join(f"{a:.2f}" for a in sample) for sample in result["load"])
    print(
        f"(host: {os.cpu_count()} CPUs; load average 1/5/15 min before -> after the rounds: "
        f"{load}; other work on the machine inflates every figure, same-round ratios less)"
    )
    print()
    print(
        f"{'tool':<11}{'median s':>9}{'min s':>8}{'max s':>8}{'ms/msg':>8}{'CPU s':>8}"
        f"{'msg/s':>8}  version"
    )
    medians: dict[str, float] = {}
    runs: dict[str, list[Run]] = result["runs"]
    for tool, tool_runs in runs.items():
        wall, low, high = _stats([r.wall for r in tool_runs])
        cpu = statistics.median(r.cpu for r in tool_runs)
        medians[tool] = wall
        print(
            f"{tool:<11}{wall:>9.3f}{low:>8.3f}{high:>8.3f}{wall / messages * 1000:>8.3f}"
            f"{cpu:>8.2f}{messages / wall:>8.0f}  {version(tool)}"
        )
    print()
    print("ratios (of medians; and the median [min-max] of each round's own ratio):")
    if "mailsync" in medians and "floor" in medians:
        ratio = medians["mailsync"] / medians["floor"]
        paired = paired_ratio(runs, "mailsync", "floor")
        verdict = "met" if paired[0] <= FLOOR_TARGET else "NOT met"
        print(
            f"  mailsync / floor     {ratio:5.2f}x  paired {paired[0]:.2f}x "
            f"[{paired[1]:.2f}-{paired[2]:.2f}]  (target <= {FLOOR_TARGET}x: {verdict})"
        )
    for tool in ("fetchmail", "getmail6", "poplib"):
        if tool in medians and "mailsync" in medians:
            ratio = medians[tool] / medians["mailsync"]
            paired = paired_ratio(runs, tool, "mailsync")
            target = TARGETS.get(tool)
            verdict = (
                f"  (target >= {target}x: {'met' if paired[0] >= target else 'NOT met'})"
                if target
                else ""
            )
            print(
                f"  {tool + ' / mailsync':<20} {ratio:5.2f}x  paired {paired[0]:.2f}x "
                f"[{paired[1]:.2f}-{paired[2]:.2f}]{verdict}"
            )
    if "mailsync" in medians and "floor" in medians:
        above = medians["mailsync"] - medians["floor"]
        print(
            f"  mailsync above the floor: {above:.3f} s "
            f"({above / medians['mailsync']:.0%} of its wall: UIDL, store, announcement reads)"
        )
    print()
    print("order per round: " + "; ".join(",".join(order) for order in result["orders"]))
    print("configuration:")
    for tool, text in result["configs"].items():
        print(f"  {tool:<10} {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per tool")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--tools",
        default=",".join(DEFAULT_TOOLS),
        help=f"comma-separated subset of {','.join(TOOLS)} (default {','.join(DEFAULT_TOOLS)})",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="every tool over plain POP3 (no TLS) instead of POP3S",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the comparison, one Mailsync run under cProfile",
    )
    args = parser.parse_args()
    if args.profile:
        profile(args.messages, args.seed, not args.plain, top=35)
        return
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or not tools or args.messages < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error(
            f"--tools takes {','.join(TOOLS)}; --messages and --rounds must be >= 1, --warmup >= 0"
        )
    found = {"fetchmail": shutil.which("fetchmail"), "getmail6": getmail_binary()}
    missing = [t for t in tools if t in found and found[t] is None]
    if missing:
        for tool in missing:
            print(f"{tool} is not installed; install it with: {INSTALL[tool]}", file=sys.stderr)
        print("(or leave it out with --tools)", file=sys.stderr)
        sys.exit(2)

    try:
        result = measure(args.messages, args.seed, args.rounds, tools, not args.plain, args.warmup)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    report(result, args.messages, args.seed, args.rounds, args.warmup, args.plain)


if __name__ == "__main__":
    main()
