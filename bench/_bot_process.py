"""bot.py in a child process, measured from outside as an operator would: CPU from
/proc/PID/stat, RSS from /proc/PID/status, sockets from /proc/PID/fd and /proc/net/tcp.

The child is the real `python bot.py` entry point; only discord.py's two addresses are
pointed at the bench process's Discord double (as tests/plugins/discord_double does
in-process). Run as a module by BotProcess:

    python -m bench._bot_process API_BASE WS_URL
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def bot_env(guild_id: int, ca_file: str, db: Path, max_accounts: int) -> dict[str, str]:
    """The bot's settings for a bench: a fresh key and database, the double's guild,
    Dovecot's CA, loopback hosts allowed, no web endpoint."""
    return {
        "DISCORD_TOKEN": "fake-token",
        "MAILSYNC_SECRET_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{db}",
        "MAILSYNC_GUILD_ID": str(guild_id),
        "MAILSYNC_ALLOW_PRIVATE_HOSTS": "1",
        "MAILSYNC_MAX_ACCOUNTS_PER_GUILD": str(max_accounts),
        "SSL_CERT_FILE": ca_file,
        "LOG_LEVEL": "WARNING",
        "MAILSYNC_HTTP_PORT": "0",  # no web endpoint: 8080 may be taken on a shared host
    }


