"""A notice and the state it belongs to are one transaction: a process killed just before
or just after that commit posts the notice exactly once after a restart (trouble warning
and its flag; recovered notice and clearing it; quota warning and the stored level)."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage import health
from storage.outbox import Alert
from tests.plugins.dovecot import make_message

ROOT = Path(__file__).resolve().parent.parent
TITLES = {
    "trouble": "Mail account in trouble",
    "recovered": "Mail account recovered",
    "quota": "Mailbox over 80 % full",
}


def _crash(harness, account_id, notice, point):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "notice_crash_child.py"),
            harness.settings.database_url,
            harness.settings.secret_key,
            str(account_id),
            notice,
            point,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 9, done.stderr.decode()[-2000:]


def _fail(harness, account_id, times):
    """Earlier failed polls, as the store records them (no notice yet)."""
    for _ in range(times):
        health.record_failure(
            harness.bot.engine, account_id, "refused", "down", 3, lambda n: Alert({"title": "x"})
        )


async def _check(harness, account):
    return await harness.reply_text(await harness.command("mail check", {"account": account}))


def _count(harness, title):
    return sum(
        1
        for p in harness.double.channel_messages(harness.double.channel_id)
        if p["embeds"][0]["title"] == title
    )


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
@pytest.mark.parametrize("notice", ["trouble", "recovered", "quota"])
async def test_notice_is_posted_once_across_a_crash(harness, dovecot, notice, point):
    """Killed around the commit of a notice with its state: exactly one notice after restart."""
    user = dovecot.add_user(quota_kib=200)
    async with harness.running():
        await harness.add_account(user, name="n", folders="Sent")
        account_id = harness.account_id("n")
        if notice == "trouble":
            _fail(harness, account_id, 2)
        elif notice == "recovered":
            _fail(harness, account_id, 3)
        else:
            dovecot.append(user, make_message(subject="big", size=170 * 1024), folder="Sent")
    title = TITLES[notice]
    if notice == "trouble":
        await asyncio.to_thread(dovecot.stop)
    try:
        await asyncio.to_thread(_crash, harness, account_id, notice, point)
        async with harness.running():
            if point == "before_commit":  # nothing was written: the next poll does it all
                await _check(harness, "n")
            await harness.posts()
            assert _count(harness, title) == 1
            await _check(harness, "n")  # the state came with the notice: no second one
            await harness.posts()
            assert _count(harness, title) == 1
    finally:
        if notice == "trouble":
            await asyncio.to_thread(dovecot.start)
