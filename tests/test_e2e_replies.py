"""End to end through bot.py, against Dovecot's real submission service and the SMTP sink
(SPEC section 13): Reply and Reply all from an alert, the headers and recipients that
leave, the Sent copy, the conversation's thread message, the alert's "Replied by" line,
and an incoming answer that threads under the reply."""

from __future__ import annotations

from tests.plugins.mailsync import until
from tests.reply_helpers import (
    FROM,
    copy_settled,
    deliver,
    incoming,
    modal_values,
    parsed,
    press,
    set_up,
    settled_state,
    submit,
)
from tests.test_e2e_actions import ask
from tests.test_e2e_actions import press as press_action
from tests.test_e2e_threads import _posts


def _sent_folder(dovecot, user) -> list[bytes]:
    with dovecot.imap(user) as client:
        client.select_folder("Sent", readonly=True)
        uids = client.search(["ALL"])
        return [d[b"RFC822"] for d in client.fetch(uids, [b"RFC822"]).values()]


async def test_reply_all_sends_threaded_headers_files_a_sent_copy_and_posts_in_the_thread(
    harness, dovecot, mail_user, sink
):
    """Reply all: the modal is prefilled (To from Reply-To, Cc the other recipients minus
    the account, Subject Re: once); the sink gets one message with In-Reply-To, References,
    a Message-ID on the account's domain and exactly those recipients; Sent holds one copy;
    the thread shows who sent it, to whom, and the text; the alert says Replied by."""
    d = harness.double
    async with harness.running():
        account_id = await set_up(harness, mail_user)
        raw = incoming(
            "Order 12",
            "<o12@example.com>",
            reply_to="orders@example.com",
            references="<root@example.com>",
        )
        alert = await deliver(harness, mail_user, raw)
        mid = int(alert["id"])
        assert d.button_labels(mid)[-2:] == ["Reply", "Reply all"]
        await press(harness, mid, "Reply all")
        shown = modal_values(harness)
        assert list(shown) == ["To", "Cc", "Subject", "Message"]
        assert shown["To"] == "orders@example.com"
        assert shown["Cc"] == "bob@example.com, carol@example.com"
        assert shown["Subject"] == "Re: Order 12"
        said = await submit(harness, {"Message": "Shipped today.\nRegards, ünïcode"})
        assert "Sending to" in said, said

        (got,) = await until(lambda: sink.to("orders@example.com"), 60)
        assert sorted(got.rcpt_tos) == [
            "bob@example.com",
            "carol@example.com",
            "orders@example.com",
        ]
        message = parsed(got.data)
        assert message["In-Reply-To"] == "<o12@example.com>"
        assert message["References"] == "<root@example.com> <o12@example.com>"
        assert message["Message-ID"].endswith("@example.org>")
        assert message["From"] == FROM and message["Subject"] == "Re: Order 12"
        assert "ünïcode" in message.get_content()
        assert b"quoted-printable" in got.data

        row = await settled_state(harness, account_id, "sent")
        assert row.message_ref == message["Message-ID"]
        assert await copy_settled(harness, row.id) == "done"
        copies = _sent_folder(dovecot, mail_user)
        assert [parsed(c)["Message-ID"] for c in copies] == [row.message_ref]

        thread = await until(lambda: d.thread_of(mid))
        (posted,) = await until(lambda: _posts(d, int(thread["id"])), 30)
        text = str(posted["embeds"][0])
        assert f"<@{d.admin_id}>" in text and "orders@example.com" in text
        assert "Shipped today." in text
        await until(lambda: "Replied by" in str(d.message(mid)["embeds"][0]), 30)
        posts = d.find("POST", rf"/channels/{thread['id']}/messages$")
        edits = d.find("PATCH", rf"/channels/{d.channel_id}/messages/{mid}$")
        assert posts and edits
        assert all(r.json["allowed_mentions"] == {"parse": []} for r in [*posts, *edits])
        assert len(sink.to("orders@example.com")) == 1


async def test_reply_goes_to_the_sender_and_an_answer_to_it_threads_under_it(
    harness, dovecot, mail_user, sink
):
    """Reply (not all): To is the From address and Cc is empty; an incoming answer to the
    reply (In-Reply-To its Message-ID) lands in the same thread."""
    d = harness.double
    async with harness.running():
        await set_up(harness, mail_user)
        alert = await deliver(harness, mail_user, incoming("Question", "<q1@example.com>"))
        mid = int(alert["id"])
        await press(harness, mid, "Reply")
        shown = modal_values(harness)
        assert shown["To"] == "alice@example.com" and shown["Cc"] == ""
        await submit(harness, {"Message": "Answer."})
        (got,) = await until(lambda: sink.to("alice@example.com"), 60)
        assert got.rcpt_tos == ("alice@example.com",)
        reply_id = parsed(got.data)["Message-ID"]
        thread = await until(lambda: d.thread_of(mid))
        await until(lambda: _posts(d, int(thread["id"])), 30)

        answer = incoming(
            "Re: Re: Question",
            "<q3@example.com>",
            references=f"<q1@example.com> {reply_id}",
        )
        await deliver_anywhere(harness, mail_user, answer)
        titles = [p["embeds"][0].get("title", "") for p in _posts(d, int(thread["id"]))]
        assert len(titles) == 2, titles


async def deliver_anywhere(harness, user, raw):
    from tests.test_e2e_threads import _deliver

    await _deliver(harness, user, raw, "desk")


async def test_a_pop3_alert_can_be_answered_without_a_sent_copy(harness, dovecot, mail_user, sink):
    """POP3 alerts carry Reply too (the headers come from the archive); the reply goes out
    once and, POP3 having no Sent folder, the copy is skipped."""
    d = harness.double
    async with harness.running():
        account_id = await set_up(
            harness, mail_user, threads=False, protocol="pop3", port=dovecot.pop3s_port
        )
        raw = incoming("By POP3", "<pop1@example.com>", reply_to="help@example.com")
        mid = int((await deliver(harness, mail_user, raw))["id"])
        assert d.button_labels(mid) == ["Reply", "Reply all"]
        await press(harness, mid, "Reply")
        assert modal_values(harness)["To"] == "help@example.com"
        await submit(harness, {"Message": "Got it."})
        (got,) = await until(lambda: sink.to("help@example.com"), 60)
        assert parsed(got.data)["In-Reply-To"] == "<pop1@example.com>"
        row = await settled_state(harness, account_id, "sent")
        assert await copy_settled(harness, row.id) == "skipped"


async def test_replied_by_stays_when_a_button_edits_the_alert(harness, dovecot, mail_user, sink):
    """With action buttons too, the alert keeps "Replied by" after a later press re-renders
    it (the line is kept with the alert, not only on the Discord message)."""
    d = harness.double
    async with harness.running():
        await set_up(harness, mail_user)
        await ask(harness, "mail edit", {"account": "desk", "actions": "read"})
        mid = int((await deliver(harness, mail_user, incoming("Both", "<both@example.com>")))["id"])
        assert d.button_labels(mid) == ["Mark read", "Reply", "Reply all"]
        await press(harness, mid, "Reply")
        await submit(harness, {"Message": "Done."})
        await until(lambda: "Replied by" in str(d.message(mid)["embeds"][0]), 60)
        await press_action(harness, mid, "Mark read")
        await until(lambda: "Read by" in str(d.message(mid)["embeds"][0]), 30)
        embed = str(d.message(mid)["embeds"][0])
        assert f"Replied by <@{d.admin_id}>" in embed
        assert d.button_labels(mid) == ["Mark unread", "Reply", "Reply all"]
