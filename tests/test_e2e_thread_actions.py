"""End to end, threads and action buttons together (SPEC section 8): a reply posted in its
conversation's thread carries the buttons too, a press on it changes the mailbox, and a
change made in another mail client edits that message where it lives, in the thread."""

from __future__ import annotations

import pytest

from tests.imap_hosts import flags_of
from tests.plugins.mailsync import until
from tests.test_e2e_actions import ask, press, shown, start, status
from tests.test_e2e_threads import _deliver, _mail, _posts


@pytest.mark.any_server
async def test_a_reply_in_a_thread_has_buttons_and_is_edited_in_the_thread(
    harness, mail_server, mail_user
):
    d = harness.double
    async with harness.running():
        account_id = await start(harness, mail_user, name="desk")
        assert "thread" in await ask(harness, "mail edit", {"account": "desk", "threads": "on"})
        await until(lambda: harness.watcher.pushed(account_id))
        await _deliver(harness, mail_user, _mail("Order 12", "<o12@x>"), "desk")
        (first,) = _posts(d, d.channel_id)
        reply_uid = mail_server.append(
            mail_user, _mail("Re: Order 12", "<o12r@x>", "<o12@x>", ["<o12@x>"])
        )
        thread = await until(lambda: d.thread_of(int(first["id"])))
        (reply,) = await until(lambda: _posts(d, int(thread["id"])))
        await harness.settled()
        mid = int(reply["id"])
        assert d.button_labels(mid) == ["Mark read", "Flag", "Archive", "Trash"]

        handle = await press(harness, mid, "Mark read")
        assert flags_of(mail_server, mail_user, "INBOX", reply_uid) == {b"\\Seen"}
        assert "Read by" in status(d.message(mid))
        assert any(r["kind"] == "edit" for r in handle.replies)

        with mail_server.imap(mail_user) as client:  # another client flags it: two-way
            client.select_folder("INBOX")
            client.add_flags([reply_uid], [b"\\Flagged"])
        await shown(harness, mid, "lagged")
        edits = d.find("PATCH", rf"/channels/{thread['id']}/messages/{mid}$")
        assert edits, "the two-way edit must go to the message in its thread"
        assert all(r.json["allowed_mentions"] == {"parse": []} for r in edits)
        assert d.button_labels(mid) == ["Mark unread", "Unflag", "Archive", "Trash"]
