"""In-Reply-To and References for threads: parsed (bounded, only real <msg-id>s) on both
header paths, and carried into NewMessage by an IMAP poll against Dovecot."""

from __future__ import annotations

import pytest

from mail import imap
from mail.parse import MAX_REFERENCES, parse_headers, parse_message
from mail.types import FolderState
from tests.imap_hosts import connect, uidvalidity

REPLY = (
    b"From: Bob <bob@example.com>\r\n"
    b"Subject: Re: plans\r\n"
    b"Message-ID: <3@example.com>\r\n"
    b"In-Reply-To: <2@example.com>\r\n"
    b"References: <1@example.com>\r\n"
    b"\t<2@example.com>\r\n"
    b"\r\n"
    b"Sounds good.\r\n"
)


@pytest.mark.parametrize("parse", [parse_message, parse_headers])
def test_reply_headers_are_parsed(parse):
    """A reply's In-Reply-To and folded References come out as <msg-id>s, oldest first."""
    parsed = parse(REPLY)
    assert parsed.message_id == "<3@example.com>"
    assert parsed.in_reply_to == "<2@example.com>"
    assert parsed.references == ("<1@example.com>", "<2@example.com>")


def test_both_header_paths_agree_on_an_odd_block():
    """An 8-bit header block goes through the stdlib parser; the answer is the same."""
    odd = REPLY.replace(b"Subject: Re: plans", "Subject: Re: caf\u00e9".encode())
    assert parse_headers(odd).references == parse_headers(REPLY).references
    assert parse_headers(odd).in_reply_to == "<2@example.com>"


def test_a_new_conversation_has_none():
    """No In-Reply-To and no References: None and ()."""
    parsed = parse_message(b"Subject: hello\r\nMessage-ID: <9@x>\r\n\r\nhi\r\n")
    assert parsed.in_reply_to is None
    assert parsed.references == ()


def test_junk_in_the_fields_is_not_an_id():
    """Text without <...> is no Message-ID; duplicates and neighbours without blanks are
    handled; invisible characters are dropped before matching."""
    raw = (
        b"Subject: x\r\n"
        b"In-Reply-To: your message of Monday\r\n"
        b"References: <a@x><b@x> <a@x> junk <\xe2\x80\x8bc@x>\r\n"
        b"\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.in_reply_to is None
    assert parsed.references == ("<a@x>", "<b@x>", "<c@x>")


def test_long_reference_chains_keep_the_root_and_the_latest():
    """More than MAX_REFERENCES ids: the first (the conversation's root) and the latest."""
    ids = [f"<{i}@example.com>" for i in range(60)]
    raw = b"Subject: x\r\nReferences: " + " ".join(ids).encode() + b"\r\n\r\n"
    for parse in (parse_message, parse_headers):
        refs = parse(raw).references
        assert len(refs) == MAX_REFERENCES
        assert refs[0] == ids[0]
        assert refs[1:] == tuple(ids[-(MAX_REFERENCES - 1) :])


def test_imap_poll_carries_thread_headers(dovecot, mail_user):
    """A reply delivered to Dovecot is polled with its in_reply_to and references."""
    state = FolderState(uidvalidity(dovecot, mail_user), 0)
    dovecot.append(mail_user, REPLY)
    client = connect(dovecot, mail_user)
    try:
        result = imap.poll(client, {"INBOX": state})
    finally:
        client.logout()
    (message,) = result.messages
    assert message.in_reply_to == "<2@example.com>"
    assert message.references == ("<1@example.com>", "<2@example.com>")
