"""Runs the `mailsync` command in a child process with discord.py pointed at the test's
Discord double, as the discord_double fixture does in-process (product code has no switch
for it): `python tests/cli_child.py SUBCOMMAND ...` with MAILSYNC_TEST_DISCORD_API set to
the double's API base and, for `run`, MAILSYNC_TEST_DISCORD_GATEWAY to its websocket."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord.gateway
import discord.http
import yarl

base = os.environ.pop("MAILSYNC_TEST_DISCORD_API", "")
if base:
    discord.http.Route.BASE = base
gateway = os.environ.pop("MAILSYNC_TEST_DISCORD_GATEWAY", "")
if gateway:
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)

from mailsync.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
