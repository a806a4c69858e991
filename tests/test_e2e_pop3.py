"""End to end, POP3: /mail add, download into the archive, alerts, retention, archive search."""

import pytest
from sqlalchemy import create_engine, text

from tests.plugins.dovecot import make_message


def _pop3(harness, user, **extra):
    options = {"protocol": "pop3", "port": harness.server.pop3s_port}
    options.update(extra)
    return harness.add_account(user, **options)


def _titles(double):
    return [p["embeds"][0]["title"] for p in double.channel_messages(double.channel_id)]


def _on_server(dovecot, user):
    with dovecot.imap(user) as c:
        c.select_folder("INBOX", readonly=True)
        return len(c.search("ALL"))


def _scalar(harness, sql):
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.any_server(requires=("pop3",))
async def test_pop3_add_download_announce_once_and_keep(harness, mail_server, mail_user):
    """Existing mail is not announced; new mail is archived and posted once; keep leaves it."""
    mail_server.append(mail_user, make_message(subject="already there"))
    async with harness.running():
        _, reply = await _pop3(harness, mail_user, name="pop")
        assert "Watching `pop`" in reply
        assert "INBOX`: 1 message" in reply
        assert "already there" in reply  # the newest message's subject
        assert "archive" in reply
        mail_server.append(mail_user, make_message(subject="fresh pop", body="hello @here"))
        check = await harness.command("mail check", {"account": "pop"})
        assert "1 new message" in await harness.reply_text(check)
        again = await harness.command("mail check", {"account": "pop"})
        assert "0 new messages" in await harness.reply_text(again)
        assert await harness.titles(1) == ["fresh pop"]
        post = (await harness.posts())[0]
        assert post["allowed_mentions"] == {"parse": []}
        assert "@here" not in post["embeds"][0]["description"]
    assert _on_server(mail_server, mail_user) == 2
    assert (
        _scalar(harness, "select count(*) from pop3_message where raw_compressed is not null") == 1
    )


@pytest.mark.any_server(requires=("pop3",))
async def test_retention_delete_removes_from_server_after_archiving(
    harness, mail_server, mail_user
):
    """/mail edit retention:delete: the next poll archives then deletes; the archive keeps it."""
    async with harness.running():
        await _pop3(harness, mail_user, name="del")
        edit = await harness.command("mail edit", {"account": "del", "retention": "delete"})
        assert "retention `delete`" in await harness.reply_text(edit)
        for i in range(2):
            mail_server.append(mail_user, make_message(subject=f"gone {i}"))
        check = await harness.command("mail check", {"account": "del"})
        assert "2 new messages" in await harness.reply_text(check)
        found = await harness.command("mail archive", {"account": "del", "query": "GONE 1"})
        text_ = await harness.reply_text(found)
        assert "gone 1" in text_
        assert "gone 0" not in text_
    assert _on_server(mail_server, mail_user) == 0


@pytest.mark.any_server(requires=("pop3",))
async def test_pop3_folders_and_declared_limit_warning(harness, mail_server, mail_user):
    """/mail folders explains POP3 has one mailbox; mailbox_limit_mb drives size warnings."""
    async with harness.running():
        await _pop3(harness, mail_user, name="lim")
        folders = await harness.command("mail folders", {"account": "lim"})
        text_ = await harness.reply_text(folders)
        assert "INBOX" in text_
        assert "POP3 sees only the inbox" in text_
        edit = await harness.command("mail edit", {"account": "lim", "mailbox_limit_mb": 1})
        assert "mailbox limit 1 MB" in await harness.reply_text(edit)
        mail_server.append(mail_user, make_message(subject="heavy", size=900 * 1024))
        await harness.reply_text(await harness.command("mail check", {"account": "lim"}))
        assert "Mailbox over 80 % full" in await harness.titles(1)
        quota = await harness.command("mail quota", {"account": "lim"})
        assert "of 1.0 MiB" in await harness.reply_text(quota)


@pytest.mark.any_server(requires=("pop3",))
async def test_edit_refuses_bad_input_and_saves_nothing(harness, mail_user):
    """Bad retention, IMAP-only options on POP3, and bad thresholds: clear errors, no change."""
    async with harness.running():
        await _pop3(harness, mail_user, name="strict")
        cases = [
            ({"retention": "forever"}, "retention is `keep`"),
            ({"folders": "Sent"}, "POP3 cannot see folders"),
            ({"quota_warn": "80,abc"}, "quota_warn"),
            ({"interval": 0}, "interval"),
            ({"interval": 10, "retention": "nope"}, "retention is"),
            ({}, "Nothing to change"),
        ]
        for options, needle in cases:
            handle = await harness.command("mail edit", {"account": "strict", **options})
            assert needle in await harness.reply_text(handle)
    assert _scalar(harness, "select interval_minutes from account") == 5
    assert _scalar(harness, "select retention from account") == "keep"


@pytest.mark.any_server
async def test_archive_on_imap_account_explains(harness, mail_user):
    """/mail archive on an IMAP account says why there is no archive."""
    async with harness.running():
        await harness.add_account(mail_user, name="imap")
        handle = await harness.command("mail archive", {"account": "imap"})
        assert "IMAP mail stays on the server" in await harness.reply_text(handle)
