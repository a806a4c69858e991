"""N quiet accounts in one bot process against two processes of N/2 each (one Discord
shard each), on the same PostgreSQL store and the same Dovecot, in the same run.

The accounts (registered through /mail add, half in a guild on shard 0, half on shard 1)
watch `Sent` at a 1-minute interval, so every one is swept: its parked session answers
one multiplexed STATUS a minute (accounts watching INBOX idle instead and are never
swept; bench.sweep measures those). Each setup is started fresh on the stored accounts,
left to connect every account, then measured over a quiet window, from outside the
processes (/proc) and from their /metrics, with the store's load from pg_stat_database
(transactions and rows read, in the bench's own database). Printed side by side:
  - sweep round wall time (mean) and wall time per swept account;
  - process CPU per minute and per swept account (the whole process: sweeps, scheduler,
    gateway, outbox sender, lock pings);
  - RSS growth per account over a process of the same setup with no accounts;
  - store transactions and rows read per minute and per sweep round.

    MAILSYNC_TEST_DATABASE_URL=postgresql+psycopg://USER:PW@HOST:PORT/postgres \\
        .venv/bin/python -m bench.shards --accounts 2000

The URL names a PostgreSQL server whose role may create databases (the bench makes and
drops its own). As root it raises fs.inotify.max_user_instances (see bench.sweep).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import aiohttp
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench._bot_process import BotProcess
from bench._rig import dovecot_server
from bench.sweep import raise_inotify_limit
from tests.plugins.discord_double import DiscordDouble, GuildSpec, snowflake_on_shard
from tests.plugins.dovecot import Dovecot
from tests.plugins.mailsync import Harness

STATS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sample:
    cpu: float
    sweep_sum: float
    sweep_rounds: float
    swept: float


@dataclass
class Figures:
    processes: int
    accounts: int
    window_s: float
    cpu_s: float = 0.0
    rss_kib: float = 0.0
    empty_rss_kib: float = 0.0
    sweep_sum: float = 0.0
    sweep_rounds: float = 0.0
    swept: float = 0.0
    store: dict[str, int] | None = None

    @property
    def minutes(self) -> float:
        return self.window_s / 60


class Store:
    """The bench's own database on the PostgreSQL server, made and dropped here."""

    def __init__(self, server_url: str) -> None:
        url = make_url(server_url).set(drivername="postgresql+psycopg")
        self.admin = create_engine(url, isolation_level="AUTOCOMMIT")
        self.name = f"mailsync_bench_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = url.set(database=self.name).render_as_string(hide_password=False)

    def stats(self) -> dict[str, int]:
        with self.admin.connect() as conn:
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = conn.execute(
                text(f"SELECT {', '.join(STATS)} FROM pg_stat_database WHERE datname = :d"),
                {"d": self.name},
            ).one()
        return dict(zip(STATS, map(int, row), strict=True))

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


class Process:
    def __init__(self, env: dict, double: DiscordDouble, ids: str, log: Path) -> None:
        self.port = _free_port()
        env = {**env, "MAILSYNC_SHARD_IDS": ids, "MAILSYNC_HTTP_PORT": str(self.port)}
        self.bot = BotProcess(env, double.api_base, double.ws_url, log)

    async def metrics(self) -> dict[str, float]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.port}/metrics") as answer,
        ):
            body = await answer.text()
        values = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    async def healthy(self) -> bool:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{self.port}/healthz") as answer,
            ):
                return answer.status == 200
        except aiohttp.ClientError:
            return False

    async def sample(self) -> Sample:
        m = await self.metrics()
        return Sample(
            self.bot.cpu_seconds(),
            m.get("mailsync_sweep_duration_seconds_sum", 0.0),
            m.get("mailsync_sweep_duration_seconds_count", 0.0),
            m.get("mailsync_swept_accounts_total", 0.0),
        )


