"""Who may send and what may be sent (SPEC section 13), end to end through bot.py against
the real submission service: a member without rights is refused (a reply_role member may
send), CR/LF aimed at a header is refused, and the hourly cap is said plainly. Each
refusal stores nothing and sends nothing."""

from __future__ import annotations

import dataclasses

import pytest

from tests.plugins.mailsync import until
from tests.reply_helpers import deliver, incoming, press, rows, set_up, settled_state, submit
from tests.test_e2e_actions import ask, ephemeral


async def test_a_member_without_rights_is_refused_and_reply_role_may_send(
    harness, dovecot, mail_user, sink
):
    """Without Manage Server or the reply role, Reply answers with an ephemeral refusal and
    no modal; after /mail edit reply_role, a member with that role sends."""
    d = harness.double
    async with harness.running():
        account_id = await set_up(harness, mail_user)
        mid = int((await deliver(harness, mail_user, incoming("Team", "<t1@example.com>")))["id"])
        handle = await press(harness, mid, "Reply", user_id=d.member_id)
        refusal = ephemeral(handle)
        assert refusal and "Manage Server" in refusal and "Nothing was sent" in refusal
        assert not any(r["kind"] == "callback" and r["type"] == 9 for r in handle.replies)
        role = await d.add_role(d.guild_id, "Inbox team")
        alice = await d.add_member(d.guild_id, "alice", [role.id])
        said = await ask(harness, "mail edit", {"account": "desk", "reply_role": role.id})
        assert f"<@&{role.id}>" in said
        handle = await press(harness, mid, "Reply", user_id=alice.user_id)
        assert any(r["kind"] == "callback" and r["type"] == 9 for r in handle.replies)
        said = await submit(harness, {"Message": "From alice."}, user_id=alice.user_id)
        assert "Sending to" in said, said
        row = await settled_state(harness, account_id, "sent")
        assert row.sent_by == alice.user_id
        assert len(sink.to("alice@example.com")) == 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("Subject", "Hello\r\nBcc: evil@example.net"),
        ("To", "alice@example.com\nBcc: evil@example.net"),
        ("Cc", "carol@example.com\rBcc: evil@example.net"),
        ("To", "not an address"),
    ],
)
async def test_header_injection_and_bad_addresses_are_refused(
    harness, dovecot, mail_user, sink, field, value
):
    """CR or LF in To, Cc or Subject (or a malformed address) is refused with a reason;
    nothing is stored, nothing reaches the server."""
    async with harness.running():
        account_id = await set_up(harness, mail_user)
        mid = int((await deliver(harness, mail_user, incoming("Inj", "<i1@example.com>")))["id"])
        await press(harness, mid, "Reply")
        said = await submit(harness, {field: value, "Message": "x"})
        assert "Nothing was sent" in said, said
        assert "line breaks" in said or "not a valid" in said, said
        assert rows(harness, account_id) == []
        assert sink.to("evil@example.net") == []


async def test_the_hourly_cap_is_said_plainly(harness, dovecot, mail_user, sink):
    """With MAILSYNC_MAX_SENDS_PER_HOUR=2, the third send within the hour is refused with
    the limit and when the next can go; the first two are sent once each."""
    harness.settings = dataclasses.replace(harness.settings, max_sends_per_hour=2)
    async with harness.running():
        account_id = await set_up(harness, mail_user)
        mid = int((await deliver(harness, mail_user, incoming("Cap", "<c1@example.com>")))["id"])
        for n in range(2):
            await press(harness, mid, "Reply")
            assert "Sending to" in await submit(harness, {"Message": f"number {n}"})
        await press(harness, mid, "Reply")
        said = await submit(harness, {"Message": "one too many"})
        assert "already sent 2 messages in the last hour" in said, said
        assert "MAILSYNC_MAX_SENDS_PER_HOUR" in said and "<t:" in said
        await until(lambda: len(sink.to("alice@example.com")) == 2, 60)
        assert len(rows(harness, account_id)) == 2
