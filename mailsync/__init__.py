"""The `mailsync` console command (`python -m mailsync`): run the bot, check the
configuration, diagnose a deployment, manage keys and push the slash commands. It sits on
top of everything: it may import bot.py, settings and storage; nothing imports it."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """The installed package's version (pyproject.toml), or "unknown" from a bare tree."""
    try:
        return metadata.version("mailsync")
    except metadata.PackageNotFoundError:
        return "unknown"
