"""End to end, IMAP watching: push, folder resets, quota, folder listing, server restarts."""

import asyncio

import pytest

from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import until


async def _wait_posts(double, count, timeout=20.0):
    async with asyncio.timeout(timeout):
        while len(posts := double.channel_messages(double.channel_id)) < count:
            await asyncio.sleep(0.05)
    return posts


def _titles(double):
    return [p["embeds"][0]["title"] for p in double.channel_messages(double.channel_id)]


@pytest.mark.any_server
async def test_delivery_during_idle_is_pushed(harness, mail_server, mail_user):
    """With a 60-minute interval, a delivery still reaches the channel within seconds (IDLE)."""
    async with harness.running():
        await harness.add_account(mail_user, name="push", interval=60)
        account_id = harness.account_id("push")
        await until(lambda: harness.idle_client(account_id))  # the bot is idling on INBOX
        loop = asyncio.get_running_loop()
        sent = loop.time()
        mail_server.append(mail_user, make_message(subject="pushed"))
        await _wait_posts(harness.double, 1, timeout=5)
        assert loop.time() - sent < 5
        assert _titles(harness.double) == ["pushed"]


@pytest.mark.any_server(requires=("restart",))
async def test_server_restart_mid_idle_misses_and_doubles_nothing(harness, mail_server, mail_user):
    """Dovecot restarted under an IDLE connection: mail before and after is posted once each."""
    async with harness.running():
        await harness.add_account(mail_user, name="restart", interval=60)
        account_id = harness.account_id("restart")
        first = await until(lambda: harness.idle_client(account_id))
        mail_server.append(mail_user, make_message(subject="before"))
        await _wait_posts(harness.double, 1)
        await asyncio.to_thread(mail_server.restart)
        # Delivered while the bot is still reconnecting: caught up by UID after reconnect.
        mail_server.append(mail_user, make_message(subject="during reconnect"))
        await _wait_posts(harness.double, 2)
        # Reconnected and idling again: the hub watches a new connection, not the old one.
        await until(lambda: harness.idle_client(account_id) not in (None, first), timeout=20)
        mail_server.append(mail_user, make_message(subject="after"))
        await _wait_posts(harness.double, 3)
        await harness.settled(3)  # no poll left that could post anything twice
        assert _titles(harness.double) == ["before", "during reconnect", "after"]


@pytest.mark.any_server
async def test_uidvalidity_change_rebaselines_with_one_notice(harness, mail_server, mail_user):
    """A folder deleted and recreated posts one reset notice, not its content, then new mail."""
    mail_server.create_folder(mail_user, "Projects")
    # UIDs it gave out before: renumbered by the reset (an empty folder has none to renumber)
    mail_server.append(mail_user, make_message(subject="first life"), folder="Projects")
    async with harness.running():
        await harness.add_account(mail_user, name="reset", folders=mail_server.folder("Projects"))
        await asyncio.to_thread(mail_server.delete_folder, mail_user, "Projects")
        await asyncio.to_thread(mail_server.create_folder, mail_user, "Projects")
        for i in range(3):
            mail_server.append(mail_user, make_message(subject=f"recreated {i}"), folder="Projects")
        check = await harness.command("mail check", {"account": "reset"})
        assert "0 new messages" in await harness.reply_text(check)
        assert await harness.titles(1) == ["Folder reset by the server"]
        mail_server.append(mail_user, make_message(subject="fresh"), folder="Projects")
        check = await harness.command("mail check", {"account": "reset"})
        assert "1 new message" in await harness.reply_text(check)
        assert await harness.titles(2) == ["Folder reset by the server", "fresh"]


@pytest.mark.any_server(requires=("quota",))
async def test_quota_crossing_warns_once(harness, mail_server):
    """Filling a 200 KiB mailbox past 80 % posts one warning; more mail in the band, none."""
    user = mail_server.add_user(quota_kib=200)
    async with harness.running():
        await harness.add_account(user, name="full", folders=mail_server.folder("Sent"))
        mail_server.append(user, make_message(subject="big", size=170 * 1024), folder="Sent")
        await harness.reply_text(await harness.command("mail check", {"account": "full"}))
        mail_server.append(user, make_message(subject="small", size=2 * 1024), folder="Sent")
        await harness.reply_text(await harness.command("mail check", {"account": "full"}))
        titles = await harness.titles()
        warnings = [t for t in titles if t.startswith("Mailbox over")]
        assert warnings == ["Mailbox over 80 % full"]
        body = next(
            p["embeds"][0]["description"]
            for p in harness.double.channel_messages(harness.double.channel_id)
            if p["embeds"][0]["title"].startswith("Mailbox over")
        )
        assert "of 200 KiB" in body


