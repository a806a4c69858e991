"""End to end: bot.py's bot, the real discord.py client on the Discord double, a real Dovecot."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from cogs.alerts import SWEEP_JOB
from tests.plugins.discord_double import EVERYONE_PERMISSIONS
from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import until


def _rows(harness, table: str) -> int:
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"select count(*) from {table}")).scalar_one()  # noqa: S608
    finally:
        engine.dispose()


async def _wait_posts(double, channel_id, count, timeout=15.0):
    async with asyncio.timeout(timeout):
        while len(posts := double.channel_messages(channel_id)) < count:
            await asyncio.sleep(0.05)
    return posts


async def test_startup_migrates_schedules_and_syncs_mail_group(harness):
    """setup_hook migrates the store, starts the scheduler and syncs /mail to the dev guild."""
    async with harness.running() as bot:
        commands = harness.double.synced_commands(harness.double.guild_id)
        mail = next(c for c in commands if c["name"] == "mail")
        subcommands = {o["name"] for o in mail["options"]}
        assert {"add", "list", "check"} <= subcommands
        assert int(mail["default_member_permissions"]) == 1 << 5
        assert mail.get("dm_permission") is False or mail.get("contexts") == [0]
        assert bot.scheduler.running
        assert bot.allowed_mentions.to_dict() == {"parse": []}
    assert _rows(harness, "account") == 0


@pytest.mark.any_server
async def test_add_then_new_mail_is_posted_once_without_pings(harness, mail_server, mail_user):
    """Mail before /mail add is not announced; a new message becomes exactly one locked-down
    post with its decoded subject, sender and snippet, and is not marked \\Seen."""
    mail_server.append(mail_user, make_message(subject="old news", body="already here"))
    async with harness.running():
        _, reply = await harness.add_account(mail_user, name="ops")
        assert "Watching `ops`" in reply
        assert "1 message, 1 unread" in reply
        assert "newest: **a@example\\.com** \N{EM DASH} old news" in reply

        uid = mail_server.append(
            mail_user,
            make_message(
                subject="=?utf-8?q?Caf=C3=A9_@everyone?=",
                sender="Boss <boss@example.com>",
                body="Please <@123456789012345678> look at **this**",
            ),
        )
        # IDLE push announces it without any command.
        posts = await _wait_posts(harness.double, harness.double.channel_id, 1)
        post = posts[0]
        assert post["allowed_mentions"] == {"parse": []}
        embed = post["embeds"][0]
        assert embed["title"].startswith("Café")
        assert "@everyone" not in embed["title"]
        assert "<@123456789012345678>" not in embed["description"]
        assert "look at" in embed["description"]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert "boss@example\\.com" in fields["From"]
        assert fields["Folder"] == "INBOX"
        assert "old news" not in str(posts)

        again = await harness.command("mail check", {"account": "ops"})
        assert "0 new messages" in await harness.reply_text(again)
        assert len(await harness.posts()) == 1

    with mail_server.imap(mail_user) as client:
        client.select_folder("INBOX", readonly=True)
        assert b"\\Seen" not in client.get_flags([uid])[uid]


@pytest.mark.any_server
async def test_scheduled_sweep_polls_quiet_sessions_and_finds_new_mail(
    harness, mail_server, mail_user
):
    """The sweep job (not /mail check) polls a due account: its kept session answers a
    STATUS, a moved UIDNEXT triggers the full poll, and the message is posted."""
    async with harness.running() as bot:
        await harness.add_account(
            mail_user, name="sched", interval=1, folders=mail_server.folder("Sent")
        )
        account_id = harness.account_id("sched")
        sweep = bot.scheduler.get_job(SWEEP_JOB)
        harness.watcher.due_now(account_id)
        sweep.modify(next_run_time=datetime.now(UTC))  # first round: full poll, session kept
        # Until that poll is over, not just past its STATUS: a sweep skips an account whose
        # poll still holds its lock, and the next sweep is 15 s away.
        alerts = harness.watcher
        await until(lambda: account_id in alerts._seen and not alerts._again, timeout=10)
        assert harness.watcher.sessions.has(account_id)
        mail_server.append(mail_user, make_message(subject="via scheduler"), folder="Sent")
        harness.watcher.due_now(account_id)
        sweep.modify(next_run_time=datetime.now(UTC))
        posts = await _wait_posts(harness.double, harness.double.channel_id, 1)
        assert posts[0]["embeds"][0]["title"] == "via scheduler"


@pytest.mark.any_server
async def test_check_polls_a_non_inbox_folder(harness, mail_server, mail_user):
    """/mail check polls now and reports the count; a watched non-INBOX folder is covered."""
    async with harness.running():
        await harness.add_account(mail_user, name="sent", folders=mail_server.folder("Sent"))
        mail_server.append(mail_user, make_message(subject="in sent"), folder="Sent")
        mail_server.append(mail_user, make_message(subject="in inbox, not watched"))
        check = await harness.command("mail check", {"account": "sent"})
        assert "1 new message posted" in await harness.reply_text(check)
        posts = await harness.posts(1)
        assert [p["embeds"][0]["title"] for p in posts] == ["in sent"]
        fields = {f["name"]: f["value"] for f in posts[0]["embeds"][0]["fields"]}
        assert fields["Folder"].replace("\\", "") == mail_server.folder("Sent")  # unescaped


@pytest.mark.any_server
async def test_burst_becomes_one_digest(harness, mail_server, mail_user):
    """More than five new messages in one poll post one digest, not a flood."""
    async with harness.running():
        await harness.add_account(mail_user, name="burst", folders=mail_server.folder("Sent"))
        for i in range(7):
            mail_server.append(mail_user, make_message(subject=f"burst {i}"), folder="Sent")
        check = await harness.command("mail check", {"account": "burst"})
        assert "7 new messages" in await harness.reply_text(check)
        posts = await harness.posts(1)
        assert len(posts) == 1
        assert posts[0]["embeds"][0]["title"] == "7 new messages"
        assert "burst 6" in posts[0]["embeds"][0]["description"]


@pytest.mark.any_server
async def test_wrong_password_is_a_clear_error_and_saves_nothing(harness, mail_user):
    """A refused login says so and leaves no account, state or schedule behind."""
    async with harness.running():
        _, reply = await harness.add_account(mail_user, password="wrong", name="bad")
        assert "refused the login" in reply
        assert "Nothing was saved" in reply
        listing = await harness.command("mail list")
        assert "No mail accounts yet" in await harness.reply_text(listing)
        assert harness.watcher.scheduled_ids == set()
    assert _rows(harness, "account") == 0
    assert _rows(harness, "folder_state") == 0


@pytest.mark.any_server
async def test_missing_folder_is_named_and_saves_nothing(harness, mail_user):
    """A watched folder that does not exist is named in the error; nothing is saved."""
    async with harness.running():
        _, reply = await harness.add_account(mail_user, folders="INBOX, Nope")
        assert "`Nope` does not exist" in reply
    assert _rows(harness, "account") == 0


async def test_refused_port_is_reported(harness, dovecot, mail_user):
    """A port where nothing listens gives the 'refused' message, not a crash."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    async with harness.running():
        _, reply = await harness.add_account(mail_user, port=closed_port)
        assert "refused the connection" in reply
    assert _rows(harness, "account") == 0


