"""Pushing the command tree on demand: `mailsync sync-commands` syncs over REST alone (no
gateway, no store), and MAILSYNC_SYNC_COMMANDS=off starts the bot without syncing."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.fernet import Fernet

import bot as bot_module
from tests.cli_run import base_env, run_child

TOKEN = "Zq9-discord-token-SECRET-0123456789"


async def test_sync_commands_pushes_the_tree_to_the_guild(tmp_path, discord_double):
    """`mailsync sync-commands` logs in, PUTs /mail to MAILSYNC_GUILD_ID and exits 0,
    without a gateway connection and without creating the store."""
    database = tmp_path / "data" / "mailsync.db"
    env = base_env(
        DISCORD_TOKEN=TOKEN,
        MAILSYNC_SECRET_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=f"sqlite:///{database}",
        MAILSYNC_GUILD_ID=str(discord_double.guild_id),
    )
    ran = await run_child(["sync-commands"], env, tmp_path, discord_double.api_base)
    assert ran.code == 0, ran.out + ran.err
    synced = discord_double.synced_commands(discord_double.guild_id)
    assert [c["name"] for c in synced] == ["mail"]
    assert ran.out.strip() == f"synced 1 command(s) to guild {discord_double.guild_id}"
    put = discord_double.find("PUT", r"/guilds/\d+/commands$")
    assert len(put) == 1 and put[0].headers["Authorization"] == f"Bot {TOKEN}"
    assert discord_double.gateway_connections == []
    assert not database.exists()
    assert TOKEN not in ran.out + ran.err


async def test_sync_commands_with_a_refused_token_exits_1(tmp_path, discord_double):
    """A token Discord refuses: one line, exit 1, nothing pushed."""
    discord_double.set_status("GET", r"^/users/@me$", 401)
    env = base_env(DISCORD_TOKEN=TOKEN, MAILSYNC_SECRET_KEY=Fernet.generate_key().decode())
    ran = await run_child(["sync-commands"], env, tmp_path, discord_double.api_base)
    assert ran.code == 1
    assert "Discord refused DISCORD_TOKEN" in ran.out
    assert not discord_double.find("PUT", r"/commands$")


@pytest.mark.parametrize("sync", [True, False])
async def test_start_syncs_only_when_the_setting_says_so(harness, discord_double, sync):
    """With MAILSYNC_SYNC_COMMANDS on the start PUTs the commands; off, it does not (the
    sync runs in setup_hook, which ends before the bot is ready)."""
    settings = dataclasses.replace(harness.settings, sync_commands=sync)
    bot = bot_module.build_bot(settings)
    try:
        async with discord_double.running(bot, token=settings.discord_token):
            assert bot.is_ready()
            assert bool(discord_double.find("PUT", r"/commands$")) is sync
    finally:
        bot.engine.dispose()


def test_the_setting_reads_on_and_off():
    """MAILSYNC_SYNC_COMMANDS: on (default) or off; anything else is a ConfigError."""
    env = {"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": Fernet.generate_key().decode()}
    assert bot_module.Settings.from_env(env).sync_commands is True
    off = bot_module.Settings.from_env({**env, "MAILSYNC_SYNC_COMMANDS": "OFF"})
    assert off.sync_commands is False
    with pytest.raises(bot_module.ConfigError, match="MAILSYNC_SYNC_COMMANDS"):
        bot_module.Settings.from_env({**env, "MAILSYNC_SYNC_COMMANDS": "maybe"})