async def _until(predicate, timeout: float, what: str, procs: list[Process]) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        for proc in procs:
            if proc.bot.process.poll() is not None:
                raise SystemExit(f"a bot process exited waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.5)


async def register(harness: Harness, guilds: list[GuildSpec], users: list) -> None:
    """/mail add for every user, alternating between the guilds (so between the shards)."""
    for i, user in enumerate(users):
        guild = guilds[i % len(guilds)]
        channel, admin = guild.channels[0].id, guild.members[0].user_id
        options = {**harness.add_options(user, folders="Sent", interval=1), "channel": channel}
        handle = await harness.double.slash_command(guild.id, channel, admin, "mail add", options)
        await handle.wait_for_modal(timeout=60)
        submit = await harness.double.submit_modal(
            guild.id, channel, admin, values={"password": user.password}
        )
        reply = await harness.reply_text(submit, timeout=60)
        if "Watching" not in reply:
            raise SystemExit(f"/mail add failed: {reply[:300]}")


async def measure(
    setup: list[str],
    env: dict,
    double: DiscordDouble,
    dovecot: Dovecot,
    store: Store,
    n: int,
    window: float,
    tmp: Path,
    empty_env: dict,
) -> Figures:
    """Start one process per shard range in `setup`, wait for every account's connection,
    then measure a quiet window."""
    figures = Figures(len(setup), n, window)
    # A process of the same setup on an empty store: the RSS without accounts.
    empty = Process(empty_env, double, setup[0], tmp / "empty.log")
    try:
        await _until(empty.healthy, 120, "an empty process", [empty])
        await asyncio.sleep(5)
        figures.empty_rss_kib = empty.bot.rss_kib()
    finally:
        empty.bot.stop()
    procs = [Process(env, double, ids, tmp / f"p{ids}.log") for ids in setup]
    try:
        port = dovecot.imaps_port

        async def connected() -> bool:
            return sum(p.bot.connections_to(port) for p in procs) >= n

        await _until(connected, 600, "every account connected", procs)
        await asyncio.sleep(20)  # first polls and their quota reads are over
        before = [await p.sample() for p in procs]
        stats = store.stats()
        await asyncio.sleep(window)
        after = [await p.sample() for p in procs]
        end = store.stats()
        figures.store = {k: end[k] - stats[k] for k in STATS}
        figures.rss_kib = sum(p.bot.rss_kib() for p in procs)
        figures.cpu_s = sum(a.cpu - b.cpu for a, b in zip(after, before, strict=True))
        for a, b in zip(after, before, strict=True):
            figures.sweep_sum += a.sweep_sum - b.sweep_sum
            figures.sweep_rounds += a.sweep_rounds - b.sweep_rounds
            figures.swept += a.swept - b.swept
    finally:
        for p in procs:
            p.bot.stop()
    return figures


def report(one: Figures, two: Figures, load: tuple[float, float, float]) -> None:
    n = one.accounts
    print(f"{n} quiet IMAP accounts (Sent, interval 1 min, swept), PostgreSQL, Dovecot over TLS")
    print(f"quiet window {one.window_s:.0f} s per setup; load average {load[0]:.2f} {load[1]:.2f}")
    rows: list[tuple[str, str, str]] = []

    def add(label: str, fmt: str, a: float, b: float) -> None:
        rows.append((label, fmt.format(a), fmt.format(b)))

    add("sweep rounds in the window (all processes)", "{:.0f}", one.sweep_rounds, two.sweep_rounds)
    add("accounts swept per minute", "{:.0f}", one.swept / one.minutes, two.swept / two.minutes)
    add(
        "sweep round wall time, mean (ms)",
        "{:.1f}",
        1000 * one.sweep_sum / max(1, one.sweep_rounds),
        1000 * two.sweep_sum / max(1, two.sweep_rounds),
    )
    add(
        "sweep wall time per swept account (ms)",
        "{:.3f}",
        1000 * one.sweep_sum / max(1, one.swept),
        1000 * two.sweep_sum / max(1, two.swept),
    )
    add(
        "process CPU per minute, all processes (ms)",
        "{:.0f}",
        1000 * one.cpu_s / one.minutes,
        1000 * two.cpu_s / two.minutes,
    )
    add(
        "process CPU per swept account (ms)",
        "{:.3f}",
        1000 * one.cpu_s / max(1, one.swept),
        1000 * two.cpu_s / max(1, two.swept),
    )
    add("RSS, all processes (MiB)", "{:.1f}", one.rss_kib / 1024, two.rss_kib / 1024)
    add(
        "RSS growth per account over empty processes (KiB)",
        "{:.1f}",
        (one.rss_kib - one.processes * one.empty_rss_kib) / n,
        (two.rss_kib - two.processes * two.empty_rss_kib) / n,
    )
    for key in STATS:
        a, b = (one.store or {})[key], (two.store or {})[key]
        add(f"store {key} per minute", "{:.1f}", a / one.minutes, b / two.minutes)
    add(
        "store transactions per sweep round",
        "{:.2f}",
        ((one.store or {})["xact_commit"]) / max(1, one.sweep_rounds),
        ((two.store or {})["xact_commit"]) / max(1, two.sweep_rounds),
    )
    print(f"{'':<52}{'1 process':>14}{'2 processes':>14}")
    print(f"{'':<52}{'(shards 0-1)':>14}{'(0 and 1)':>14}")
    for label, a, b in rows:
        print(f"{label:<52}{a:>14}{b:>14}")


async def run(n: int, window: float, server_url: str) -> None:
    store = Store(server_url)
    empty_store = Store(server_url)
    g0 = GuildSpec(id=snowflake_on_shard(0, 2), name="shard 0")
    g1 = GuildSpec(id=snowflake_on_shard(1, 2), name="shard 1")
    double = DiscordDouble(guilds=[g0, g1], shard_count=2)
    await double.start()
    try:
        with dovecot_server() as dovecot, TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            users = [dovecot.add_user() for _ in range(n)]
            env = {
                "DISCORD_TOKEN": "fake-token",
                "MAILSYNC_SECRET_KEY": Fernet.generate_key().decode(),
                "DATABASE_URL": store.url,
                "MAILSYNC_ALLOW_PRIVATE_HOSTS": "1",
                "MAILSYNC_MAX_ACCOUNTS_PER_GUILD": str(n),
                "MAILSYNC_SHARD_COUNT": "2",
                "SSL_CERT_FILE": dovecot.ca_file,
                "LOG_LEVEL": "WARNING",
            }
            empty_env = {**env, "DATABASE_URL": empty_store.url}
            harness = Harness(double, dovecot, settings=None)  # its /mail add driver only
            first = Process(env, double, "0-1", tmp / "register.log")
            try:
                await _until(first.healthy, 120, "the first process", [first])
                start = time.monotonic()
                await register(harness, [g0, g1], users)
                print(
                    f"registered {n} accounts through /mail add in {time.monotonic() - start:.0f} s"
                )
            finally:
                first.bot.stop()
            one = await measure(["0-1"], env, double, dovecot, store, n, window, tmp, empty_env)
            two = await measure(["0", "1"], env, double, dovecot, store, n, window, tmp, empty_env)
            report(one, two, os.getloadavg())
    finally:
        await double.stop()
        store.drop()
        empty_store.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--quiet-seconds", type=float, default=120.0)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("MAILSYNC_TEST_DATABASE_URL", ""),
        help="a PostgreSQL server URL whose role may create databases "
        "(default: MAILSYNC_TEST_DATABASE_URL)",
    )
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("bench.shards needs PostgreSQL: pass --database-url postgresql://...")
    print(raise_inotify_limit())
    asyncio.run(run(args.accounts, args.quiet_seconds, args.database_url))


if __name__ == "__main__":
    main()
