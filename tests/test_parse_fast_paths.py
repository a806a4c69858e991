"""The shortcuts a bulk POP3 download takes through mail/parse.py give what the general
paths give: a simple From read off the regex's groups, one plain To address, and the
timezones reused between Date headers."""

from __future__ import annotations

from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from mail import parse
from tests.test_parse_properties import BLANKS, WORD, simple_from


@st.composite
def simple_mailbox(draw):
    """test_parse_properties' simple From forms, and some longer than an alert shows: an
    address past 254 characters, a name past what is left of 320."""
    value = draw(simple_from())
    if draw(st.integers(0, 9)) == 0:  # a long local part
        value = value.replace("<", "<" + "x" * 250) if "<" in value else "x" * 250 + value.strip()
    if draw(st.integers(0, 4)) == 0 and "<" in value:  # a long name
        name = " ".join(draw(st.lists(WORD, min_size=30, max_size=60)))
        value = draw(BLANKS) + name + " <" + value.split("<", 1)[1]
    return value


@settings(max_examples=400, deadline=None)
@given(simple_mailbox())
def test_simple_from_is_what_the_address_parser_gives(value):
    assert parse._sender(value) == parse._sender_parsed(value)


def _as_parsed(header: str) -> tuple[str, ...]:
    found = parse._parsed_addresses(header)
    kept = dict.fromkeys(a.lower() for a in found if parse._PLAIN_ADDRESS.fullmatch(a))
    return tuple(kept)[: parse.MAX_RECIPIENTS]


@settings(max_examples=400, deadline=None)
@given(st.lists(simple_mailbox(), min_size=1, max_size=4).map(",".join))
def test_plain_address_lists_are_what_the_address_parser_gives(value):
    assert parse._addresses(value) == _as_parsed(value)


def test_a_zone_seen_before_gives_the_same_dates():
    first = parse._date("Tue, 03 Nov 2026 10:00:00 +0530")
    again = parse._date("Wed, 04 Nov 2026 11:00:00 +0530")
    assert (again - first).total_seconds() == 25 * 3600
    assert first.utcoffset() == again.utcoffset() and first.utcoffset().total_seconds() == 19800
    assert parse._date("Tue, 03 Nov 2026 10:00:00 -0000").tzinfo is UTC  # zone unknown
    assert parse._date("Tue, 03 Nov 2026 10:00:00 +2400") is None  # not a zone
    assert parse._date("Tue, 03 Nov 2026 10:00:00 +2400") is None  # nor the second time
    assert parse._date("Fri, 31 Dec 9999 23:00:00 -0200") is None  # past datetime's range
