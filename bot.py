"""Process wiring: settings, logging, the store, the scheduler and the Bot. Features live
in cogs/, protocol code in mail/, persistence in storage/."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import resource
import signal
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord.ext import commands
from dotenv import load_dotenv
from sqlalchemy import Engine

from cogs._errors import MailTree
from cogs._group import MailGroup
from settings import ConfigError, Settings
from storage import outbox, repo
from storage.crypto import SecretBox, SecretKeyError
from storage.db import make_engine, migrate
from storage.rotation import rotate_passwords
from storage.shard_locks import ShardCountMismatchError, ShardLocks, is_postgresql
from watch.metrics import Metrics
from web.app import WebPortError, WebServer
from web.health import add_health_routes

log = logging.getLogger("mailsync")

EXTENSIONS = (
    "cogs.alerts",
    "cogs.accounts",
    "cogs.manage",
    "cogs.status",
    "cogs.archive",
    "cogs.signin",
    "cogs.rules",
    "cogs.board",
    "cogs.actions",
)
# Open files: each watched account holds one connection, and a second one while a poll,
# an action or a reconnect overlaps it; the rest is the gateway, the REST pool, the store,
# the web endpoint, DNS lookups and the log.
FILES_PER_ACCOUNT = 2
FILES_BESIDES = 512
# Loggers that print gateway payloads (modal values, i.e. passwords) at DEBUG.
PAYLOAD_LOGGERS = ("discord.gateway", "discord.state", "discord.http", "discord.webhook")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        force=True,
    )
    # Never let a log level show a password: cap the payload loggers at INFO.
    for name in (*PAYLOAD_LOGGERS, "imapclient", "imapclient.imaplib"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))


def raise_file_limit(accounts: int) -> str | None:
    """Raise the soft RLIMIT_NOFILE (often 1024) to the hard limit, which accounts added
    while running may need too; never lower it. Returns the one line to log when even
    the hard limit is below what `accounts` need, else None."""
    need = accounts * FILES_PER_ACCOUNT + FILES_BESIDES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, need) if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if hard != resource.RLIM_INFINITY and hard < need:
        return (
            f"open files: the hard limit (RLIMIT_NOFILE) is {hard}, but {accounts} accounts "
            f"need {need}; raise it to at least {need} (systemd LimitNOFILE=, docker "
            "--ulimit nofile=, ulimit -Hn) or connections will fail"
        )
    return None


class MailsyncBot(commands.Bot):
    def __init__(
        self, settings: Settings, engine: Engine, secrets: SecretBox, **client: Any
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=MailTree,
            help_command=None,
            **client,
        )
        self.settings = settings
        self.engine = engine
        self.secrets = secrets
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.mail_group = MailGroup()
        self.web = WebServer(settings.http_host, settings.http_port)
        self.metrics = Metrics()
        add_health_routes(self.web, self.health, self.metrics, self._refresh_metrics)
        # On PostgreSQL a lock per shard keeps a second process for the same shards
        # waiting (SQLite runs every shard in one process: Settings refuses a part).
        self.shard_locks = (
            ShardLocks(engine.url, settings.shards) if is_postgresql(engine) else None
        )
        self.lost_shard_locks = False
        self._connected: set[int] = set()  # shards whose gateway session is up

    async def setup_hook(self) -> None:
        await asyncio.to_thread(migrate, self.engine)
        watched = await asyncio.to_thread(repo.active_accounts, self.engine, self.settings.shards)
        if (too_low := raise_file_limit(len(watched))) is not None:
            log.warning(too_low)
        self.tree.add_command(self.mail_group)
        # The scheduler must start inside the running loop; cogs add their jobs to it.
        self.scheduler.start()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.web.start()  # after the cogs: they add its routes; /healthz while waiting
        if self.shard_locks is not None:
            if not await self.shard_locks.acquire():
                return  # stopped while waiting: watch nothing, connect nothing
            self.shard_locks.watch(self._shard_locks_lost)
        await self.get_cog("Alerts").start_watching()  # type: ignore[union-attr]
        await self._sync_commands()

    def _shard_locks_lost(self) -> None:
        self.lost_shard_locks = True
        self._closing = asyncio.get_running_loop().create_task(self.close())

    async def _sync_commands(self) -> None:
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d application command(s)", len(synced))

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz: every shard of this process connected and the store answering."""
        latencies = dict(self._shard_latencies())
        waiting = self.shard_locks.waiting if self.shard_locks is not None else ()
        shards = {}
        for shard_id in self.settings.shards.ids:
            latency = latencies.get(shard_id, float("nan"))
            connected = shard_id in self._connected and not self.is_closed()
            state = "waiting" if shard_id in waiting else "connecting"
            shards[str(shard_id)] = {
                "connected": connected,
                "state": "connected" if connected else state,  # waiting: held elsewhere
                "latency_s": None if latency != latency else round(latency, 3),  # NaN: none yet
            }
        try:
            count, oldest = await asyncio.to_thread(
                outbox.backlog, self.engine, self.settings.shards
            )
            store_ok = True
        except Exception:  # any store failure is what this endpoint reports
            count, oldest, store_ok = 0, None, False
        alerts = self.get_cog("Alerts")
        watched = len(alerts.watcher.scheduled_ids) if alerts is not None else 0
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
        body = {
            "shard_count": self.settings.shards.count,
            "shards": shards,
            "store": "ok" if store_ok else "unreachable",
            "accounts_watched": watched,
            "outbox_backlog": count,
            "oldest_waiting_alert_s": None if age is None else round(max(0.0, age), 1),
        }
        healthy = store_ok and bool(shards) and all(s["connected"] for s in shards.values())
        return healthy, body

    def _shard_latencies(self) -> list[tuple[int, float]]:
        return [(self.shard_id or 0, self.latency)]

    # Which shards are connected, from the gateway events (the sharded bot gets shard_*).
    async def on_ready(self) -> None:
        log.info("connected as %s to %d guild(s)", self.user, len(self.guilds))
        if not self.settings.shards.sharded:
            self._connected.add(0)

    async def on_resumed(self) -> None:
        if not self.settings.shards.sharded:
            self._connected.add(0)

    async def on_disconnect(self) -> None:
        if not self.settings.shards.sharded:
            self._connected.discard(0)

    async def on_shard_ready(self, shard_id: int) -> None:
        self._connected.add(shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._connected.add(shard_id)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._connected.discard(shard_id)

    async def _refresh_metrics(self) -> None:
        count, _oldest = await asyncio.to_thread(outbox.backlog, self.engine, self.settings.shards)
        self.metrics.outbox_backlog.set(count)
        alerts = self.get_cog("Alerts")
        if alerts is not None:
            self.metrics.idle_connections.set(alerts.watcher.hub.watched)
        for shard_id, latency in self._shard_latencies():
            if latency == latency:  # NaN until the first heartbeat
                self.metrics.shard_latency.labels(str(shard_id)).set(latency)

    async def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.web.stop()
        await super().close()  # unloads the cogs: the watcher has stopped after this
        if self.shard_locks is not None:
            await self.shard_locks.release()  # now a waiting process may take over


class ShardedMailsyncBot(MailsyncBot, commands.AutoShardedBot):
    """More than one shard: discord.py's AutoShardedBot runs this process's shard ids,
    one gateway connection each."""

    def _shard_latencies(self) -> list[tuple[int, float]]:
        return self.latencies


def build_bot(settings: Settings) -> MailsyncBot:
    secrets = SecretBox(settings.secret_key)
    engine = make_engine(settings.database_url)
    shards = settings.shards
    if shards.sharded:
        return ShardedMailsyncBot(
            settings, engine, secrets, shard_count=shards.count, shard_ids=list(shards.ids)
        )
    return MailsyncBot(settings, engine, secrets)


async def run(bot: MailsyncBot) -> None:
    """Run until the bot stops or SIGINT/SIGTERM arrives, then close everything cleanly."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        async with bot:
            runner = asyncio.create_task(bot.start(bot.settings.discord_token))
            stopper = asyncio.create_task(stopping.wait())
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.is_set():
                log.info("shutting down")
                await bot.close()
            stopper.cancel()
            await runner  # re-raises what start() raised, e.g. LoginFailure
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        bot.engine.dispose()


def rotate_keys(env: Mapping[str, str] = os.environ) -> int:
    """--rotate-keys: re-encrypt every stored password with the first MAILSYNC_SECRET_KEY
    key, so an old key can then be dropped from the list."""
    setup_logging("INFO")
    try:
        secrets = SecretBox(env.get("MAILSYNC_SECRET_KEY", ""))
    except SecretKeyError as exc:
        print(f"mailsync: {exc}", file=sys.stderr)
        return 2
    engine = make_engine(env.get("DATABASE_URL") or "sqlite:///data/mailsync.db")
    try:
        migrate(engine)
        rotated, failed = rotate_passwords(engine, secrets)
    finally:
        engine.dispose()
    print(
        f"mailsync: re-encrypted {rotated} stored secret(s) (passwords, OAuth2 tokens) "
        "with the first key."
    )
    if failed:
        ids = ", ".join(map(str, failed))
        print(
            f"mailsync: no configured key decrypts the secret of account(s) {ids}; "
            "set them again with /mail password (or /mail reauth) before removing an old key.",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mailsync: mail alerts for Discord channels.")
    parser.add_argument(
        "--generate-key", action="store_true", help="print a new MAILSYNC_SECRET_KEY and exit"
    )
    parser.add_argument(
        "--rotate-keys",
        action="store_true",
        help="re-encrypt stored passwords with the first MAILSYNC_SECRET_KEY key and exit",
    )
    args = parser.parse_args(argv)
    if args.generate_key:
        print(SecretBox.generate_key())
        return 0
    load_dotenv()
    if args.rotate_keys:
        return rotate_keys()
    try:
        settings = Settings.from_env()
        setup_logging(settings.log_level)
        bot = build_bot(settings)
    except (ConfigError, SecretKeyError) as exc:
        print(f"mailsync: {exc}", file=sys.stderr)
        return 2
    # What start-up made (modules, the bot, the settings) lives as long as the process: frozen
    # out of the collector, so a full collection no longer walks it all again (one landing in
    # a 5,000-message POP3 download cost 60-80 ms of CPU, half the download's own).
    gc.freeze()
    try:
        asyncio.run(run(bot))
    except discord.LoginFailure:
        print("mailsync: Discord refused DISCORD_TOKEN; check the token in .env.", file=sys.stderr)
        return 1
    except WebPortError as exc:
        print(f"mailsync: web endpoint: {exc}", file=sys.stderr)
        return 2
    except ShardCountMismatchError as exc:
        print(f"mailsync: {exc}", file=sys.stderr)
        return 2
    if bot.lost_shard_locks:
        return 1  # a supervisor restarts it; the new process waits for its shards again
    return 0


if __name__ == "__main__":
    sys.exit(main())
