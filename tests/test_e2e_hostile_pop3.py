"""End to end through bot.py, POP3 messages that do not end where they should (issue 20,
item 1): a RETR answer that streams forever is abandoned at its LIST size plus the margin,
or at MAILSYNC_MAX_MESSAGE_MB when LIST claims more; a message LIST announces over the
cap is never read. Nothing half-stored, no DELE, and the mail is still there afterwards."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import text

from mail import limits
from tests.hostile_e2e import (
    HEALTHY_ALERT_BOUND,
    RSS_BOUND,
    MiB,
    healthy_alert_seconds,
    last_error,
    report,
)
from tests.plugins.dovecot import make_message
from tests.plugins.hostile.stream_faults import (
    POP3_RETR_ANSWER,
    EndlessPop3Message,
    StreamFault,
    Trickle,
)
from tests.plugins.mailsync import until
from tests.rss import PeakRss


@pytest.fixture(autouse=True)
def _default_largest_message():
    """The bot sets the process-wide largest message from its settings: put it back."""
    yield
    limits.configure(limits.DEFAULT_MAX_MESSAGE_MB)


def _archived(harness, account_id: int) -> int:
    with harness.bot.engine.connect() as conn:
        sql = text("select count(*) from pop3_message where account_id = :id")
        return conn.execute(sql, {"id": account_id}).scalar_one()


def _on_server(dovecot, user) -> int:
    with dovecot.imap(user) as client:
        client.select_folder("INBOX", readonly=True)
        return len(client.search("ALL"))


async def _endless(harness, dovecot, mail_user, proxy, fault: StreamFault):
    """Add a POP3 account behind the proxy and a healthy IMAP one, run `fault` on the next
    /mail check; returns (reply, seconds to drop, RSS growth, healthy alert seconds,
    (kind, error)). Checks nothing was stored or deleted, then lifts the fault and checks
    the message arrives once."""
    healthy = dovecot.add_user()
    options = {"protocol": "pop3", "host": proxy.host, "port": proxy.port, "interval": 60}
    await harness.add_account(mail_user, name="hostile", **options)
    await harness.add_account(healthy, name="healthy")
    hostile_id, healthy_id = harness.account_id("hostile"), harness.account_id("healthy")
    await until(lambda: harness.idle_client(healthy_id), timeout=30)
    await healthy_alert_seconds(harness, dovecot, healthy, "warming up")
    await harness.settled(1)
    await asyncio.to_thread(dovecot.append, mail_user, make_message(subject="waiting"))
    proxy.set_fault(fault)
    with PeakRss() as memory:
        check = await harness.command("mail check", {"account": "hostile"})
        await until(lambda: fault.started is not None, timeout=30)
        latency = await healthy_alert_seconds(harness, dovecot, healthy, "healthy meanwhile")
        reply = await harness.reply_text(check, timeout=150)
        await until(lambda: fault.dropped is not None, timeout=120)
    error = last_error(harness, hostile_id)
    assert _archived(harness, hostile_id) == 0  # nothing half-stored
    assert await asyncio.to_thread(_on_server, dovecot, mail_user) == 1  # no DELE
    proxy.set_fault(None)
    again = await harness.command("mail check", {"account": "hostile"})
    assert "1 new message" in await harness.reply_text(again, timeout=60)
    titles = [p["embeds"][0]["title"] for p in await harness.settled(3)]
    assert sorted(titles) == ["healthy meanwhile", "waiting", "warming up"]
    return reply, fault.seconds_to_drop, memory.growth, latency, error


async def test_a_message_past_its_list_size_is_abandoned(harness, dovecot, mail_user, hostile_pop3):
    """RETR streams forever while LIST said a few hundred bytes: abandoned within 10 s,
    after at most twice the LIST size plus 64 KiB, not stored, not deleted, RSS grows
    under 64 MiB, and a healthy alert arrives within 10 s meanwhile."""
    fault = EndlessPop3Message()
    async with harness.running():
        reply, seconds, growth, latency, (kind, error) = await _endless(
            harness, dovecot, mail_user, hostile_pop3, fault
        )
    report(
        "pop3-endless-message", seconds_to_drop=seconds, rss_mib=growth / MiB,
        healthy_alert_s=latency, pushed_bytes=fault.pushed,
    )  # fmt: skip
    assert seconds is not None and seconds <= 10
    assert growth <= RSS_BOUND
    assert latency <= HEALTHY_ALERT_BOUND
    assert kind == "limit"
    assert "message 1 (LIST said" in error and "the connection was dropped" in error
    assert "message 1" in reply


async def test_a_message_past_the_largest_size_is_abandoned(
    harness, dovecot, mail_user, hostile_pop3
):
    """LIST claims 3 MiB and RETR never ends, with MAILSYNC_MAX_MESSAGE_MB=4: abandoned at
    4 MiB (not at LIST's double), within 10 s, nothing stored or deleted."""
    harness.settings = dataclasses.replace(harness.settings, max_message_mb=4)
    fault = EndlessPop3Message(list_size=3 * MiB)
    async with harness.running():
        _reply, seconds, growth, latency, (kind, error) = await _endless(
            harness, dovecot, mail_user, hostile_pop3, fault
        )
    report(
        "pop3-endless-past-cap", seconds_to_drop=seconds, rss_mib=growth / MiB,
        healthy_alert_s=latency, pushed_bytes=fault.pushed,
    )  # fmt: skip
    assert seconds is not None and seconds <= 10
    assert growth <= RSS_BOUND
    assert latency <= HEALTHY_ALERT_BOUND
    assert kind == "limit" and "more than 4 MiB for message 1 (LIST said 3 MiB)" in error


@pytest.mark.timeout(300)
async def test_a_trickled_message_is_dropped_at_its_deadline(
    harness, dovecot, mail_user, hostile_pop3
):
    """RETR answered one byte every 2 s (the answer would take over 2 minutes; no recv
    waits past its timeout): dropped within 90 s with the deadline's error, nothing
    stored or deleted, and a healthy alert arrives within 10 s meanwhile."""
    fault = Trickle(interval=2.0, trigger=rb"^RETR ", answer=POP3_RETR_ANSWER)
    async with harness.running():
        reply, seconds, growth, latency, (kind, error) = await _endless(
            harness, dovecot, mail_user, hostile_pop3, fault
        )
    report(
        "pop3-trickle", seconds_to_drop=seconds, rss_mib=growth / MiB,
        healthy_alert_s=latency, pushed_bytes=fault.pushed,
    )  # fmt: skip
    assert seconds is not None and seconds <= 90
    assert fault.pushed < len(POP3_RETR_ANSWER)  # cut off before the answer was complete
    assert growth <= RSS_BOUND
    assert latency <= HEALTHY_ALERT_BOUND
    assert kind == "limit" and "deadline" in error and "deadline" in reply


async def test_a_message_listed_over_the_cap_stays_on_the_server_unread(harness, dovecot):
    """With MAILSYNC_MAX_MESSAGE_MB=1, a 1.5 MiB message is never downloaded (nor
    deleted under retention delete) while the small one after it is archived and posted."""
    harness.settings = dataclasses.replace(harness.settings, max_message_mb=1)
    mail_user = dovecot.add_user(quota_kib=8 * 1024)
    async with harness.running():
        await harness.add_account(mail_user, name="pop", protocol="pop3", port=dovecot.pop3s_port)
        edit = await harness.command("mail edit", {"account": "pop", "retention": "delete"})
        assert "retention `delete`" in await harness.reply_text(edit)
        account_id = harness.account_id("pop")
        big = make_message(subject="too big", size=3 * MiB // 2)
        await asyncio.to_thread(dovecot.append, mail_user, big)
        await asyncio.to_thread(dovecot.append, mail_user, make_message(subject="small"))
        check = await harness.command("mail check", {"account": "pop"})
        assert "1 new message" in await harness.reply_text(check, timeout=60)
        assert await harness.titles(1) == ["small"]
        assert _archived(harness, account_id) == 1
        assert last_error(harness, account_id) == (None, None)
    assert await asyncio.to_thread(_on_server, dovecot, mail_user) == 1  # the big one
