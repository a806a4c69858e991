"""The `mailsync` command line: parse, read .env, dispatch to a subcommand. Every line it
prints goes through the Redactor, so no configured secret reaches the terminal."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from dotenv import dotenv_values

from mailsync import check_config, doctor, version
from mailsync.redact import Redactor

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
COMMANDS = {
    "run": "run the bot (the default)",
    "check-config": "validate .env and the settings without connecting; exit 0 or 2",
    "doctor": "check the store, secrets, Discord token, web port, OAuth2 and catalogs",
    "generate-key": "print a new MAILSYNC_SECRET_KEY",
    "rotate-keys": "re-encrypt stored secrets with the first MAILSYNC_SECRET_KEY key",
    "sync-commands": "push the slash commands to Discord now",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailsync", description="Mailsync: mail alerts for Discord channels."
    )
    parser.add_argument("--version", action="version", version=f"mailsync {version()}")
    parser.add_argument(
        "--env-file",
        type=Path,
        help="the settings file (default: .env in the current folder, if there)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text, description=text)
    return parser


def _environment(env_file: Path | None) -> dict[str, str]:
    """The process environment over .env's values (as python-dotenv's load_dotenv: a
    variable already set wins), also put into os.environ for the code that reads it."""
    path = env_file if env_file is not None else Path.cwd() / ".env"
    if env_file is not None and not path.is_file():
        raise FileNotFoundError(f"mailsync: no settings file at {path}")
    values = dotenv_values(path) if path.is_file() else {}
    for name, value in values.items():
        if value is not None:
            os.environ.setdefault(name, value)
    return dict(os.environ)


def _check_config(env: dict[str, str], say) -> int:
    problems = check_config.problems(env)
    for problem in problems:
        say(f"problem: {problem}")
    for name in check_config.unknown_names(env, EXAMPLE):
        say(f"note: {name} is not a Mailsync setting (a typo?); it is ignored")
    if problems:
        return 2
    say("ok: the configuration is valid")
    return 0


def _sync_commands(env: dict[str, str], say) -> int:
    import bot  # the bot's wiring only when asked for: the other commands start faster

    problems = check_config.problems(env)
    if problems:
        for problem in problems:
            say(f"problem: {problem}")
        return 2
    settings = bot.Settings.from_env(env)
    bot.setup_logging(settings.log_level, settings.log_format)
    try:
        count = asyncio.run(bot.sync_commands(settings))
    except bot.discord.LoginFailure:
        say("mailsync: Discord refused DISCORD_TOKEN; check the token in .env.")
        return 1
    where = f"guild {settings.guild_id}" if settings.guild_id else "every guild (global)"
    say(f"synced {count} command(s) to {where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "generate-key":
        from storage.crypto import SecretBox

        print(SecretBox.generate_key())  # the one secret this command exists to print
        return 0
    try:
        env = _environment(args.env_file)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    redact = Redactor(env)

    def say(line: str) -> None:
        print(redact(line), flush=True)

    if command == "check-config":
        return _check_config(env, say)
    if command == "doctor":
        return doctor.run(env, say)
    if command == "sync-commands":
        return _sync_commands(env, say)
    import bot

    if command == "rotate-keys":
        return bot.rotate_keys(env)
    return bot.start(env)
