"""Many quiet IMAP accounts, measured from outside the bot process, against the obvious way.

The bot runs as its own process (`python bot.py`, bench/_bot_process.py) against the
bench's Discord double and a real Dovecot over TLS; N accounts are registered through
/mail add, as a user would. Printed side by side, in the same run:
  - connections per account, from the bot's sockets and from Dovecot (`doveadm who`);
  - the bot process's RSS growth per account (before and after registering them; ten
    accounts are registered first so that lazily loaded code is not counted);
  - the bot process's whole CPU per minute while quiet (scheduler ticks, IDLE, gateway),
    measured over a window without IDLE renewals (120 s by default: Dovecot sends every
    idling connection from one address its "* OK Still here" in the same second every
    2 minutes, so a window must be a multiple of that to count them fairly), then with the
    bot restarted to renew IDLE (and read quota) every minute, 24x the default rate; that
    whole minute's CPU, over 24, is added as the renewals' share at the default 24-minute
    renewal (an overestimate: it counts that minute's scheduler ticks and gateway again);
  - the baseline: one reconnect-per-poll sweep of the same accounts (connect, TLS, login,
    STATUS, logout), client CPU in this process;
  - new-mail latency with all N connected: appended to random accounts' INBOX, timed
    until the alert reaches the Discord double's API;
  - startup with N accounts: how long until every account is connected again;
  - for servers without IDLE, kept sessions swept by one multiplexed STATUS round
    (in-process, as before) against STATUS one account at a time.

    .venv/bin/python -m bench.sweep --accounts 1000
    .venv/bin/python -m bench.sweep --accounts 200 --two-way   # only two-way on vs off

`--two-way` runs only the engine's sweep with two-way tracking on (live alerts inserted
in the store, `--alerts` per account) against tracking off (bench/_two_way.py).

Dovecot runs with imap-hibernate and limits raised for N sessions, and as root the bench
raises fs.inotify.max_user_instances (one per IDLE session; past the default 128 Dovecot
falls back to 30-second checks) and open files (bench/_scale_rig.py). The bot starts with
a soft limit of 1024 open files, as on most hosts, and raises it itself.

    .venv/bin/python -m bench.sweep --accounts 10000 --probes 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from imapclient import IMAPClient

from bench import _scale_rig
from bench._sweep_bot import SLICE_SECONDS, hub_calls, loop_calls, run_bot
from mail import net
from mail.sessions import SessionPool
from mail.types import Protocol, Security, ServerConfig


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
        scheduler.add_job(  # no misfire grace: at 10,000 some start over 1 s late
            job,
            "interval",
            minutes=5,
            id=f"j{i}",
            next_run_time=datetime.now(UTC),
            misfire_grace_time=None,
        )
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


def raise_inotify_limit() -> str:
    path = Path("/proc/sys/fs/inotify/max_user_instances")
    try:
        if int(path.read_text()) < 8192:
            path.write_text("8192")
        return f"fs.inotify.max_user_instances = {path.read_text().strip()}"
    except (OSError, ValueError) as exc:
        return f"fs.inotify.max_user_instances unchanged ({exc}); run as root for >128 IDLE"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def parked_sweep(cfgs: list[ServerConfig], rounds: int) -> tuple[float, float, float, float]:
    """Servers without IDLE: kept sessions, one at a time vs one multiplexed round."""
    n = len(cfgs)
    pool = SessionPool(allow_private=True)
    with ThreadPoolExecutor(8) as executor:  # bounded, like the bot's connect limit
        list(executor.map(lambda ic: pool.run(ic[0], ic[1], lambda c: None), enumerate(cfgs)))

    def one_by_one() -> None:
        for i, cfg in enumerate(cfgs):
            pool.run(i, cfg, lambda c: c.folder_status("INBOX", [b"UIDNEXT", b"UIDVALIDITY"]))

    seq_wall, seq_cpu = timed(one_by_one)
    targets = {i: ["INBOX"] for i in range(n)}
    sweeps = []
    pool.sweep(targets)  # warm-up: Dovecot opens each mailbox's index the first time
    for _ in range(rounds):
        result: dict = {}
        wall, cpu = timed(lambda result=result: result.update(pool.sweep(targets)))
        answered = sum(1 for v in result.values() if v is not None)
        if answered != n:
            raise SystemExit(f"sweep answered {answered} of {n} accounts")
        sweeps.append((wall, cpu))
    pool.close_all()
    return (
        seq_wall,
        seq_cpu,
        statistics.median(w for w, _ in sweeps),
        statistics.median(c for _, c in sweeps),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument(
        "--quiet-seconds", type=float, default=120.0, help="a multiple of Dovecot's 2 minutes"
    )
    parser.add_argument("--probes", type=int, default=20, help="latency probes")
    parser.add_argument("--rounds", type=int, default=5, help="parked sweeps (median shown)")
    parser.add_argument("--no-parked", action="store_true", help="skip servers without IDLE")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds from all connected to the quiet window"
    )
    parser.add_argument("--profile", help="py-spy the quiet window into this folder")
    parser.add_argument(
        "--profile-hub", action="store_true", help="with --profile: cProfile the IDLE hub (slower)"
    )
    parser.add_argument(
        "--profile-loop", action="store_true", help="with --profile: cProfile the event loop"
    )
    parser.add_argument("--keep-logs", help="copy the bot's and Dovecot's logs to this folder")
    parser.add_argument("--two-way", action="store_true", help="only: tracking on vs off")
    parser.add_argument("--alerts", type=int, default=500, help="--two-way: per account")
    args = parser.parse_args()
    n = args.accounts
    if args.two_way:
        two_way_main(n, args.alerts, args.rounds)
        return
    inotify = "; ".join(_scale_rig.raise_host_limits(n))
    with _scale_rig.scale_dovecot(n) as dovecot, tempfile.TemporaryDirectory() as tmp:
        os.environ["SSL_CERT_FILE"] = dovecot.ca_file
        net.reset_tls_context()
        users = [dovecot.add_user() for _ in range(n)]
        cfgs = [
            ServerConfig(
                Protocol.IMAP, dovecot.host, dovecot.imaps_port, Security.TLS, u.name, u.password
            )
            for u in users
        ]
        for cfg in cfgs[:50]:  # warm-up
            baseline_poll(cfg)
        base_wall, base_cpu = timed(lambda: [baseline_poll(c) for c in cfgs])
        try:
            figures = asyncio.run(
                run_bot(
                    dovecot,
                    users,
                    args.quiet_seconds,
                    args.probes,
                    Path(tmp),
                    args.settle,
                    Path(args.profile) if args.profile else None,
                    args.profile_hub,
                    args.profile_loop,
                )
            )
        finally:  # a run that fails keeps its logs too: they say why
            if args.keep_logs:
                keep = Path(args.keep_logs)
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(Path(tmp) / "bot.log", keep / "bot.log")
                shutil.copy(dovecot.log_path, keep / "dovecot.log")
                if (Path(tmp) / "gc.log").exists():
                    shutil.copy(Path(tmp) / "gc.log", keep / "gc.log")
        inotify_trouble = "Inotify instance limit" in dovecot.log_tail(100000)
        bot_log = (Path(tmp) / "bot.log").read_text(errors="replace").splitlines()
        said = [line for line in bot_log if "open files:" in line]
        complaints = _scale_rig.log_complaints(bot_log)
        parked = None if args.no_parked else parked_sweep(cfgs, args.rounds)
    many_jobs, one_job = asyncio.run(scheduler_dispatch(n))

    load = os.getloadavg()
    print(f"{n} quiet IMAP accounts (INBOX each, interval 1 min), Dovecot on loopback, TLS")
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {inotify}")
    if inotify_trouble:
        print("WARNING: Dovecot ran out of inotify instances; push latency is not the bot's")
    for line in said[:2]:  # the bot's own word on its open-file limit, if it had one
        print(f"the bot said: {line}")
    for count, message in complaints:  # anything else it warned of: a run to distrust
        print(f"the bot logged {count}x: {message}")
    print(
        f"registered through /mail add in {figures.register_s:.1f} s"
        f" (the slowest add answered in {figures.slowest_add_s:.1f} s)"
    )
    print(
        f"connections per account: {figures.connections / n:.2f} from the bot's sockets, "
        f"{figures.server_sessions / n:.2f} by Dovecot's count"
    )
    print(f"bot process RSS growth per account: {figures.rss_per_account_kib:.1f} KiB")
    # Renewing every minute restarts each IDLE before Dovecot's 2-minute keepalive, so that
    # minute holds no keepalives; its whole CPU over 24 is the renewals' share, generously.
    per_renewal = figures.renew_cpu_per_min / n
    amortized = figures.quiet_cpu_per_min + figures.renew_cpu_per_min / 24
    print(f"{'bot process CPU per minute while quiet':<58}{'ms':>9}{'baseline /':>12}")
    for label, value in (
        ("no IDLE renewal in the window", figures.quiet_cpu_per_min),
        ("IDLE renewed + quota read every minute (24x default)", figures.renew_cpu_per_min),
        ("amortized at the default 24-minute renewal", amortized),
    ):
        ratio = base_cpu / value if value else float("inf")
        print(f"  {label:<56}{value * 1000:>9.1f}{ratio:>11.0f}x")
    print(f"  (at most {per_renewal * 1e6:.0f} us of CPU a renewal, its quota read included)")
    slices = " ".join(f"{ms:.0f}" for ms in figures.quiet_slices)
    print(f"  quiet window by {SLICE_SECONDS:.0f} s slice (ms a minute): {slices}")
    threads = sorted(figures.quiet_threads.items(), key=lambda item: -item[1])
    split = ", ".join(f"{name} {ms:.1f}" for name, ms in threads if ms >= 0.05)
    print(f"  quiet window by thread (ms a minute): {split}")
    if args.profile_hub and args.profile:
        print("  IDLE hub in the quiet window, profiled (calls, own ms, function):")
        for calls, own, name in hub_calls(Path(args.profile))[:30]:
            print(f"    {calls:>9} {own * 1000:>9.1f}  {name}")
    if args.profile_loop and args.profile:
        print("  event loop in the quiet window, profiled (own ms, calls, function):")
        for own, calls, name in loop_calls(Path(args.profile))[:30]:
            print(f"    {own * 1000:>9.1f} {calls:>9}  {name}")
    for label, took in (("quiet", figures.quiet_gc_ms), ("renewal", figures.renew_gc_ms)):
        print(
            f"  full garbage collections in the {label} window: {len(took)}"
            f" ({', '.join(f'{ms:.0f} ms' for ms in took) or 'none'})"
        )
    print(
        f"baseline: one reconnect-per-poll sweep: {base_wall:.2f} s wall, "
        f"{base_cpu * 1000:.0f} ms client CPU"
    )
    lat = figures.latencies
    if lat:
        print(
            f"new-mail latency with {n} connected ({len(lat)} probes): "
            f"p50 {statistics.median(lat):.3f} s, p95 {percentile(lat, 95):.3f} s, "
            f"p99 {percentile(lat, 99):.3f} s, max {max(lat):.3f} s"
        )
    print(
        f"startup: all {n} accounts connected again {figures.startup_s:.1f} s after start; "
        f"{figures.startup_logins} logins, at most {figures.startup_logins_peak} in one second"
    )
    print(f"APScheduler: {n} due jobs ran in {many_jobs:.3f} s; one sweep job in {one_job:.4f} s")
    if parked is None:
        return
    seq_wall, seq_cpu, sweep_wall, sweep_cpu = parked
    print()
    print("servers without IDLE (kept sessions parked between polls):")
    print(f"{'way':<44}{'wall s':>9}{'CPU s':>9}{'vs sweep':>10}")
    rows = [
        ("baseline: reconnect + login + STATUS + logout", base_wall, base_cpu),
        ("kept sessions, STATUS one account at a time", seq_wall, seq_cpu),
        (f"Mailsync sweep (median of {args.rounds})", sweep_wall, sweep_cpu),
    ]
    for label, wall, cpu in rows:
        print(f"{label:<44}{wall:>9.3f}{cpu:>9.3f}{wall / sweep_wall:>9.1f}x")


def two_way_main(n: int, alerts: int, rounds: int) -> None:
    from bench import _two_way
    from bench._rig import dovecot_server

    with dovecot_server() as dovecot, tempfile.TemporaryDirectory() as tmp:
        os.environ["SSL_CERT_FILE"] = dovecot.ca_file
        net.reset_tls_context()
        users = [dovecot.add_user() for _ in range(n)]
        figures = asyncio.run(_two_way.run(dovecot, users, alerts, rounds, Path(tmp)))
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    _two_way.report(figures, n, alerts)


if __name__ == "__main__":
    main()