class BotProcess:
    def __init__(self, env: dict[str, str], double_api: str, double_ws: str, log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench._bot_process", double_api, double_ws],
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the whole process (every thread) so far, in clock ticks
        (10 ms): the kernel's own count, threads that ended included."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def cpu_mark(self) -> tuple[float, dict[int, int]]:
        """A mark for cpu_since: the tick count, and each thread's time on a CPU in
        nanoseconds (/proc/PID/task/TID/schedstat)."""
        threads = {}
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                threads[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        return self.cpu_seconds(), threads

    def cpu_since(self, mark: tuple[float, dict[int, int]]) -> float:
        """CPU seconds of the whole process since `mark`: to the nanosecond when no thread
        ended meanwhile (a quiet minute is a few ticks, so ticks alone say 10 or 20 ms for
        the same work), else in ticks."""
        ticks, before = mark
        now_ticks, after = self.cpu_mark()
        if not before.keys() <= after.keys():  # a thread ended: only the ticks count it
            return now_ticks - ticks
        return sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9

    def cpu_by_thread(self, mark: tuple[float, dict[int, int]]) -> dict[str, float]:
        """CPU seconds since `mark` by thread name (digits dropped: a pool's workers are
        one row); names come from BENCH_THREAD_NAMES in the child."""
        _ticks, before = mark
        split: dict[str, float] = {}
        for tid, ns in self.cpu_mark()[1].items():
            try:
                name = Path(f"/proc/{self.pid}/task/{tid}/comm").read_text().strip()
            except OSError:
                continue
            name = name.rstrip("0123456789_-") or name
            split[name] = split.get(name, 0.0) + (ns - before.get(tid, 0)) / 1e9
        return split

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def connections_to(self, port: int) -> int:
        """Established TCP connections of this process to `port` (any address)."""
        inodes = set()
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        count = 0
        for table in ("tcp", "tcp6"):
            lines = Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]
            for line in lines:
                cols = line.split()
                remote_port = int(cols[2].rsplit(":", 1)[1], 16)
                if remote_port == port and cols[3] == "01" and cols[9] in inodes:
                    count += 1
        return count

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    async def wait_for(self, predicate, timeout: float, what: str, every: float = 0.5) -> float:
        """Seconds until `predicate()` held; SystemExit naming `what` after `timeout`. Async:
        the Discord double answering the bot runs on the caller's loop."""
        start = time.monotonic()
        while not predicate():
            if self.process.poll() is not None:
                raise SystemExit(f"the bot exited ({self.process.returncode}) waiting for {what}")
            if time.monotonic() - start > timeout:
                raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
            await asyncio.sleep(every)
        return time.monotonic() - start


def _trace_heap(out: str, by_line: bool) -> None:
    """Trace Python allocations; on SIGUSR1 write {file: bytes} (or {file:line: bytes}) of
    what is alive to `out`."""
    import json
    import signal
    import tracemalloc

    tracemalloc.start()

    def dump(*_: object) -> None:
        stats = tracemalloc.take_snapshot().statistics("lineno" if by_line else "filename")
        sizes = {
            f"{frame.filename}:{frame.lineno}" if by_line else frame.filename: stat.size
            for stat in stats
            for frame in (stat.traceback[0],)
        }
        Path(out + ".tmp").write_text(json.dumps(sizes))
        os.replace(out + ".tmp", out)

    signal.signal(signal.SIGUSR1, dump)


def _log_full_collections(out: str) -> None:
    """Append each full (generation 2) collection as `epoch seconds, ms` to `out`: a
    bench can tell a collection inside its quiet window from the bot's own work."""
    import gc

    started = [0.0]

    def callback(phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = (time.perf_counter() - started[0]) * 1000
        with open(out, "a") as log:
            log.write(f"{time.time():.3f} {took:.1f}\n")

    gc.callbacks.append(callback)


def _name_threads() -> None:
    """Give each Python thread its name in the kernel (/proc/PID/task/TID/comm, 15 bytes),
    so a bench can split the process's CPU by thread from outside."""
    import ctypes
    import threading

    prctl = ctypes.CDLL(None).prctl
    set_name = 15  # PR_SET_NAME
    prctl(set_name, b"main", 0, 0, 0)
    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def named(self: threading.Thread) -> None:
        prctl(set_name, self.name.encode()[:15], 0, 0, 0)
        bootstrap(self)

    threading.Thread._bootstrap_inner = named  # type: ignore[attr-defined]


def _profile_hub(out: str) -> None:
    """cProfile the IDLE hub's thread; each SIGUSR2 writes its stats so far to `out`.N (N
    counts from 1). The hub writes them itself, when the signal's wake-up reaches it: a
    profiler is only stopped and read safely on its own thread. Slows the hub: a profiled
    run's CPU figures are not the bot's."""
    import cProfile
    import signal

    from mail import idle

    profiler = cProfile.Profile()
    asked, written = [0], [0]
    hubs: list[idle.IdleHub] = []
    run, apply = idle.IdleHub._run, idle.IdleHub._apply_commands

    def profiled_run(self: idle.IdleHub) -> None:
        hubs.append(self)
        profiler.runcall(run, self)

    def apply_and_dump(self: idle.IdleHub) -> None:
        apply(self)
        while written[0] < asked[0]:
            written[0] += 1
            profiler.dump_stats(f"{out}.{written[0]}")  # stops it: on again at once
            profiler.enable()

    def dump(*_: object) -> None:
        asked[0] += 1
        for hub in hubs:
            hub._wake()

    idle.IdleHub._run = profiled_run  # type: ignore[method-assign]
    idle.IdleHub._apply_commands = apply_and_dump  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR2, dump)


def _profile_loop(out: str) -> None:
    """cProfile the event loop's thread between two SIGUSR2s (the handler runs on it),
    then write the stats to `out`. Slows the loop: that run's CPU figures are not the bot's."""
    import cProfile
    import signal

    profiler = cProfile.Profile()
    seen = [0]
    before = signal.getsignal(signal.SIGUSR2)

    def toggle(signum: int, frame: object) -> None:
        seen[0] += 1
        if seen[0] == 1:
            profiler.enable()
        elif seen[0] == 2:
            profiler.disable()
            profiler.dump_stats(out)
        if callable(before):
            before(signum, frame)

    signal.signal(signal.SIGUSR2, toggle)


def _child(api_base: str, ws_url: str) -> int:
    import discord
    import yarl

    import bot

    if os.environ.get("BENCH_TRACEMALLOC_OUT"):  # bench.memory_split: SIGUSR1 dumps the heap
        _trace_heap(os.environ["BENCH_TRACEMALLOC_OUT"], bool(os.environ.get("BENCH_BY_LINE")))
    if os.environ.get("BENCH_GC_LOG"):  # bench.sweep: full collections, when and how long
        _log_full_collections(os.environ["BENCH_GC_LOG"])
    if os.environ.get("BENCH_PROFILE_HUB"):  # bench.sweep --profile-hub
        _profile_hub(os.environ["BENCH_PROFILE_HUB"])
    if os.environ.get("BENCH_PROFILE_LOOP"):  # bench.sweep --profile-loop
        _profile_loop(os.environ["BENCH_PROFILE_LOOP"])
    if os.environ.get("BENCH_THREAD_NAMES"):  # bench.sweep: CPU by thread
        _name_threads()
    if os.environ.get("BENCH_SOFT_NOFILE"):  # as most hosts start it: the bot raises it
        import resource

        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(os.environ["BENCH_SOFT_NOFILE"]), hard))
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(ws_url)
    if os.environ.get("BENCH_QUOTA_SECONDS"):  # bench only: read quota at every renewal
        import watch.quota_watch

        watch.quota_watch.QUOTA_EVERY = float(os.environ["BENCH_QUOTA_SECONDS"])
    if os.environ.get("BENCH_FIRST_POLL_SPREAD"):  # bench and tests: no minute-long spread
        import watch.engine

        watch.engine.FIRST_POLL_SPREAD = float(os.environ["BENCH_FIRST_POLL_SPREAD"])
    return bot.main([])


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))
