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
import random
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from cryptography.fernet import Fernet
from imapclient import IMAPClient

from bench import _scale_rig
from bench._bot_process import BotProcess
from mail import net
from mail.sessions import SessionPool
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.discord_double import DiscordDouble
from tests.plugins.dovecot import Dovecot, make_message
from tests.plugins.mailsync import Harness

ADD_TIMEOUT = 60.0  # a /mail add slower than this ends the run (it says which one)


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


@dataclass
class ProcessFigures:
    connections: int = 0
    server_sessions: int = 0
    rss_per_account_kib: float = 0.0
    quiet_cpu_per_min: float = 0.0
    renew_cpu_per_min: float = 0.0
    latencies: list[float] = field(default_factory=list)
    startup_s: float = 0.0
    startup_logins_peak: int = 0  # most new logins Dovecot logged in one second at start
    startup_logins: int = 0
    register_s: float = 0.0
    quiet_gc_ms: list[float] = field(default_factory=list)  # full collections in the window
    renew_gc_ms: list[float] = field(default_factory=list)
    slowest_add_s: float = 0.0


def full_collections(log: Path, start: float, end: float) -> list[float]:
    """The bot's full garbage collections (ms each) that ended between start and end."""
    if not log.exists():
        return []
    rows = (line.split() for line in log.read_text().splitlines())
    return [float(ms) for at, ms in rows if start <= float(at) <= end]


async def add_account(harness: Harness, user, which: str) -> str:
    """/mail add through the modal; a reply later than ADD_TIMEOUT stops the run naming
    the account (the bot's log is kept with --keep-logs)."""
    handle = await harness.command("mail add", harness.add_options(user, interval=1))
    await handle.wait_for_modal(timeout=ADD_TIMEOUT)
    double = harness.double
    submit = await double.submit_modal(
        double.guild_id, double.channel_id, double.admin_id, values={"password": user.password}
    )
    try:
        return await harness.reply_text(submit, timeout=ADD_TIMEOUT)
    except TimeoutError:
        raise SystemExit(f"/mail add of {which}: no reply within {ADD_TIMEOUT:.0f} s") from None


async def run_bot(
    dovecot: Dovecot, users: list, quiet_seconds: float, probes: int, tmp: Path
) -> ProcessFigures:
    """Register every user's account through /mail add in a bot process; measure it."""
    figures = ProcessFigures()
    n = len(users)
    double = DiscordDouble()
    await double.start()
    env = {
        "DISCORD_TOKEN": "fake-token",
        "MAILSYNC_SECRET_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "MAILSYNC_GUILD_ID": str(double.guild_id),
        "MAILSYNC_ALLOW_PRIVATE_HOSTS": "1",
        "MAILSYNC_MAX_ACCOUNTS_PER_GUILD": str(n + 100),
        "SSL_CERT_FILE": dovecot.ca_file,
        # INFO names every lost IDLE connection and why (a run with reconnects to explain)
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "MAILSYNC_HTTP_PORT": "0",  # no web endpoint: 8080 may be taken on a shared host
        "BENCH_SOFT_NOFILE": "1024",
        "BENCH_GC_LOG": str(tmp / "gc.log"),
    }
    harness = Harness(double, dovecot, settings=None)  # only its /mail add driver is used
    port = dovecot.imaps_port
    bot = BotProcess(env, double.api_base, double.ws_url, tmp / "bot.log")
    try:
        await double.wait_for(method="PUT", path=r"/commands$", timeout=60)
        await bot.wait_for(
            lambda: any(f.get("t") == "GUILD_CREATE" for f in double.gateway_log), 60, "gateway"
        )
        await asyncio.sleep(3)  # discord.py waits 2 s after the last GUILD_CREATE for READY
        warm = 10
        for user in users[:warm]:  # load what the first adds load, then measure
            await harness.add_account(user, interval=1)
        await bot.wait_for(lambda: bot.connections_to(port) == warm, 60, "warm-up accounts")
        await asyncio.sleep(2)
        before = bot.rss_kib()
        start = time.monotonic()
        for i, user in enumerate(users[warm:], warm):
            began = time.monotonic()
            reply = await add_account(harness, user, f"account {i + 1} of {n}")
            figures.slowest_add_s = max(figures.slowest_add_s, time.monotonic() - began)
            if "Watching" not in reply:
                raise SystemExit(f"/mail add failed: {reply[:300]}")
        figures.register_s = time.monotonic() - start
        await bot.wait_for(lambda: bot.connections_to(port) == n, 600, "every account connected")
        await asyncio.sleep(5)  # the baselines' own connections are gone, IDLE settled
        figures.rss_per_account_kib = (bot.rss_kib() - before) / (n - warm)
        figures.connections = bot.connections_to(port)
        figures.server_sessions = await asyncio.to_thread(dovecot.imap_sessions_total)

        cpu, quiet_from = bot.cpu_mark(), time.time()
        await asyncio.sleep(quiet_seconds)
        figures.quiet_cpu_per_min = bot.cpu_since(cpu) * 60 / quiet_seconds
        figures.quiet_gc_ms = full_collections(tmp / "gc.log", quiet_from, time.time())

        rng = random.Random(7)
        for i in range(probes):
            user = rng.choice(users)
            subject = f"probe {i}"
            mark = len(double.requests)
            sent = time.monotonic()
            await asyncio.to_thread(dovecot.append, user, make_message(subject=subject))
            posted = await double.wait_for(
                lambda r, subject=subject: (
                    r.status == 200
                    and (r.json or {}).get("embeds", [{}])[0].get("title") == subject
                ),
                method="POST",
                path=r"/channels/\d+/messages$",
                after=mark,
                timeout=60,
            )
            figures.latencies.append(posted.monotonic - sent)
            await asyncio.sleep(rng.uniform(0.2, 1.0))
    finally:
        bot.stop()

    # Restarted with IDLE renewed (and quota read) every minute: startup, renewal cost.
    renew_env = {**env, "MAILSYNC_IDLE_MINUTES": "1", "BENCH_QUOTA_SECONDS": "60"}
    log_from = dovecot.log_path.stat().st_size
    bot = BotProcess(renew_env, double.api_base, double.ws_url, tmp / "bot.log")
    try:
        start = time.monotonic()
        await bot.wait_for(lambda: bot.connections_to(port) == n, 600, "reconnect at startup")
        figures.startup_s = time.monotonic() - start
        peak, total = _scale_rig.logins_per_second(dovecot.log_path, log_from)
        figures.startup_logins_peak, figures.startup_logins = peak, total
        await asyncio.sleep(65)  # every connection has renewed at least once
        cpu, quiet_from = bot.cpu_mark(), time.time()
        await asyncio.sleep(quiet_seconds)
        figures.renew_cpu_per_min = bot.cpu_since(cpu) * 60 / quiet_seconds
        figures.renew_gc_ms = full_collections(tmp / "gc.log", quiet_from, time.time())
    finally:
        bot.stop()
        await double.stop()
    return figures


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
                run_bot(dovecot, users, args.quiet_seconds, args.probes, Path(tmp))
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
