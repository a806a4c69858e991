"""End to end, the sweep tick and pushed accounts (watch/engine.py): an account whose INBOX
idles needs no sweep, so the tick looks at it only every PUSHED_RECHECK_SECONDS; once its
connection is lost (or a poll leaves it unpushed) it is due at its own interval again."""

import time

import pytest

from tests.plugins.mailsync import until
from watch.engine import PUSHED_RECHECK_SECONDS


def _due_in(harness, account_id) -> float:
    return harness.watcher._due[account_id] - time.monotonic()


@pytest.mark.any_server
async def test_a_pushed_inbox_is_left_to_idle_until_its_connection_is_lost(
    harness, mail_server, mail_user
):
    async with harness.running():
        await harness.add_account(mail_user, name="push", interval=1)
        account_id = harness.account_id("push")
        await until(lambda: harness.watcher.pushed(account_id))
        await harness.settled()

        harness.watcher.due_now(account_id)
        await harness.watcher.sweep()
        assert _due_in(harness, account_id) > PUSHED_RECHECK_SECONDS - 5
        assert not harness.watcher._again  # no poll was asked for: INBOX is pushed

        mail_server.kick(mail_user)  # the server ends the idling session
        await until(lambda: not harness.watcher.pushed(account_id))
        await until(lambda: _due_in(harness, account_id) <= 60)
        # The reconnect brings push back; the next sweep leaves it alone again.
        await until(lambda: harness.watcher.pushed(account_id), timeout=20)
        await harness.settled()  # the catch-up poll holds the account: a sweep would skip it
        harness.watcher.due_now(account_id)
        await harness.watcher.sweep()
        assert _due_in(harness, account_id) > PUSHED_RECHECK_SECONDS - 5


@pytest.mark.any_server
async def test_an_account_without_push_is_still_swept_at_its_interval(
    harness, mail_server, mail_user
):
    async with harness.running():
        await harness.add_account(
            mail_user, name="other", interval=1, folders=f"INBOX,{mail_server.folder('Sent')}"
        )
        account_id = harness.account_id("other")
        await until(lambda: harness.watcher.pushed(account_id))
        await harness.settled()
        harness.watcher.due_now(account_id)
        await harness.watcher.sweep()  # pushed, but Sent is not: polled on the connection
        assert 0 < _due_in(harness, account_id) <= 60
