"""The bot's settings, read from the environment (.env) and checked at start: a bad value
is one clear line (ConfigError), never a crash later."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from mail import limits, oauth, oauth_providers
from storage.shards import ALL_SHARDS, ShardSet
from watch import digest_clock

# A message is read into memory whole: past this a typo (MB for KB) would let one
# server's message take gigabytes.
MAX_MESSAGE_MB_CEILING = 1024


class ConfigError(Exception):
    pass


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    discord_token: str = field(repr=False)
    secret_key: str = field(repr=False)
    database_url: str = "sqlite:///data/mailsync.db"
    guild_id: int | None = None
    allow_private_hosts: bool = False
    poll_concurrency: int = 20
    idle_reissue_minutes: float = 24.0
    idle_silence_seconds: float = 300.0  # an idling connection this quiet is probed
    idle_probe_seconds: float = 30.0  # ... and replaced without an answer within this
    max_accounts_per_guild: int = 25
    max_sends_per_hour: int = 20  # replies and new messages per account (SPEC section 13)
    log_level: str = "INFO"
    # The web endpoint; 0 = off. from_env defaults to 8080 (SPEC section 10); a Settings
    # built in code (tests) starts none unless asked.
    http_host: str = "127.0.0.1"
    http_port: int = 0
    public_url: str = ""  # how browsers reach the web endpoint; default http://host:port
    oauth_providers: Mapping[str, oauth.Provider] = field(default_factory=dict)
    timezone: str = "UTC"  # IANA name; hourly/daily digests and digest_time follow it
    shards: ShardSet = ALL_SHARDS  # MAILSYNC_SHARD_COUNT and MAILSYNC_SHARD_IDS
    log_format: str = "text"  # LOG_FORMAT: text | json (one JSON object a line)
    # MAILSYNC_SYNC_COMMANDS: push the command tree at every start (on) or only on
    # `mailsync sync-commands` (off).
    sync_commands: bool = True
    # The largest message the bot reads (a POP3 download); bigger ones stay on the server.
    max_message_mb: int = limits.DEFAULT_MAX_MESSAGE_MB

    @property
    def callback_url(self) -> str:
        base = self.public_url or f"http://{self.http_host}:{self.http_port}"
        return base.rstrip("/") + "/oauth/callback"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        token = env.get("DISCORD_TOKEN", "").strip()
        if not token:
            raise ConfigError(
                "DISCORD_TOKEN is not set: put your bot token in .env "
                "(Discord Developer Portal -> your application -> Bot -> Reset Token)."
            )
        key = env.get("MAILSYNC_SECRET_KEY", "").strip()
        if not key:
            raise ConfigError(
                "MAILSYNC_SECRET_KEY is not set: run `mailsync generate-key` (or "
                "`python bot.py --generate-key`) and put the key it prints in .env."
            )
        try:
            guild = int(env["MAILSYNC_GUILD_ID"]) if env.get("MAILSYNC_GUILD_ID") else None
            concurrency = int(env.get("MAILSYNC_POLL_CONCURRENCY") or 20)
            idle_minutes = float(env.get("MAILSYNC_IDLE_MINUTES") or 24)
            silence = float(env.get("MAILSYNC_IDLE_SILENCE_SECONDS") or 300)
            probe = float(env.get("MAILSYNC_IDLE_PROBE_SECONDS") or 30)
            max_accounts = int(env.get("MAILSYNC_MAX_ACCOUNTS_PER_GUILD") or 25)
            http_port = int(env.get("MAILSYNC_HTTP_PORT") or 8080)
            max_sends = int(env.get("MAILSYNC_MAX_SENDS_PER_HOUR") or 20)
        except ValueError as exc:
            raise ConfigError(
                "MAILSYNC_GUILD_ID, MAILSYNC_POLL_CONCURRENCY, MAILSYNC_IDLE_MINUTES, "
                "MAILSYNC_IDLE_SILENCE_SECONDS, MAILSYNC_IDLE_PROBE_SECONDS, "
                "MAILSYNC_MAX_ACCOUNTS_PER_GUILD, MAILSYNC_HTTP_PORT and "
                "MAILSYNC_MAX_SENDS_PER_HOUR must be numbers."
            ) from exc
        if not 0 <= http_port <= 65535:
            raise ConfigError("MAILSYNC_HTTP_PORT must be 0 (off) to 65535.")
        try:
            providers = oauth_providers.load_providers(env)
        except oauth_providers.OAuthConfigError as exc:
            raise ConfigError(str(exc)) from exc
        public_url = (env.get("MAILSYNC_PUBLIC_URL") or "").strip()
        if public_url and not public_url.startswith(("https://", "http://")):
            raise ConfigError("MAILSYNC_PUBLIC_URL must start with https:// (or http://).")
        if max_accounts < 1:
            raise ConfigError("MAILSYNC_MAX_ACCOUNTS_PER_GUILD must be at least 1.")
        if max_sends < 1:
            raise ConfigError("MAILSYNC_MAX_SENDS_PER_HOUR must be at least 1.")
        if concurrency < 1:
            raise ConfigError("MAILSYNC_POLL_CONCURRENCY must be at least 1.")
        if not 1 <= idle_minutes <= 29:
            raise ConfigError("MAILSYNC_IDLE_MINUTES must be 1 to 29 (servers drop IDLE at 30).")
        if not 10 <= silence <= 1740 or not 1 <= probe <= 300:
            raise ConfigError(
                "MAILSYNC_IDLE_SILENCE_SECONDS must be 10 to 1740 and "
                "MAILSYNC_IDLE_PROBE_SECONDS 1 to 300."
            )
        timezone = (env.get("MAILSYNC_TIMEZONE") or "UTC").strip()
        try:
            digest_clock.zone(timezone)
        except digest_clock.TimezoneError as exc:
            raise ConfigError(str(exc)) from exc
        database_url = env.get("DATABASE_URL") or "sqlite:///data/mailsync.db"
        try:
            shards = ShardSet.parse(env.get("MAILSYNC_SHARD_COUNT"), env.get("MAILSYNC_SHARD_IDS"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if not shards.complete and database_url.startswith("sqlite"):
            raise ConfigError(
                f"MAILSYNC_SHARD_IDS runs {shards.describe()}, but the other shards' "
                "processes cannot share a SQLite store: use PostgreSQL (DATABASE_URL) or "
                "run every shard in this process."
            )
        raw_max_message = (env.get("MAILSYNC_MAX_MESSAGE_MB") or "").strip()
        try:
            max_message_mb = int(raw_max_message or limits.DEFAULT_MAX_MESSAGE_MB)
        except ValueError:
            max_message_mb = 0
        if not 1 <= max_message_mb <= MAX_MESSAGE_MB_CEILING:
            raise ConfigError(
                f"MAILSYNC_MAX_MESSAGE_MB must be a whole number of MB from 1 to "
                f"{MAX_MESSAGE_MB_CEILING}."
            )
        level = (env.get("LOG_LEVEL") or "INFO").upper()
        if not isinstance(logging.getLevelName(level), int):
            raise ConfigError(f"LOG_LEVEL {level!r} is not a logging level (try INFO or DEBUG).")
        log_format = (env.get("LOG_FORMAT") or "text").strip().lower()
        if log_format not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT {log_format[:20]!r} must be text or json.")
        sync = (env.get("MAILSYNC_SYNC_COMMANDS") or "on").strip().lower()
        if sync not in ("on", "off"):
            raise ConfigError(f"MAILSYNC_SYNC_COMMANDS {sync[:20]!r} must be on or off.")
        return cls(
            discord_token=token,
            secret_key=key,
            database_url=database_url,
            guild_id=guild,
            allow_private_hosts=_flag(env.get("MAILSYNC_ALLOW_PRIVATE_HOSTS")),
            poll_concurrency=concurrency,
            idle_reissue_minutes=idle_minutes,
            idle_silence_seconds=silence,
            idle_probe_seconds=probe,
            max_accounts_per_guild=max_accounts,
            max_sends_per_hour=max_sends,
            log_level=level,
            http_host=(env.get("MAILSYNC_HTTP_HOST") or "127.0.0.1").strip(),
            http_port=http_port,
            public_url=public_url,
            oauth_providers=providers,
            timezone=timezone,
            shards=shards,
            log_format=log_format,
            sync_commands=sync == "on",
            max_message_mb=max_message_mb,
        )
