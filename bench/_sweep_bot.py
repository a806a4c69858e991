"""The bot-process half of bench.sweep: register every account through /mail add in
`python bot.py` run as its own process, then measure it from outside (RSS, sockets,
CPU in a quiet window, new-mail latency, a restart with renewals every minute)."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import _scale_rig
from bench._bot_process import BotProcess, bot_env
from mail.idle import RENEWAL_GRID
from tests.plugins.discord_double import DiscordDouble
from tests.plugins.dovecot import Dovecot, make_message
from tests.plugins.mailsync import Harness

ADD_TIMEOUT = 60.0  # a /mail add slower than this ends the run (it says which one)


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
    quiet_slices: list[float] = field(default_factory=list)  # ms a minute, 10 s slices
    quiet_threads: dict[str, float] = field(default_factory=dict)  # ms a minute by thread


def full_collections(log: Path, start: float, end: float) -> list[float]:
    """The bot's full garbage collections (ms each) that ended between start and end."""
    if not log.exists():
        return []
    rows = (line.split() for line in log.read_text().splitlines())
    return [float(ms) for at, ms in rows if start <= float(at) <= end]


async def add_account(harness: Harness, user, which: str) -> str:
    """/mail add through the modal; a reply later than ADD_TIMEOUT stops the run naming
    the account (the bot's log is kept with --keep-logs)."""
    try:
        _, reply = await harness.add_account(user, interval=1, timeout=ADD_TIMEOUT)
    except TimeoutError:
        raise SystemExit(f"/mail add of {which}: no reply within {ADD_TIMEOUT:.0f} s") from None
    return reply


SLICE_SECONDS = 10.0


def start_pyspy(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """py-spy (BENCH_PYSPY, else on PATH) sampling the bot's Python stacks into `out`;
    None (and a line saying so) without py-spy."""
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = os.environ.get("BENCH_PYSPY") or shutil.which("py-spy")
    if spy is None:
        print("no py-spy (pip install py-spy, or BENCH_PYSPY=path): the window is not sampled")
        return None
    args = ["record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "500"]
    args += ["--threads", "--nonblocking", "--format", "raw", "--output", str(out)]
    return subprocess.Popen([spy, *args], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


async def quiet_window(
    bot: BotProcess,
    seconds: float,
    figures: ProcessFigures,
    profile: Path | None,
    profile_hub: bool = False,
) -> None:
    """The bot's CPU over `seconds`: in all, by 10 s slice and by thread; with `profile`,
    py-spy samples its Python stacks meanwhile (profile/quiet.txt)."""
    spy = None
    if profile is not None:
        spy = await asyncio.to_thread(start_pyspy, bot.pid, seconds, profile / "quiet.txt")
    if profile_hub:  # the hub's stats so far (BENCH_PROFILE_HUB)
        bot.process.send_signal(signal.SIGUSR2)
    start = bot.cpu_mark()
    mark, ends = start, time.monotonic() + seconds
    while (left := ends - time.monotonic()) > 0:
        await asyncio.sleep(min(SLICE_SECONDS, left))
        figures.quiet_slices.append(bot.cpu_since(mark) * 60 / SLICE_SECONDS * 1000)
        mark = bot.cpu_mark()
    figures.quiet_cpu_per_min = bot.cpu_since(start) * 60 / seconds
    figures.quiet_threads = {
        name: cpu * 60 / seconds * 1000 for name, cpu in bot.cpu_by_thread(start).items()
    }
    if profile_hub:
        bot.process.send_signal(signal.SIGUSR2)
        await asyncio.sleep(RENEWAL_GRID + 1)  # the hub writes them at its next pass
    if spy is not None:
        await asyncio.to_thread(spy.wait)


def hub_calls(profile: Path) -> list[tuple[int, float, str]]:
    """The IDLE hub's calls in the quiet window (BENCH_PROFILE_HUB's two snapshots):
    (calls, own seconds, function), most called first."""
    import pstats

    before, after = (pstats.Stats(str(profile / f"hub.prof.{n}")).stats for n in (1, 2))
    rows = []
    for func, (_cc, calls, own, _cum, _callers) in after.items():  # type: ignore[attr-defined]
        was = before.get(func, (0, 0, 0.0, 0.0, {}))
        name = f"{Path(func[0]).name}:{func[1]} {func[2]}"
        rows.append((calls - was[1], own - was[2], name))
    return sorted((row for row in rows if row[0]), reverse=True)


def loop_calls(profile: Path) -> list[tuple[float, int, str]]:
    """The event loop's calls in the quiet window (BENCH_PROFILE_LOOP): (own seconds,
    calls, function), most costly first."""
    import pstats

    stats = pstats.Stats(str(profile / "loop.prof")).stats  # type: ignore[attr-defined]
    rows = [
        (own, calls, f"{Path(func[0]).name}:{func[1]} {func[2]}")
        for func, (_cc, calls, own, _cum, _callers) in stats.items()
    ]
    return sorted(rows, reverse=True)


async def run_bot(
    dovecot: Dovecot,
    users: list,
    quiet_seconds: float,
    probes: int,
    tmp: Path,
    settle: float = 5.0,
    profile: Path | None = None,
    profile_hub: bool = False,
    profile_loop: bool = False,
) -> ProcessFigures:
    """Register every user's account through /mail add in a bot process; measure it.
    The quiet window starts `settle` seconds after the last account connected."""
    figures = ProcessFigures()
    n = len(users)
    double = DiscordDouble()
    await double.start()
    env = {
        **bot_env(double.guild_id, dovecot.ca_file, tmp / "bench.db", n + 100),
        # INFO names every lost IDLE connection and why (a run with reconnects to explain)
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "BENCH_SOFT_NOFILE": "1024",
        "BENCH_GC_LOG": str(tmp / "gc.log"),
        "BENCH_THREAD_NAMES": "1",
        **({"BENCH_PROFILE_HUB": str(profile / "hub.prof")} if profile_hub and profile else {}),
        **({"BENCH_PROFILE_LOOP": str(profile / "loop.prof")} if profile_loop and profile else {}),
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

        await asyncio.sleep(max(0.0, settle - 5))
        quiet_from = time.time()
        await quiet_window(bot, quiet_seconds, figures, profile, profile_hub or profile_loop)
        # At once, not only in the report: a long run stopped after its window still says it
        threads = ", ".join(f"{k} {v:.1f}" for k, v in figures.quiet_threads.items())
        quiet_ms = figures.quiet_cpu_per_min * 1000
        print(f"quiet window: {quiet_ms:.1f} ms a minute ({threads})", flush=True)
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
