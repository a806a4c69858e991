"""When the server says no (SPEC section 13), end to end against the real submission
service with the sink scripting its answers: a 4xx then acceptance sends once, a 5xx is
reported with the server's reason and not retried, and a failed Sent copy (APPEND over
quota) is reported without ever causing a resend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.plugins.mailsync import until
from tests.reply_helpers import (
    copy_settled,
    deliver,
    incoming,
    press,
    rows,
    set_up,
    settled_state,
    submit,
)
from tests.test_e2e_threads import _posts


@pytest.fixture
def quick_retry(monkeypatch):
    """Retry after 1 s instead of 30 s, so a test sees the second attempt."""
    monkeypatch.setattr("watch.replies.RETRY_BASE", timedelta(seconds=1))


def _titles(d, thread_id):
    return [p["embeds"][0].get("title") for p in _posts(d, thread_id)]


async def _reply(harness, user, subject, message_id, text="Hello back."):
    mid = int((await deliver(harness, user, incoming(subject, message_id)))["id"])
    await press(harness, mid, "Reply")
    assert "Sending to" in await submit(harness, {"Message": text})
    return mid


async def test_a_temporary_failure_is_retried_and_sent_once(
    harness, dovecot, mail_user, sink, quick_retry
):
    """451 to DATA, then acceptance: the message is retried, reaches the sink exactly
    once, and the row is sent after two attempts."""
    sink.script("451 4.3.0 Try again later")
    async with harness.running():
        account_id = await set_up(harness, mail_user)
        await _reply(harness, mail_user, "Busy", "<b1@example.com>")
        row = await settled_state(harness, account_id, "sent", timeout=60)
        assert row.attempts == 1 and "Try again later" in (row.error or "")
        assert sink.attempts == 2
        await asyncio.sleep(3)  # nothing more goes out
        assert len(sink.to("alice@example.com")) == 1


async def test_a_permanent_failure_is_reported_with_the_reason_and_not_retried(
    harness, dovecot, mail_user, sink, quick_retry
):
    """550 to DATA: the row is failed, the conversation is told the server's reason and
    who tried, and nothing is sent later."""
    d = harness.double
    sink.script("550 5.7.1 Rejected by local policy")
    async with harness.running():
        account_id = await set_up(harness, mail_user)
        mid = await _reply(harness, mail_user, "Policy", "<p1@example.com>")
        row = await settled_state(harness, account_id, "failed", timeout=60)
        assert "Rejected by local policy" in (row.error or "")
        thread = await until(lambda: d.thread_of(mid), 30)
        (notice,) = await until(lambda: _posts(d, int(thread["id"])), 30)
        assert notice["embeds"][0]["title"] == "Reply not sent"
        assert "Rejected by local policy" in notice["embeds"][0]["description"]
        await asyncio.sleep(3)
        assert sink.attempts == 1 and sink.to("alice@example.com") == []
        assert [r.state for r in rows(harness, account_id)] == ["failed"]


async def test_a_failed_sent_copy_is_reported_and_never_resends(harness, dovecot, sink):
    """The mailbox is over quota, so APPEND to Sent fails: the reply stays sent (once),
    the copy is marked failed and the conversation is told; no second send follows."""
    d = harness.double
    user = dovecot.add_user(quota_kib=2)
    async with harness.running():
        account_id = await set_up(harness, user)
        mid = await _reply(harness, user, "Full", "<f1@example.com>", text="x " * 1500)
        row = await settled_state(harness, account_id, "sent", timeout=60)
        assert await copy_settled(harness, row.id) == "failed"
        thread = await until(lambda: d.thread_of(mid), 30)
        await until(lambda: "No copy in Sent" in _titles(d, int(thread["id"])), 30)
        await asyncio.sleep(3)
        assert len(sink.to("alice@example.com")) == 1
        assert [r.state for r in rows(harness, account_id)] == ["sent"]