async def test_untrusted_certificate_is_refused(harness, mail_user, monkeypatch):
    """Without the test CA trusted, TLS verification fails with a TLS message."""
    from mail import net

    monkeypatch.delenv("SSL_CERT_FILE")
    net.reset_tls_context()
    async with harness.running():
        _, reply = await harness.add_account(mail_user)
        assert "certificate" in reply
        assert "Nothing was saved" in reply


@pytest.mark.any_server
async def test_starttls_on_the_plain_port(harness, mail_server, mail_user):
    """security:starttls upgrades the plain IMAP port before logging in."""
    async with harness.running():
        _, reply = await harness.add_account(
            mail_user, port=mail_server.imap_port, security="starttls", name="stls"
        )
        assert "Watching `stls`" in reply


@pytest.mark.any_server
async def test_list_shows_the_account(harness, mail_user):
    """/mail list shows protocol, host, user, channel, interval and state."""
    async with harness.running():
        await harness.add_account(mail_user, name="listed", interval=7)
        listing = await harness.command("mail list")
        body = await harness.reply_text(listing)
        assert "listed" in body
        assert "IMAP" in body
        assert mail_user.name in body
        assert f"<#{harness.double.channel_id}>" in body
        assert "every 7 min" in body
        assert "active" in body


async def test_member_without_manage_server_is_refused_by_the_bot(harness, mail_user):
    """Even if Discord delivers it, the bot itself refuses members without Manage Server."""
    async with harness.running():
        handle = await harness.command(
            "mail list", user_id=harness.double.member_id, permissions=EVERYONE_PERMISSIONS
        )
        assert "Manage Server" in await harness.reply_text(handle)


@pytest.mark.any_server
async def test_restart_rebuilds_jobs_and_announces_nothing_twice(harness, mail_server, mail_user):
    """After a restart the job is rebuilt from the store and old mail is not re-announced."""
    async with harness.running():
        await harness.add_account(mail_user, name="persist", folders=mail_server.folder("Sent"))
        mail_server.append(mail_user, make_message(subject="before restart"), folder="Sent")
        check = await harness.command("mail check", {"account": "persist"})
        assert "1 new message" in await harness.reply_text(check)
        await harness.posts(1)
    async with harness.running() as bot:
        assert harness.watcher.scheduled_ids == {harness.account_id("persist")}
        assert bot.scheduler.get_job(SWEEP_JOB) is not None
        check = await harness.command("mail check", {"account": "persist"})
        assert "0 new messages" in await harness.reply_text(check)
    posts = harness.double.channel_messages(harness.double.channel_id)
    assert [p["embeds"][0]["title"] for p in posts] == ["before restart"]


async def test_unknown_account_is_a_clear_error(harness):
    """/mail check on a name that does not exist says so."""
    async with harness.running():
        handle = await harness.command("mail check", {"account": "ghost"})
        assert "No account named `ghost`" in await harness.reply_text(handle)
