"""End to end through bot.py, an IMAP server that misbehaves on the stream (issue 20,
items 1 and 2): the hostile proxy sits in front of the real Dovecot for one account,
while a second account on Dovecot itself must keep getting its alerts.

Each test arms a fault, delivers a message to the hostile account (its IDLE push makes
the bot poll through the proxy), and measures from outside the reading code: seconds
from the fault taking over to the bot dropping the connection, the test process's RSS
growth (the bot runs in it), the healthy account's alert latency meanwhile, and the
error the account records. Then the fault is lifted and the waiting mail arrives, once."""

from __future__ import annotations

import asyncio

import pytest

from mail import limits
from tests.hostile_e2e import (
    HEALTHY_ALERT_BOUND,
    RSS_BOUND,
    healthy_alert_seconds,
    last_error,
    report,
)
from tests.plugins.dovecot import make_message
from tests.plugins.hostile.stream_faults import HugeLiteral, StreamFault, Trickle, UntaggedFlood
from tests.plugins.mailsync import until
from tests.rss import PeakRss


async def _misbehave(harness, dovecot, mail_user, proxy, fault: StreamFault, drop_within: float):
    """Run `fault` on the hostile account's next poll; returns (seconds to drop, RSS
    growth, healthy alert seconds, (error kind, error text)). Afterwards the fault is
    lifted and /mail check must bring the waiting message."""
    healthy = dovecot.add_user()
    await harness.add_account(mail_user, name="hostile", host=proxy.host, port=proxy.port)
    await harness.add_account(healthy, name="healthy")
    hostile_id, healthy_id = harness.account_id("hostile"), harness.account_id("healthy")
    await until(lambda: harness.idle_client(healthy_id), timeout=30)
    await until(lambda: harness.idle_client(hostile_id), timeout=30)
    # Warm up: the first alert of a process imports and caches what posting needs.
    await healthy_alert_seconds(harness, dovecot, healthy, "warming up")
    proxy.set_fault(fault)
    with PeakRss() as memory:
        await asyncio.to_thread(dovecot.append, mail_user, make_message(subject="waiting"))
        await until(lambda: fault.started is not None, timeout=30)  # pushed, then polled
        latency = await healthy_alert_seconds(harness, dovecot, healthy, "healthy meanwhile")
        await until(lambda: fault.dropped is not None, timeout=drop_within + 30)
        await until(lambda: last_error(harness, hostile_id)[0] is not None, timeout=30)
    error = last_error(harness, hostile_id)
    proxy.set_fault(None)
    check = await harness.command("mail check", {"account": "hostile"})
    assert "1 new message" in await harness.reply_text(check, timeout=60)
    titles = [p["embeds"][0]["title"] for p in await harness.settled(3)]
    assert sorted(titles) == ["healthy meanwhile", "waiting", "warming up"]  # once, none lost
    return fault.seconds_to_drop, memory.growth, latency, error


async def test_a_huge_literal_is_refused_before_it_is_read(
    harness, dovecot, mail_user, hostile_imap
):
    """A FETCH answered with a 4 GB literal: dropped within 10 s of the announcement,
    before reading it (RSS grows under 64 MiB), a clear error names the bound, and a
    healthy account's alert arrives within 10 s meanwhile."""
    fault = HugeLiteral(size=4_000_000_000)
    async with harness.running():
        seconds, growth, latency, (kind, error) = await _misbehave(
            harness, dovecot, mail_user, hostile_imap, fault, drop_within=10
        )
    report(
        "imap-huge-literal", seconds_to_drop=seconds, rss_mib=growth / 2**20,
        healthy_alert_s=latency, pushed_bytes=fault.pushed,
    )  # fmt: skip
    assert seconds is not None and seconds <= 10
    assert growth <= RSS_BOUND
    assert latency <= HEALTHY_ALERT_BOUND
    assert kind == "limit"
    assert "literal" in error and "1 MiB" in error and hostile_imap.host in error


