"""mail/compose.py, pure: what members type is checked before any header is made, and the
threading headers follow RFC 5322 (SPEC section 13)."""

from __future__ import annotations

import email
import email.policy

import pytest

from mail import compose


@pytest.mark.parametrize(
    "text",
    [
        "a@example.com\r\nBcc: x@example.com",
        "a@example.com\nx",
        "a\r@example.com",
        "a@ex\u2028.com",
    ],
)
def test_line_breaks_in_addresses_are_refused(text):
    """Any line break (CR, LF, or a Unicode one) in To or Cc is refused, never stripped."""
    with pytest.raises(compose.ComposeError, match="line breaks"):
        compose.recipients(text, "")


def test_subject_with_a_line_break_is_refused():
    """CR/LF in the subject is refused."""
    with pytest.raises(compose.ComposeError, match="line breaks"):
        compose.subject("Hi\r\nBcc: x@example.com")


@pytest.mark.parametrize("bad", ["no-at", "a@b", "a@@example.com", "<a@example.com", "a b@x.com"])
def test_malformed_addresses_are_refused(bad):
    """Addresses are checked one by one; a malformed one is named in the error."""
    with pytest.raises(compose.ComposeError):
        compose.recipients(bad, "")


def test_recipients_drop_names_and_duplicates_and_cap_at_twenty():
    """`Name <addr>` keeps the address, Cc drops what To has, more than 20 is refused."""
    to, cc = compose.recipients("Ann <ann@example.com>; bo@example.com", "ANN@example.com, c@x.io")
    assert (to, cc) == (["ann@example.com", "bo@example.com"], ["c@x.io"])
    many = ", ".join(f"u{n}@example.com" for n in range(21))
    with pytest.raises(compose.ComposeError, match="At most 20"):
        compose.recipients(many, "")


@pytest.mark.parametrize(
    "original, expected",
    [("Order", "Re: Order"), ("Re: Order", "Re: Order"), ("RE:Order", "RE:Order"), ("", "Re:")],
)
def test_reply_subject_is_not_doubled(original, expected):
    """`Re:` is added once."""
    assert compose.reply_subject(original) == expected


def test_references_past_a_thousand_characters_keep_the_first_and_the_newest():
    """A long References keeps the root id and the newest ids that fit in about 1,000
    characters, ending with the parent's own Message-ID."""
    refs = [f"<id{n:04d}.abcdefghij@example.com>" for n in range(100)]
    out = compose.references(refs, "<parent@example.com>")
    assert out[0] == refs[0] and out[-1] == "<parent@example.com>" and out[-2] == refs[-1]
    assert len(" ".join(out)) <= compose.MAX_REFERENCES_CHARS
    assert compose.references(refs[:2], "<p@example.com>") == [*refs[:2], "<p@example.com>"]


def test_built_message_is_utf8_quoted_printable_with_the_headers_given():
    """Non-ASCII text goes out as UTF-8 quoted-printable; ASCII as 7bit; the Message-ID
    is on the sender's domain; lines end in CRLF."""
    mid = compose.new_message_id("desk@example.org")
    assert mid.endswith("@example.org>")
    draft = compose.Draft(
        "desk@example.org",
        ("a@example.com",),
        ("b@example.com",),
        "Grüße",
        "naïve",
        mid,
        "<p@x.com>",
        ("<r@x.com>", "<p@x.com>"),
    )
    raw = compose.build(draft)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Grüße" and msg["Cc"] == "b@example.com"
    assert msg["In-Reply-To"] == "<p@x.com>" and msg["References"] == "<r@x.com> <p@x.com>"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg.get_content().strip() == "naïve"
    plain = compose.build(compose.Draft("d@example.org", ("a@example.com",), (), "s", "ascii", mid))
    assert b"Content-Transfer-Encoding: 7bit" in plain
