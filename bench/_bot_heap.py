"""The bot process's Python heap per account, by who holds it (bench.memory_split --bot).

The bot runs as its own process with tracemalloc on (bench/_bot_process.py); accounts are
added through /mail add; the heap is dumped (SIGUSR1) before and after, grouped by the
file that allocated each block. tracemalloc's own records inflate RSS, so RSS figures
come from bench.sweep, run without it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from bench._bot_process import BotProcess, bot_env
from tests.plugins.discord_double import DiscordDouble
from tests.plugins.dovecot import Dovecot
from tests.plugins.mailsync import Harness

ROOT = str(Path(__file__).resolve().parent.parent)
GROUPS = (
    ("ssl.py / socket.py (Python side of TLS)", ("/ssl.py", "/socket.py")),
    ("imaplib + imapclient", ("/imaplib.py", "/imapclient/")),
    ("bot: mail/ (IDLE hub, sessions)", (f"{ROOT}/mail/",)),
    ("bot: watch/ (engine, schedule)", (f"{ROOT}/watch/",)),
    ("bot: storage/ + SQLAlchemy", (f"{ROOT}/storage/", "/sqlalchemy/", "/sqlmodel/")),
    ("APScheduler", ("/apscheduler/",)),
    ("discord.py / aiohttp", ("/discord/", "/aiohttp/")),
)


def _group(filename: str) -> str:
    for label, needles in GROUPS:
        if any(n in filename for n in needles):
            return label
    return "other (threads, logging, stdlib)"


async def _dump(bot: BotProcess, out: Path) -> dict[str, int]:
    """{file: bytes} alive in the bot's heap now."""
    await asyncio.to_thread(out.unlink, missing_ok=True)
    os.kill(bot.pid, signal.SIGUSR1)
    await bot.wait_for(out.exists, 120, "the heap dump")
    await asyncio.sleep(0.5)
    return json.loads(await asyncio.to_thread(out.read_text))


async def heap_per_account(
    dovecot: Dovecot, users: list, tmp: Path, by_line: bool = False
) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """KiB per account of the bot's Python heap for len(users) - 10 accounts: by group,
    and the ten files (or, `by_line`, the 25 lines) whose blocks grew most."""
    double = DiscordDouble()
    await double.start()
    out = tmp / "heap.json"
    env = {
        **bot_env(double.guild_id, dovecot.ca_file, tmp / "heap.db", len(users) + 10),
        "BENCH_TRACEMALLOC_OUT": str(out),
        **({"BENCH_BY_LINE": "1"} if by_line else {}),
    }
    harness = Harness(double, dovecot, settings=None)
    port, warm = dovecot.imaps_port, 10
    bot = BotProcess(env, double.api_base, double.ws_url, tmp / "heap-bot.log")
    try:
        await double.wait_for(method="PUT", path=r"/commands$", timeout=120)
        await asyncio.sleep(3)
        for user in users[:warm]:
            await harness.add_account(user, interval=1)
        await bot.wait_for(lambda: bot.connections_to(port) == warm, 120, "warm-up accounts")
        await asyncio.sleep(8)  # past Dovecot's hibernation and the first renewals' setup
        before = await _dump(bot, out)
        for user in users[warm:]:
            await harness.add_account(user, interval=1)
        n = len(users)
        await bot.wait_for(lambda: bot.connections_to(port) == n, 600, "every account")
        await asyncio.sleep(8)
        after = await _dump(bot, out)
    finally:
        bot.stop()
        await double.stop()
    added = len(users) - warm
    growth = {f: (after.get(f, 0) - before.get(f, 0)) / 1024 / added for f in {*before, *after}}
    grouped: dict[str, float] = {}
    for filename, kib in growth.items():
        grouped[_group(filename)] = grouped.get(_group(filename), 0.0) + kib
    top = sorted(growth.items(), key=lambda item: -item[1])[: 25 if by_line else 10]
    return grouped, [(f.replace(ROOT + "/", ""), kib) for f, kib in top]