async def test_an_untagged_flood_is_cut_off(harness, dovecot, mail_user, hostile_imap):
    """A STATUS answered by endless `* OK` lines: dropped within 30 s, after at most
    MAX_UNTAGGED of them, RSS grows under 64 MiB, and a healthy alert arrives within 10 s."""
    fault = UntaggedFlood()
    async with harness.running():
        seconds, growth, latency, (kind, error) = await _misbehave(
            harness, dovecot, mail_user, hostile_imap, fault, drop_within=30
        )
    report(
        "imap-untagged-flood", seconds_to_drop=seconds, rss_mib=growth / 2**20,
        healthy_alert_s=latency, pushed_bytes=fault.pushed,
    )  # fmt: skip
    assert seconds is not None and seconds <= 30
    assert growth <= RSS_BOUND
    assert latency <= HEALTHY_ALERT_BOUND
    assert kind == "limit"
    assert f"{limits.MAX_UNTAGGED:,} untagged" in error


@pytest.mark.timeout(300)
async def test_a_trickling_answer_is_dropped_at_its_deadline(
    harness, dovecot, mail_user, hostile_imap
):
    """A STATUS answered one byte every 2 s (the whole answer would take 3 minutes, and
    no recv ever waits past the 20 s socket timeout): dropped within 90 s, with the
    deadline's error, while a healthy account's alert arrives within 10 s."""
    fault = Trickle(interval=2.0)
    async with harness.running():
        seconds, growth, latency, (kind, error) = await _misbehave(
            harness, dovecot, mail_user, hostile_imap, fault, drop_within=90
        )
    report(
        "imap-trickle", seconds_to_drop=seconds, rss_mib=growth / 2**20,
        healthy_alert_s=latency, pushed_bytes=fault.pushed,
    )  # fmt: skip
    assert seconds is not None and seconds <= 90
    assert fault.pushed < 60  # it was cut off long before the answer was complete
    assert growth <= RSS_BOUND
    assert latency <= HEALTHY_ALERT_BOUND
    assert kind == "limit"
    assert "deadline" in error and f"{limits.RESPONSE_SECONDS:.0f} s" in error


async def test_a_status_flood_in_a_sweep_is_cut_off(harness, dovecot, mail_user, hostile_imap):
    """A parked (not pushed) account whose server floods `* STATUS` lines at the sweep's
    multiplexed STATUS round: given up within 10 s (the round's own deadline is 20 s),
    after at most 32 MiB, RSS grows under 64 MiB; its full poll then brings the mail once."""
    healthy = dovecot.add_user()
    options = {"host": hostile_imap.host, "port": hostile_imap.port, "folders": "Sent"}
    fault = UntaggedFlood(line=b'* STATUS "Sent" (MESSAGES 1 UIDNEXT 2)\r\n')
    async with harness.running():
        await harness.add_account(mail_user, name="parked", **options)
        await harness.add_account(healthy, name="healthy")
        await until(lambda: harness.idle_client(harness.account_id("healthy")), timeout=30)
        await healthy_alert_seconds(harness, dovecot, healthy, "warming up")
        check = await harness.command("mail check", {"account": "parked"})  # seen, quota read
        assert "0 new messages" in await harness.reply_text(check, timeout=60)
        await harness.settled(1)
        await asyncio.to_thread(
            dovecot.append, mail_user, make_message(subject="waiting"), folder="Sent"
        )
        hostile_imap.set_fault(fault)
        assert not harness.watcher.sessions.idling(harness.account_id("parked"))
        harness.watcher.due_now(harness.account_id("parked"))
        with PeakRss() as memory:
            await until(lambda: fault.started is not None, timeout=40)  # the next sweep
            latency = await healthy_alert_seconds(harness, dovecot, healthy, "healthy meanwhile")
            await until(lambda: fault.dropped is not None, timeout=40)
        titles = [p["embeds"][0]["title"] for p in await harness.settled(3, timeout=60)]
        error = last_error(harness, harness.account_id("parked"))
    report(
        "imap-sweep-status-flood", seconds_to_drop=fault.seconds_to_drop,
        rss_mib=memory.growth / 2**20, healthy_alert_s=latency, pushed_bytes=fault.pushed,
    )  # fmt: skip
    assert fault.seconds_to_drop is not None and fault.seconds_to_drop <= 10
    assert memory.growth <= RSS_BOUND
    assert latency <= HEALTHY_ALERT_BOUND
    assert sorted(titles) == ["healthy meanwhile", "waiting", "warming up"]
    assert error == (None, None)  # the sweep gave the connection up; the full poll was fine
