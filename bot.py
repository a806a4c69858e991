"""Process wiring: settings, logging, the store, the scheduler and the Bot. Features live
in cogs/, protocol code in mail/, persistence in storage/."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
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

import logs
from cogs._errors import MailTree
from cogs._group import MailGroup
from cogs._lang import CatalogTranslator, GuildLanguages
from mail import limits
from mail.file_limit import raise_file_limit
from settings import ConfigError, Settings
from storage import outbox, repo, store_health
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
    "cogs.replies",
    "cogs.language",
)
# Loggers that print gateway payloads (modal values, i.e. passwords) at DEBUG.
PAYLOAD_LOGGERS = logs.PAYLOAD_LOGGERS


def setup_logging(level: str, fmt: str = "text") -> None:
    """LOG_LEVEL and LOG_FORMAT (logs.py), with the payload loggers capped at INFO."""
    logs.setup_logging(level, fmt, PAYLOAD_LOGGERS)


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
        limits.configure(settings.max_message_mb)  # every mail connection reads up to it
        self.engine = engine
        self.secrets = secrets
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.mail_group = MailGroup()
        self.languages = GuildLanguages(engine, self)  # of each guild's channel posts
        self.web = WebServer(settings.http_host, settings.http_port)
        self.metrics = Metrics()
        add_health_routes(self.web, self.health, self.metrics, self._refresh_metrics)
        # On PostgreSQL a lock per shard keeps a second process for the same shards
        # waiting (SQLite runs every shard in one process: Settings refuses a part).
        self.shard_locks = (
            ShardLocks(engine.url, settings.shards) if is_postgresql(engine) else None
        )
        self.lost_shard_locks = False  # at least once: the process then took them back
        self._regaining: asyncio.Task[None] | None = None
        self._connected: set[int] = set()  # shards whose gateway session is up
        # `mailsync sync-commands`: log in, build the command tree, push it, nothing else.
        self.sync_only = False
        self.synced = 0

    async def _load_commands(self) -> None:
        await self.tree.set_translator(CatalogTranslator())
        self.tree.add_command(self.mail_group)
        for extension in EXTENSIONS:
            await self.load_extension(extension)

    async def setup_hook(self) -> None:
        if self.sync_only:
            await self._load_commands()
            await self._sync_commands()
            return
        await asyncio.to_thread(migrate, self.engine)
        watched = await asyncio.to_thread(repo.active_accounts, self.engine, self.settings.shards)
        if (too_low := raise_file_limit(len(watched))) is not None:
            log.warning(too_low)
        await self.languages.load()
        # The scheduler must start inside the running loop; cogs add their jobs to it.
        self.scheduler.start()
        await self._load_commands()
        await self.web.start()  # after the cogs: they add its routes; /healthz while waiting
        if self.shard_locks is not None:
            if not await self.shard_locks.acquire():
                return  # stopped while waiting: watch nothing, connect nothing
            self.shard_locks.watch(self._shard_locks_lost)
        await self.get_cog("Alerts").start_watching()  # type: ignore[union-attr]
        if self.settings.sync_commands:
            await self._sync_commands()
        else:
            log.info("commands not synced (MAILSYNC_SYNC_COMMANDS=off; `mailsync sync-commands`)")

    def _shard_locks_lost(self) -> None:
        """The lock session is gone (PostgreSQL restarted or failed over): the process stays
        up, stops watching at once and takes its shards back, or waits as a standby."""
        self.lost_shard_locks = True
        self._regaining = asyncio.get_running_loop().create_task(
            self._regain_shards(), name="mailsync-regain-shards"
        )

    async def _regain_shards(self) -> None:
        locks, alerts = self.shard_locks, self.get_cog("Alerts")
        if locks is None or alerts is None:  # SQLite has no locks; no cog: stopping
            return
        while True:
            try:
                await alerts.stop_watching()  # type: ignore[attr-defined]
            except Exception:  # closing what is left of the old watcher: taking over matters
                log.exception("stopping the watcher after the lock loss failed")
            try:
                if not await locks.acquire():
                    return  # the process is stopping
            except ShardCountMismatchError as exc:  # meanwhile started with another count
                log.error("%s", exc)
                await self.close()
                return
            try:  # from the stored state: every poll commits before it advances
                await alerts.start_watching(resumed=True)  # type: ignore[attr-defined]
            except Exception:  # the store went away again meanwhile: give up and retry
                log.exception("could not resume watching; trying again")
                await locks.lost()
                continue
            locks.watch(self._shard_locks_lost)
            log.warning("watching %s again", self.settings.shards.describe())
            return

    async def _sync_commands(self) -> None:
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        self.synced = len(synced)
        log.info("synced %d application command(s)", len(synced))

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz: every shard of this process connected and the store answering."""
        latencies = dict(self._shard_latencies())
        locks = self.shard_locks
        waiting = locks.waiting if locks is not None else ()
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
        count, oldest, fault = await asyncio.to_thread(
            store_health.backlog_and_fault, self.engine, self.settings.shards
        )
        alerts = self.get_cog("Alerts")
        watching = alerts is not None and (locks is None or locks.held)
        watched = len(alerts.watcher.scheduled_ids) if watching else 0  # type: ignore[union-attr]
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
        body = {
            "shard_count": self.settings.shards.count,
            "shards": shards,
            "store": "ok" if fault is None else fault["kind"],
            "accounts_watched": watched,
            "outbox_backlog": count,
            "oldest_waiting_alert_s": None if age is None else round(max(0.0, age), 1),
        }
        if locks is not None:  # held, or not watching: waiting, store unreachable, connecting
            body["shard_locks"] = locks.state
        if fault is not None:  # locked, disk full, unreachable: what to do, which accounts
            body["store_error"] = fault
        holding = locks is None or locks.held
        healthy = (
            fault is None
            and holding
            and bool(shards)
            and all(s["connected"] for s in shards.values())
        )
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
        if self._regaining is not None:
            self._regaining.cancel()
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


async def sync_commands(settings: Settings) -> int:
    """`mailsync sync-commands`: log in over REST, push the command tree (to
    MAILSYNC_GUILD_ID when set), log out; no gateway, no store, no watching. Returns how
    many commands Discord now holds."""
    bot = build_bot(settings)
    bot.sync_only = True
    try:
        async with bot:
            await bot.login(settings.discord_token)  # runs setup_hook: the sync
    finally:
        bot.engine.dispose()
    return bot.synced


def rotate_keys(env: Mapping[str, str] = os.environ) -> int:
    """--rotate-keys: re-encrypt every stored password with the first MAILSYNC_SECRET_KEY
    key, so an old key can then be dropped from the list."""
    setup_logging("INFO", (env.get("LOG_FORMAT") or "text").strip().lower())
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
    return start()


def start(env: Mapping[str, str] = os.environ) -> int:
    """Read the settings, run the bot until it stops; the process's exit code."""
    try:
        settings = Settings.from_env(env)
        setup_logging(settings.log_level, settings.log_format)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
