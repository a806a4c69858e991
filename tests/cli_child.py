"""Runs the `mailsync` command in a child process with discord.py pointed at the test's
Discord double, as the discord_double fixture does in-process (product code has no switch
for it): `python tests/cli_child.py SUBCOMMAND ...` with MAILSYNC_TEST_DISCORD_API set to
the double's API base."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord.http

base = os.environ.pop("MAILSYNC_TEST_DISCORD_API", "")
if base:
    discord.http.Route.BASE = base

from mailsync.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
