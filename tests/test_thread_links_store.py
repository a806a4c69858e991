"""Thread links in the store (storage/thread_links.py): written with the alert's sent mark,
found by the nearest parent, kept 90 days (pruned on write, never matched after), moved
when a conversation restarts; the account's switch and the POP3 archive's reply headers."""

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from mail.pop3 import Downloaded
from storage import archive, outbox, repo, thread_links
from storage.models import OutboxAlert, utcnow
from storage.thread_links import KEEP_DAYS, Placed
from tests.store_helpers import new_account

CHANNEL = 987654321098765432
OTHER = CHANNEL + 1
ROOT = 2**62 + 99  # snowflakes past 32 bits
THREAD = 2**62 + 100


@pytest.fixture
def account(engine):
    return repo.create_account(engine, new_account(channel_id=CHANNEL))


def _queued(engine, account, thread=None):
    outbox.enqueue(engine, account, [outbox.Alert({"title": "t"}, thread=thread)])
    with Session(engine) as session:
        return session.exec(select(OutboxAlert).order_by(col(OutboxAlert.id).desc())).first()


def test_an_alert_carries_its_thread_entry_and_is_linked_when_marked_sent(engine, account):
    """The row's payload holds the entry; marking it sent stores the message id and links
    its Message-ID in the same write; the account's switch defaults to off."""
    assert account.threads is False
    entry = {"ids": ["<a@x>"], "parents": [], "title": "Plans"}
    row = _queued(engine, account, entry)
    assert json.loads(row.payload)["thread"] == entry and row.kind == "post"
    thread_links.mark_sent(engine, row, ROOT, ["<a@x>"], Placed(CHANNEL, ROOT, None, "Plans"))
    with Session(engine) as session:
        sent = session.get(OutboxAlert, row.id)
    assert sent.sent_at is not None and sent.message_id == ROOT
    (link,) = thread_links.links(engine, account.id)
    assert (link.message_ref, link.channel_id, link.root_message_id) == ("<a@x>", CHANNEL, ROOT)
    assert link.thread_id is None and link.title == "Plans"


def test_find_takes_the_nearest_parent_in_the_same_channel(engine, account):
    """In-Reply-To first, then References newest to oldest; another channel's or another
    account's link is no parent; a later thread reaches every link of the conversation."""
    row = _queued(engine, account)
    thread_links.mark_sent(engine, row, ROOT, ["<root@x>"], Placed(CHANNEL, ROOT, None, "R"))
    row = _queued(engine, account)
    thread_links.mark_sent(engine, row, 5, ["<mid@x>"], Placed(CHANNEL, 5, 6, "M"))
    found = thread_links.find(engine, account.id, CHANNEL, ["<mid@x>", "<root@x>"])
    assert found.message_ref == "<mid@x>"
    found = thread_links.find(engine, account.id, CHANNEL, ["<gone@x>", "<root@x>"])
    assert found.message_ref == "<root@x>"
    assert thread_links.find(engine, account.id, OTHER, ["<root@x>"]) is None
    assert thread_links.find(engine, account.id + 1, CHANNEL, ["<root@x>"]) is None
    assert thread_links.find(engine, account.id, CHANNEL, []) is None
    thread_links.set_thread(engine, account.id, CHANNEL, ROOT, THREAD)
    assert thread_links.find(engine, account.id, CHANNEL, ["<root@x>"]).thread_id == THREAD


def test_a_message_id_keeps_its_first_link(engine, account):
    """The same mail announced twice (two folders) keeps the conversation it started."""
    for root in (ROOT, ROOT + 1):
        row = _queued(engine, account)
        thread_links.mark_sent(
            engine, row, root, ["<a@x>", "<a@x>"], Placed(CHANNEL, root, None, "t")
        )
    (link,) = thread_links.links(engine, account.id)
    assert link.root_message_id == ROOT


def test_links_are_kept_90_days_then_pruned_on_write(engine, account):
    """A link older than 90 days is never a parent, and the next write deletes it; younger
    links stay."""
    start = utcnow()
    row = _queued(engine, account)
    thread_links.mark_sent(engine, row, ROOT, ["<old@x>"], Placed(CHANNEL, ROOT, None, "o"), start)
    almost = start + timedelta(days=KEEP_DAYS) - timedelta(minutes=1)
    assert thread_links.find(engine, account.id, CHANNEL, ["<old@x>"], almost) is not None
    later = start + timedelta(days=KEEP_DAYS, minutes=1)
    assert thread_links.find(engine, account.id, CHANNEL, ["<old@x>"], later) is None
    row = _queued(engine, account)
    thread_links.mark_sent(engine, row, 7, ["<new@x>"], Placed(CHANNEL, 7, None, "n"), later)
    assert [link.message_ref for link in thread_links.links(engine, account.id)] == ["<new@x>"]


def test_a_restarted_conversation_takes_its_links_along(engine, account):
    """When a reply's thread was gone and the reply became a new root, the conversation's
    older links point at the new root, so the next reply follows it."""
    row = _queued(engine, account)
    thread_links.mark_sent(engine, row, ROOT, ["<root@x>"], Placed(CHANNEL, ROOT, THREAD, "R"))
    row = _queued(engine, account)
    moved = Placed(CHANNEL, 42, None, "R", replaced_root=ROOT)
    thread_links.mark_sent(engine, row, 42, ["<reply@x>"], moved)
    links = thread_links.links(engine, account.id)
    assert [(x.root_message_id, x.thread_id) for x in links] == [(42, None), (42, None)]


def test_account_removal_drops_its_links(engine, account):
    """Links go with their account (foreign key, cascade)."""
    row = _queued(engine, account)
    thread_links.mark_sent(engine, row, ROOT, ["<a@x>"], Placed(CHANNEL, ROOT, None, "t"))
    repo.delete_account(engine, account.id)
    assert thread_links.links(engine, account.id) == []


def test_the_pop3_archive_keeps_reply_headers(engine, account):
    """In-Reply-To and References are stored with an archived message and come back in its
    alert data, so a POP3 reply can thread."""
    raw = (
        b"From: b@example.com\r\nSubject: Re: plans\r\nMessage-ID: <3@x>\r\n"
        b"In-Reply-To: <2@x>\r\nReferences: <1@x> <2@x>\r\n\r\nok\r\n"
    )
    archive.store(engine, account.id, [Downloaded("u1", len(raw), raw)])
    (row,) = archive.unannounced_all(engine, account.id)
    (message,) = archive.new_messages(engine, [row], False)
    assert message.in_reply_to == "<2@x>"
    assert message.references == ("<1@x>", "<2@x>")
    assert message.message_id == "<3@x>"
