"""POP3 download throughput: Mailsync's archive sync against fetchmail and getmail6.

One real Dovecot mailbox holds N messages of 3-4 KB (random sizes, fixed seed). Each tool
then downloads all N from it, fresh (no UIDL state from an earlier run), keeping the mail on
the server, over POP3S (implicit TLS, certificate verified against the rig's test CA):

- Mailsync: storage.archive.sync, retention keep, into a new SQLite store (mail.pop3.poll:
  pipelined RETR, messages parsed, zlib-compressed and committed in batches of 100).
- fetchmail (Debian package): -p POP3 --keep --fetchall --ssl --sslcertck --sslcertfile CA
  --bsmtp FILE --nosyslog, no daemon; a fresh FETCHMAILHOME, rcfile and idfile per run.
- getmail6: SimplePOP3SSLRetriever with ca_certs, Maildir destination, delete = false,
  read_all = true, verbose = 0, a fresh --getmaildir per run.

Before the timed runs one untimed pass RETRs every message and QUITs, so that Dovecot's
index, cache and \\Seen flags and the page cache are the same for every tool. Each run is
checked: the tool must have stored exactly the N Message-IDs that were delivered.
Times are wall clock; CPU is the client's user+system time (in-process for Mailsync,
wait4 rusage for the baselines, whose figures include their process start).

    .venv/bin/python -m bench.pop3                  # 5,000 messages
    .venv/bin/python -m bench.pop3 --messages 500 --rounds 3

Baselines (bench-only, not project dependencies):
    apt-get install fetchmail
    .venv/bin/pip install getmail6        (or: apt-get install getmail6)

This module is the entry point: the mailbox, the Mailsync runs, the timing loop and the
report. The fetchmail and getmail6 runners are in bench/_pop3_baselines.py; Target, Run and
the Message-ID check they all share are in bench/_pop3_common.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import poplib
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session, col, select

from bench._pop3_baselines import (
    INSTALL,
    baseline_version,
    fetchmail_config,
    getmail_binary,
    getmail_config,
    run_fetchmail,
    run_getmail,
)
from bench._pop3_common import BenchError, Run, Target, ids_in, verify
from bench._rig import dovecot_server
from mail import net, pop3
from mail.types import Protocol, Security, ServerConfig
from storage import archive, repo
from storage.db import make_engine, migrate
from storage.models import ArchivedMessage
from tests.plugins.dovecot import Dovecot, MailUser, make_message

TOOLS = ("mailsync", "fetchmail", "getmail6", "floor")
TARGETS = {"fetchmail": 5, "getmail6": 80}  # from the issue: Mailsync at least this much faster
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


# ---------------------------------------------------------------------- the tools


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mailsync_cfg(target: Target) -> ServerConfig:
    os.environ["SSL_CERT_FILE"] = target.dovecot.ca_file
    net.reset_tls_context()
    return ServerConfig(
        Protocol.POP3,
        target.dovecot.host,
        target.port,
        Security.TLS if target.tls else Security.NONE,
        target.user.name,
        target.user.password,
        timeout=120,
    )


def run_floor(target: Target, work: Path, expected: set[str]) -> Run:
    """Mailsync's protocol layer alone: log in, pipelined RETR of everything, bytes dropped.
    Not a product path: what the server, TLS and poplib cost before any parsing or storing."""
    cfg = _mailsync_cfg(target)
    found: list[str] = []
    cpu0, wall0 = _cpu_self(), time.perf_counter()
    with pop3.session(cfg, allow_private=True) as conn:
        count, _ = pop3.stat(conn)
        for _, raw in pop3.retrieve(conn, range(1, count + 1), conn.caps.pipelining):
            found.extend(ids_in(raw.split(b"\r\n\r\n", 1)[0]))
    wall, cpu = time.perf_counter() - wall0, _cpu_self() - cpu0
    return Run("floor", wall, cpu, verify("floor", found, expected))


def run_mailsync(target: Target, work: Path, expected: set[str]) -> Run:
    cfg = _mailsync_cfg(target)
    engine = make_engine(f"sqlite:///{work / 'mailsync.db'}")
    try:
        migrate(engine)
        account_id = repo.create_account(
            engine,
            repo.NewAccount(
                guild_id=1,
                channel_id=2,
                name="bench",
                protocol="pop3",
                host=target.dovecot.host,
                port=target.port,
                security="tls" if target.tls else "none",
                username=target.user.name,
                password_encrypted="unused",
                folders=("INBOX",),
                interval_minutes=5,
                created_by=3,
            ),
        ).id
        cpu0, wall0 = _cpu_self(), time.perf_counter()
        result = archive.sync(engine, account_id, cfg, archive.Retention("keep"), True)
        wall, cpu = time.perf_counter() - wall0, _cpu_self() - cpu0
        if result.failed or result.deleted:
            raise BenchError(f"mailsync: failed {len(result.failed)}, deleted {result.deleted}")
        with Session(engine) as session:
            found = session.exec(
                select(ArchivedMessage.message_id).where(
                    ArchivedMessage.account_id == account_id,
                    col(ArchivedMessage.raw_compressed).is_not(None),
                )
            ).all()
        got = verify("mailsync", [(m or "").strip("<>") for m in found], expected)
        if len(result.new) != got:
            raise BenchError(f"mailsync reported {len(result.new)} new but stored {got}")
    finally:
        engine.dispose()
    return Run("mailsync", wall, cpu, got)


RUNNERS: dict[str, Callable[[Target, Path, set[str]], Run]] = {
    "mailsync": run_mailsync,
    "fetchmail": run_fetchmail,
    "getmail6": run_getmail,
    "floor": run_floor,
}


def version(tool: str) -> str:
    if tool in ("mailsync", "floor"):
        return f"Python {sys.version.split()[0]}" + (", SQLite store" if tool == "mailsync" else "")
    return baseline_version(tool)


def configuration(tool: str, target: Target) -> str:
    if tool == "fetchmail":
        return fetchmail_config(target)
    if tool == "getmail6":
        return getmail_config(target)
    security = "Security.TLS (POP3S)" if target.tls else "Security.NONE"
    if tool == "floor":
        return (
            f"mail.pop3.session + retrieve (pipelined RETR), {security}, bytes dropped: "
            "no parse, no store; not a product path, the server+transport+poplib floor"
        )
    return f"archive.sync, Retention keep, {security}, SQLite WAL synchronous=FULL"


# ---------------------------------------------------------------------- main


def measure(count: int, seed: int, rounds: int, tools: list[str], tls: bool) -> dict:
    messages = build_messages(count, seed)
    expected = set(messages)
    total_bytes = sum(len(m) for m in messages.values())
    runs: dict[str, list[Run]] = {tool: [] for tool in tools}
    with dovecot_server() as dovecot:
        user = dovecot.add_user(quota_kib=max(200 * 1024, total_bytes * 3 // 1024))
        target = Target(dovecot, user, tls)
        wall0 = time.perf_counter()
        deliver(dovecot, user, list(messages.values()))
        delivered_s = time.perf_counter() - wall0
        on_server, server_bytes = warm_up(target)
        if on_server != count:
            raise BenchError(f"the mailbox holds {on_server} messages, expected {count}")
        load_before = os.getloadavg()[0]
        for _ in range(rounds):
            for tool in tools:
                with tempfile.TemporaryDirectory(prefix=f"bench-pop3-{tool}-") as tmp:
                    runs[tool].append(RUNNERS[tool](target, Path(tmp), expected))
        configs = {tool: configuration(tool, target) for tool in tools}
    return {
        "runs": runs,
        "configs": configs,
        "bytes": server_bytes,
        "delivered_s": delivered_s,
        "load": (load_before, os.getloadavg()[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1, help="runs per tool; median shown")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}"
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="every tool over plain POP3 (no TLS) instead of POP3S",
    )
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or not tools or args.messages < 1 or args.rounds < 1:
        parser.error(f"--tools takes {','.join(TOOLS)}; --messages and --rounds must be >= 1")
    found = {"fetchmail": shutil.which("fetchmail"), "getmail6": getmail_binary()}
    missing = [t for t in tools if t in found and found[t] is None]
    if missing:
        for tool in missing:
            print(f"{tool} is not installed; install it with: {INSTALL[tool]}", file=sys.stderr)
        print("(or leave it out with --tools)", file=sys.stderr)
        sys.exit(2)

    try:
        result = measure(args.messages, args.seed, args.rounds, tools, not args.plain)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)

    transport = "plain POP3 (no TLS)" if args.plain else "POP3S (implicit TLS, verified)"
    print(
        f"{args.messages} messages, {result['bytes'] / 1e6:.1f} MB ({MIN_SIZE}-{MAX_SIZE} B "
        f"each, seed {args.seed}), from Dovecot over {transport} on loopback, kept on the "
        f"server; {args.rounds} run(s) per tool, median shown"
    )
    print(f"(mailbox filled by IMAP MULTIAPPEND in {result['delivered_s']:.1f} s, untimed)")
    load = "/".join(f"{a:.1f}" for a in result["load"])
    print(
        f"(host: {os.cpu_count()} CPUs, load average before/after {load}: other work on the "
        "machine inflates every figure)"
    )
    print()
    print(
        f"{'tool':<12}{'messages':>10}{'wall s':>10}{'best s':>10}{'CPU s':>10}{'msg/s':>10}"
        "  version"
    )
    medians: dict[str, float] = {}
    for tool, runs in result["runs"].items():
        wall = statistics.median(r.wall for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        medians[tool] = wall
        print(
            f"{tool:<12}{runs[0].got:>10}{wall:>10.2f}{min(r.wall for r in runs):>10.2f}"
            f"{cpu:>10.2f}{args.messages / wall:>10.0f}  {version(tool)}"
        )
    print()
    if "mailsync" in medians:
        for tool in ("fetchmail", "getmail6"):
            if tool in medians:
                ratio = medians[tool] / medians["mailsync"]
                verdict = "met" if ratio >= TARGETS[tool] else "NOT met"
                print(
                    f"wall ratio {tool} / mailsync: {ratio:.1f}x "
                    f"(target >= {TARGETS[tool]}x: {verdict})"
                )
    if "floor" in medians:
        for tool in ("fetchmail", "getmail6"):
            if tool in medians:
                print(
                    f"wall ratio {tool} / floor: {medians[tool] / medians['floor']:.1f}x "
                    "(mailsync's ceiling with its POP3 layer, were parse and store free)"
                )
        if "mailsync" in medians:
            above = medians["mailsync"] - medians["floor"]
            print(
                f"mailsync above the floor: {above:.2f} s "
                f"({above / medians['mailsync']:.0%} of its wall: parse, compress, store)"
            )
    print()
    print("configuration:")
    for tool, text in result["configs"].items():
        print(f"  {tool:<10} {text}")


if __name__ == "__main__":
    main()
