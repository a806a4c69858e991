"""A crash between DATA and the commit (SPEC section 13): the server took the message
but the store never heard. After a restart the row is `unknown`, the channel gets exactly
one notice with Resend and Discard, and nothing is sent again on its own; Discard keeps it
unsent, Resend (by the sender or Manage Server) sends it once more."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from mail import compose
from storage import outgoing
from storage.models import OutgoingMail, utcnow
from tests.plugins.mailsync import until
from tests.reply_helpers import FROM, parsed, set_up
from tests.test_e2e_actions import ephemeral

ROOT = Path(__file__).resolve().parent.parent
NOTICE = "Reply may not have been sent"


def _queue_later(harness, account_id: int) -> int:
    """A stored message not yet due (the running bot leaves it to the child)."""
    draft = compose.Draft(
        FROM, ("zed@example.com",), (), "Crash test", "Body.", compose.new_message_id(FROM)
    )
    row = OutgoingMail(
        account_id=account_id,
        sent_by=harness.double.admin_id,
        message_ref=draft.message_id,
        raw=compose.build(draft),
        sender=FROM,
        recipients="zed@example.com",
        to_addrs="zed@example.com",
        subject=draft.subject,
        body=draft.body,
        next_attempt_at=utcnow() + timedelta(days=1),
    )
    return outgoing.queue(harness.bot.engine, row, cap=20).id  # type: ignore[return-value]


def _crash(harness, row_id: int) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "reply_crash_child.py"),
            harness.settings.database_url,
            harness.settings.secret_key,
            str(row_id),
        ],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr.decode()[-2000:]


def _notices(harness) -> list[dict]:
    d = harness.double
    return [
        m
        for m in d.messages_in(d.channel_id)
        if m.get("embeds") and m["embeds"][0].get("title") == NOTICE
    ]


async def _crashed(harness, dovecot, mail_user, sink) -> tuple[int, int]:
    async with harness.running():
        account_id = await set_up(harness, mail_user, threads=False)
        row_id = await asyncio.to_thread(_queue_later, harness, account_id)
    await asyncio.to_thread(_crash, harness, row_id)
    assert len(sink.to("zed@example.com")) == 1  # the server took it before the "crash"
    return account_id, row_id


async def test_killed_after_data_leaves_unknown_one_notice_and_discard(
    harness, dovecot, mail_user, sink
):
    """unknown after the restart, one notice (also after a second restart), no resend in
    the meantime; a member without rights cannot Discard, Manage Server can."""
    d = harness.double
    _account_id, row_id = await _crashed(harness, dovecot, mail_user, sink)
    for _ in range(2):  # a second restart posts no second notice
        async with harness.running():
            (notice,) = await until(lambda: _notices(harness), 30)
            await harness.posts()
            assert outgoing.get(harness.bot.engine, row_id).state == "unknown"
            assert d.button_labels(int(notice["id"])) == ["Resend", "Discard"]
            await asyncio.sleep(2)
            assert len(_notices(harness)) == 1
    assert len(sink.to("zed@example.com")) == 1
    async with harness.running():
        mid = int(_notices(harness)[0]["id"])
        refused = await d.press(mid, d.member_id, label="Discard")
        await until(lambda: ephemeral(refused), 20)
        assert "Only the member who sent it" in ephemeral(refused)
        await d.press(mid, d.admin_id, label="Discard")
        await until(lambda: outgoing.get(harness.bot.engine, row_id).state == "discarded", 20)
        await until(lambda: d.button_labels(mid) == [], 20)
        await asyncio.sleep(2)
    assert len(sink.to("zed@example.com")) == 1


async def test_resend_sends_an_unknown_message_once_more(harness, dovecot, mail_user, sink):
    """Resend by its sender queues it again: it is sent exactly once more, with the same
    Message-ID, and the notice loses its buttons."""
    d = harness.double
    _account_id, row_id = await _crashed(harness, dovecot, mail_user, sink)
    async with harness.running():
        (notice,) = await until(lambda: _notices(harness), 30)
        mid = int(notice["id"])
        await d.press(mid, d.admin_id, label="Resend")
        await until(lambda: outgoing.get(harness.bot.engine, row_id).state == "sent", 60)
        await until(lambda: d.button_labels(mid) == [], 20)
        await until(lambda: len(sink.to("zed@example.com")) == 2, 30)
        first, second = sink.to("zed@example.com")
        assert parsed(first.data)["Message-ID"] == parsed(second.data)["Message-ID"]
        await asyncio.sleep(2)
        assert len(sink.to("zed@example.com")) == 2
