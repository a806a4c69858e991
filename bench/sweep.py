"""One full sweep of many quiet IMAP accounts (no new mail), against the obvious way.

Mailsync keeps a logged-in session per account and sweeps them all with one multiplexed
STATUS round (mail/sessions.py, mail/sweep.py). Printed side by side, in the same run, on
the same Dovecot and accounts:
  - baseline: for each account reconnect with imapclient (connect, TLS, login, STATUS,
    logout), the way a poll-per-job design without kept sessions works;
  - kept sessions, one account at a time (imapclient STATUS on each kept session);
  - Mailsync's sweep.
Also printed: client memory per kept session (RSS growth / N), and how long APScheduler
takes to run N due jobs (one job per account) against one sweep job.

    .venv/bin/python -m bench.sweep --accounts 1000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from imapclient import IMAPClient

from bench._rig import dovecot_server
from mail import net
from mail.sessions import SessionPool
from mail.types import Protocol, Security, ServerConfig


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def baseline_poll(cfg: ServerConfig) -> None:
    client = IMAPClient(cfg.host, port=cfg.port, ssl=True, ssl_context=net.tls_context())
    client.login(cfg.username, cfg.password)
    client.folder_status("INBOX", [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"])
    client.logout()


async def scheduler_dispatch(n: int) -> tuple[float, float]:
    """Seconds until N due one-per-account jobs have all run, and until one sweep job has."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    done = asyncio.Event()
    ran = 0

    async def job() -> None:
        nonlocal ran
        ran += 1
        if ran == n:
            done.set()

    start = time.perf_counter()
    for i in range(n):
        scheduler.add_job(job, "interval", minutes=5, id=f"j{i}", next_run_time=datetime.now(UTC))
    await done.wait()
    many = time.perf_counter() - start
    scheduler.remove_all_jobs()
    done.clear()
    ran, n = 0, 1
    start = time.perf_counter()
    scheduler.add_job(job, "interval", minutes=1, id="sweep", next_run_time=datetime.now(UTC))
    await done.wait()
    one = time.perf_counter() - start
    scheduler.shutdown(wait=False)
    return many, one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="sweeps to time (median shown)")
    args = parser.parse_args()
    n = args.accounts
    with dovecot_server() as dovecot:
        os.environ["SSL_CERT_FILE"] = dovecot.ca_file
        net.reset_tls_context()
        users = [dovecot.add_user() for _ in range(n)]
        cfgs = [
            ServerConfig(
                Protocol.IMAP, dovecot.host, dovecot.imaps_port, Security.TLS, u.name, u.password
            )
            for u in users
        ]
        base_wall, base_cpu = timed(lambda: [baseline_poll(c) for c in cfgs])

        pool = SessionPool(allow_private=True)
        gc.collect()
        before = rss_kib()
        with ThreadPoolExecutor(8) as executor:  # bounded, like the bot's connect limit
            list(executor.map(lambda ic: pool.run(ic[0], ic[1], lambda c: None), enumerate(cfgs)))
        gc.collect()
        per_account_kib = (rss_kib() - before) / n

        def one_by_one() -> None:
            for i, cfg in enumerate(cfgs):
                pool.run(i, cfg, lambda c: c.folder_status("INBOX", [b"UIDNEXT", b"UIDVALIDITY"]))

        seq_wall, seq_cpu = timed(one_by_one)
        targets = {i: ["INBOX"] for i in range(n)}
        sweeps = []
        pool.sweep(targets)  # warm-up: Dovecot opens each mailbox's index the first time
        for _ in range(args.rounds):
            result: dict = {}
            wall, cpu = timed(lambda result=result: result.update(pool.sweep(targets)))
            answered = sum(1 for v in result.values() if v is not None)
            if answered != n:
                raise SystemExit(f"sweep answered {answered} of {n} accounts")
            sweeps.append((wall, cpu))
        sweep_wall = statistics.median(w for w, _ in sweeps)
        sweep_cpu = statistics.median(c for _, c in sweeps)
        pool.close_all()
    many_jobs, one_job = asyncio.run(scheduler_dispatch(n))

    print(f"{n} quiet IMAP accounts (INBOX each), Dovecot on loopback, TLS")
    print(f"{'way':<44}{'wall s':>9}{'CPU s':>9}{'vs sweep':>10}")
    rows = [
        ("baseline: reconnect + login + STATUS + logout", base_wall, base_cpu),
        ("kept sessions, STATUS one account at a time", seq_wall, seq_cpu),
        (f"Mailsync sweep (median of {args.rounds})", sweep_wall, sweep_cpu),
    ]
    for label, wall, cpu in rows:
        print(f"{label:<44}{wall:>9.3f}{cpu:>9.3f}{wall / sweep_wall:>9.1f}x")
    print(f"sweep wall per 1,000 accounts: {sweep_wall * 1000 / n:.3f} s")
    print(f"client memory per kept session: {per_account_kib:.1f} KiB")
    print(f"APScheduler: {n} due jobs ran in {many_jobs:.3f} s; one sweep job in {one_job:.4f} s")


if __name__ == "__main__":
    main()
