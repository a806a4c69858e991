"""End to end, what Cyrus and Courier revealed, pinned on every server (any_server): a
watched folder that never had mail, and action buttons where folders live under INBOX."""

from __future__ import annotations

import asyncio

import pytest

from tests.plugins.mailserver import make_message
from tests.test_e2e_actions import alert, press, start, status

pytestmark = pytest.mark.any_server


async def test_first_mail_of_a_folder_that_never_had_any_is_announced(
    harness, mail_server, mail_user
):
    """A watched folder that was empty has no UIDs to renumber: when its UIDVALIDITY changes
    (Courier makes up a new one at each STATUS until the folder is selected; here it is
    deleted and made again) its first mail is announced, with no reset notice."""
    mail_server.create_folder(mail_user, "Projects")
    async with harness.running():
        await harness.add_account(mail_user, name="new", folders=mail_server.folder("Projects"))
        await asyncio.to_thread(mail_server.delete_folder, mail_user, "Projects")
        await asyncio.to_thread(mail_server.create_folder, mail_user, "Projects")
        mail_server.append(mail_user, make_message(subject="first ever"), folder="Projects")
        check = await harness.command("mail check", {"account": "new"})
        assert "1 new message" in await harness.reply_text(check)
        assert await harness.titles(1) == ["first ever"]


async def test_archive_button_finds_the_archive_folder_by_name(harness, mail_server):
    """A mailbox without SPECIAL-USE flags (Courier has none): the Archive button moves the
    message to the folder named Archive, INBOX.Archive where folders live under INBOX."""
    user = mail_server.add_user(special_folders=False)
    mail_server.create_folder(user, "Archive")
    async with harness.running():
        account_id = await start(harness, user)
        await asyncio.wait_for(_pushed(harness, account_id), 20)
        mail_server.append(user, make_message(subject="file me"))
        mid = int((await alert(harness, "file me"))["id"])
        await press(harness, mid, "Archive")
        assert status(harness.double.message(mid)).startswith("Archived by")
    with mail_server.imap(user) as client:
        client.select_folder(mail_server.folder("Archive"), readonly=True)
        assert len(client.search("ALL")) == 1


async def _pushed(harness, account_id: int) -> None:
    while not harness.watcher.pushed(account_id):
        await asyncio.sleep(0.05)
