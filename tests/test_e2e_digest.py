"""End to end, /mail edit delivery and digest_time: mail waits in the store and one digest
embed is posted when the account's digest job fires (driven through the bot's own
APScheduler, so the real trigger schedules the next one)."""

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from sqlalchemy import create_engine, text

from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import until
from watch.digest import job_id
from watch.digest_clock import next_digest_at, parse_hhmm

BERLIN = ZoneInfo("Europe/Berlin")


def _sql(harness, sql, scalar=True):
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return result.scalar_one() if scalar else None
    finally:
        engine.dispose()


async def _ask(harness, name, options=None):
    return await harness.reply_text(await harness.command(name, options or {}))


async def _fire(harness, account_id):
    """Make the account's digest job due now and wait until the scheduler has run it."""
    bot = harness.bot
    done = asyncio.get_running_loop().create_future()

    def listen(event):
        if event.job_id == job_id(account_id) and not done.done():
            done.set_result(event.exception)

    bot.scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    try:
        bot.scheduler.get_job(job_id(account_id)).modify(next_run_time=datetime.now(UTC))
        async with asyncio.timeout(15):
            assert await done is None
    finally:
        bot.scheduler.remove_listener(listen)


async def test_daily_digest_lists_what_waited_and_schedules_the_next(harness, dovecot, mail_user):
    """delivery daily at 07:30 Europe/Berlin: new mail posts nothing and waits in the
    store; firing the job posts one digest (count and lines), clears what waited, and the
    next run is tomorrow's 07:30 Berlin. A message a rule routes goes out at once."""
    harness.settings = dataclasses.replace(harness.settings, timezone="Europe/Berlin")
    general = harness.double.guild.channels[1].id
    async with harness.running():
        await harness.add_account(mail_user, name="d", folders="Sent")
        account_id = harness.account_id("d")
        said = await _ask(
            harness, "mail edit", {"account": "d", "delivery": "daily", "digest_time": "7:30"}
        )
        assert "digest daily at 07:30 (Europe/Berlin), next <t:" in said
        expected = next_digest_at("daily", parse_hhmm("07:30"), BERLIN, datetime.now(UTC))
        assert harness.alerts.digests.next_run(account_id) == expected
        await _ask(
            harness, "mail rule add", {"account": "d", "match": "to:vip@", "channel": general}
        )
        for subject in ("first waiting", "second waiting"):
            dovecot.append(mail_user, make_message(subject=subject), folder="Sent")
        dovecot.append(
            mail_user, make_message(subject="routed now", to="vip@x.example"), folder="Sent"
        )
        assert "3 new messages" in await _ask(harness, "mail check", {"account": "d"})
        assert await harness.posts() == []
        assert [p["embeds"][0]["title"] for p in harness.double.channel_messages(general)] == [
            "routed now"
        ]
        assert _sql(harness, "select count(*) from digest_item") == 2
        await _fire(harness, account_id)
        [post] = await harness.posts(1)
        embed = post["embeds"][0]
        assert embed["title"] == "Daily digest: 2 new messages"
        assert "first waiting" in embed["description"] and "second waiting" in embed["description"]
        assert "routed now" not in embed["description"]
        assert post["allowed_mentions"] == {"parse": []}
        assert _sql(harness, "select count(*) from digest_item") == 0
        next_run = harness.alerts.digests.next_run(account_id)
        assert next_run == next_digest_at("daily", parse_hhmm("07:30"), BERLIN, datetime.now(UTC))
        assert next_run.astimezone(BERLIN).strftime("%H:%M") == "07:30"


async def test_a_digest_with_nothing_waiting_posts_nothing(harness, mail_user):
    """hourly, no new mail: the job runs and nothing is posted."""
    async with harness.running():
        await harness.add_account(mail_user, name="e", folders="Sent")
        said = await _ask(harness, "mail edit", {"account": "e", "delivery": "hourly"})
        assert "digest every hour (UTC)" in said
        await _fire(harness, harness.account_id("e"))
        assert await harness.posts() == []
        assert harness.double.find("POST", r"/channels/\d+/messages$") == []


async def test_waiting_mail_survives_restarts_and_a_missed_digest_runs_at_start(
    harness, dovecot, mail_user
):
    """Mail waiting for a digest is still there after a restart and is in the next digest;
    a digest that fell due while the bot was down is posted as soon as it starts."""
    async with harness.running():
        await harness.add_account(mail_user, name="r", folders="Sent")
        await _ask(harness, "mail edit", {"account": "r", "delivery": "daily"})
        dovecot.append(mail_user, make_message(subject="kept over restart"), folder="Sent")
        await _ask(harness, "mail check", {"account": "r"})
        assert await harness.posts() == []
    assert _sql(harness, "select count(*) from digest_item") == 1
    async with harness.running():
        account_id = harness.account_id("r")
        assert harness.alerts.digests.next_run(account_id) > datetime.now(UTC)  # not due yet
        assert await harness.posts() == []
        await _fire(harness, account_id)
        assert [p["embeds"][0]["title"] for p in await harness.posts(1)] == [
            "Daily digest: 1 new message"
        ]
        dovecot.append(mail_user, make_message(subject="waited two days"), folder="Sent")
        await _ask(harness, "mail check", {"account": "r"})
    # The bot was down when that mail's digest fell due (it waits since two days).
    old = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    _sql(harness, f"update digest_item set created_at = '{old}'", scalar=False)  # noqa: S608
    async with harness.running():
        posts = await until(lambda: harness.double.channel_messages(harness.double.channel_id)[1:])
        assert posts[0]["embeds"][0]["title"] == "Daily digest: 1 new message"
        assert "waited two days" in posts[0]["embeds"][0]["description"]
        assert _sql(harness, "select count(*) from digest_item") == 0


async def test_digest_options_are_checked_and_instant_posts_what_waited(
    harness, dovecot, mail_user
):
    """A bad digest_time, or one without daily delivery, is refused with nothing saved;
    switching back to instant posts what was waiting at once."""
    async with harness.running():
        await harness.add_account(mail_user, name="o", folders="Sent")
        said = await _ask(harness, "mail edit", {"account": "o", "digest_time": "08:00"})
        assert "`digest_time` is for daily digests" in said
        said = await _ask(
            harness, "mail edit", {"account": "o", "delivery": "daily", "digest_time": "25:00"}
        )
        assert "HH:MM" in said
        assert _sql(harness, "select delivery from account") == "instant"
        await _ask(harness, "mail edit", {"account": "o", "delivery": "daily"})
        dovecot.append(mail_user, make_message(subject="was waiting"), folder="Sent")
        await _ask(harness, "mail check", {"account": "o"})
        assert await harness.posts() == []
        said = await _ask(harness, "mail edit", {"account": "o", "delivery": "instant"})
        assert "posted as it arrives" in said
        assert [p["embeds"][0]["title"] for p in await harness.posts(1)] == [
            "Digest: 1 new message"
        ]
        assert harness.bot.scheduler.get_job(job_id(harness.account_id("o"))) is None
