"""LOG_FORMAT=json: one JSON object a line with time, level, logger and message, plus the
account and guild a poll works for; text stays the default."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

import bot as bot_module
from tests.plugins.mailsync import until
from watch import log_context


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {n: logging.getLogger(n).level for n in (*bot_module.PAYLOAD_LOGGERS, "discord")}
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _objects(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_carry_time_level_logger_message(restore_logging, capsys):
    """Each record is one line holding one object; a traceback stays inside it."""
    bot_module.setup_logging("INFO", "json")
    log = logging.getLogger("mailsync.test")
    log.info("hello %s", "world")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        log.exception("it failed")
    first, second = _objects(capsys.readouterr().err)
    assert first["message"] == "hello world"
    assert (first["level"], first["logger"]) == ("INFO", "mailsync.test")
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc_info"]
    assert "account_id" not in first and "guild_id" not in first  # unknown: left out


def test_text_is_the_default_format(restore_logging, capsys):
    """Without LOG_FORMAT a line is the plain text format, not JSON."""
    bot_module.setup_logging("INFO")
    logging.getLogger("mailsync.test").warning("plain")
    line = capsys.readouterr().err.strip()
    assert line.endswith("WARNING mailsync.test: plain")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


async def test_bound_ids_follow_the_task_and_its_threads(restore_logging, capsys):
    """Ids bound in one task reach its own lines and its to_thread work, not another
    task's lines."""
    bot_module.setup_logging("INFO", "json")
    log = logging.getLogger("mailsync.test")

    async def poll() -> None:
        log_context.bind(7, 4242)
        log.info("in the task")
        await asyncio.to_thread(log.info, "in its thread")

    await asyncio.create_task(poll())
    log.info("elsewhere")
    task_line, thread_line, other = _objects(capsys.readouterr().err)
    assert (task_line["account_id"], task_line["guild_id"]) == (7, 4242)
    assert (thread_line["account_id"], thread_line["guild_id"]) == (7, 4242)
    assert "account_id" not in other


async def test_a_real_poll_logs_its_account_and_guild(harness, dovecot, restore_logging, capsys):
    """A watcher poll of a real account writes JSON lines naming the account and guild."""
    user = dovecot.add_user()
    bot_module.setup_logging("DEBUG", "json")
    async with harness.running():
        _, reply = await harness.add_account(user, name="desk")
        assert "Watching `desk`" in reply
        account_id = harness.account_id("desk")
        harness.watcher.request_poll(account_id)

        def polled() -> list[dict]:
            lines = [o for o in _objects(capsys.readouterr().err) if o.get("account_id")]
            found.extend(lines)
            return [o for o in found if o["message"].startswith("polled account")]

        found: list[dict] = []
        line = (await until(polled, timeout=30))[0]
    assert line["account_id"] == account_id
    assert line["guild_id"] == harness.double.guild_id
    assert line["logger"] == "watch.engine" and line["level"] == "DEBUG"
