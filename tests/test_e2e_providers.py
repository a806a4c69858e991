"""End to end through bot.py, provider quirks against real Dovecots laid out like the
provider (tests/plugins/dovecot/layouts.py): Gmail's Archive button archives to \\All,
Microsoft's Trash is "Deleted Items", and /mail quota says plainly that Microsoft reports
no quota."""

from __future__ import annotations

from tests.imap_hosts import subjects
from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import until
from tests.test_e2e_actions import alert, ask, press, start, status


async def test_gmail_archive_button_moves_the_mail_to_all_mail(harness, layout_dovecot):
    """Archive on a Gmail-like server takes the mail out of INBOX into [Gmail]/All Mail (the
    \\All folder; archiving there is what removes Gmail's Inbox label)."""
    gmail = layout_dovecot("gmail")
    user = gmail.add_user()
    async with harness.running():
        account_id = await start(harness, user, host=gmail.host, port=gmail.imaps_port)
        await until(lambda: harness.watcher.pushed(account_id), 20)
        gmail.append(user, make_message(subject="gmail archive me"))
        mid = int((await alert(harness, "gmail archive me"))["id"])
        await press(harness, mid, "Archive")
        assert subjects(gmail, user, "[Gmail]/All Mail") == ["gmail archive me"]
        assert subjects(gmail, user, "INBOX") == []
        assert "Archived by" in (status(harness.double.message(mid)) or "")


async def test_microsoft_trash_button_uses_deleted_items_and_quota_says_why_none(
    harness, layout_dovecot
):
    """On an Exchange-like server (no SPECIAL-USE, no QUOTA): Trash moves the mail to
    "Deleted Items", and /mail quota answers with Microsoft's sentence, not an error."""
    exchange = layout_dovecot("exchange")
    user = exchange.add_user()
    async with harness.running():
        await start(harness, user, host=exchange.host, port=exchange.imaps_port)
        exchange.append(user, make_message(subject="exchange bin me"))
        mid = int((await alert(harness, "exchange bin me", timeout=30))["id"])
        await press(harness, mid, "Trash")
        assert subjects(exchange, user, "Deleted Items") == ["exchange bin me"]
        assert subjects(exchange, user, "INBOX") == []
        said = await ask(harness, "mail quota", {"account": "desk"})
        assert "Microsoft 365 and Outlook.com do not report mailbox usage" in said, said