@pytest.mark.any_server(requires=("quota",))
async def test_quota_command_shows_usage_and_bar(harness, mail_server):
    """/mail quota shows storage in human units, percent and a bar."""
    user = mail_server.add_user(quota_kib=1024)
    mail_server.append(user, make_message(subject="half", size=512 * 1024))
    async with harness.running():
        await harness.add_account(user, name="q")
        text = await harness.reply_text(await harness.command("mail quota", {"account": "q"}))
        assert "of 1.0 MiB" in text
        assert "\N{FULL BLOCK}" in text
        assert " %" in text


@pytest.mark.any_server(requires=("status_size",))
async def test_folders_command_lists_counts(harness, mail_server, mail_user):
    """/mail folders lists every folder with messages and unseen, and size (STATUS=SIZE)."""
    mail_server.append(mail_user, make_message(subject="a"))
    mail_server.append(mail_user, make_message(subject="b"), folder="Sent")
    async with harness.running():
        await harness.add_account(mail_user, name="f")
        text = await harness.reply_text(await harness.command("mail folders", {"account": "f"}))
        assert "INBOX** \N{EM DASH} 1 message, 1 unseen" in text
        assert "Sent** \N{EM DASH} 1 message" in text
        assert "Trash" in text
        assert "KiB" in text


@pytest.mark.any_server(requires=("quota",))
async def test_check_reads_quota_filled_through_an_unwatched_folder(harness, mail_server):
    """A mailbox filled through Sent (not watched) past 80 %: /mail check posts the warning
    at once, a second check posts no other, and /mail list says when quota was read."""
    user = mail_server.add_user(quota_kib=200)
    async with harness.running():
        await harness.add_account(user, name="inbox-only")
        check = await harness.command("mail check", {"account": "inbox-only"})
        await harness.reply_text(check)  # quota read now: the 30-minute cadence is not due
        mail_server.append(user, make_message(subject="big", size=170 * 1024), folder="Sent")
        check = await harness.command("mail check", {"account": "inbox-only"})
        assert "0 new messages" in await harness.reply_text(check)
        assert await harness.titles(1) == ["Mailbox over 80 % full"]
        check = await harness.command("mail check", {"account": "inbox-only"})
        await harness.reply_text(check)
        assert await harness.titles() == ["Mailbox over 80 % full"]
        listed = await harness.reply_text(await harness.command("mail list"))
        assert "quota read: <t:" in listed


async def _until(predicate, timeout=15.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


@pytest.mark.any_server(requires=("restart",))
async def test_pushed_account_holds_one_connection_for_everything(harness, mail_server, mail_user):
    """One connection per account, as a mail client keeps: IDLE, the polls it triggers,
    /mail check, /mail quota and /mail folders all use it; after a server restart the
    account reconnects to one connection again."""
    async with harness.running():
        await harness.add_account(mail_user, name="one", interval=1)
        account_id = harness.account_id("one")
        await _until(lambda: harness.watcher.pushed(account_id))
        assert mail_server.imap_sessions(mail_user.name) == 1
        mail_server.append(mail_user, make_message(subject="pushed once"))
        assert await harness.titles(1) == ["pushed once"]
        for command in ("mail check", "mail quota", "mail folders"):
            await harness.reply_text(await harness.command(command, {"account": "one"}))
            assert mail_server.imap_sessions(mail_user.name) == 1, command
        await _until(lambda: harness.watcher.pushed(account_id))
        await asyncio.to_thread(mail_server.restart)
        await _until(lambda: harness.watcher.pushed(account_id))
        await _until(lambda: mail_server.imap_sessions(mail_user.name) == 1)
        mail_server.append(mail_user, make_message(subject="after restart"))
        assert await harness.titles(2) == ["pushed once", "after restart"]
        assert mail_server.imap_sessions(mail_user.name) == 1
