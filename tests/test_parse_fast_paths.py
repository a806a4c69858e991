"""The shortcuts header parsing takes (a bulk POP3 download reads many headers) give what
the general paths give: a simple From read off the regex's groups, one plain To address,
the common Date form read directly with its zones reused, _clean without its regexes, and
the header block cut without a regex."""

from __future__ import annotations

from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

import mail.parse
import mail.plain_headers
from mail import parse
from tests.test_parse_properties import BLANKS, FAST, WORD, simple_from


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


# --- the Date and _clean fast paths -------------------------------------------------------------
# _date reads the common RFC 5322 form itself and _clean skips its regexes for plain ASCII; both
# must give exactly what the general code gives.

DAY_NAMES = ["", "Mon, ", "Tue, ", "Sun, ", "mon, ", "Foo, ", "Mon,", "Mon "]
MONTHS = ["Jan", "Feb", "Jun", "Dec", "jan", "DEC", "Foo"]
ZONES = ["+0000", "-0000", "+0100", "-0530", "+1400", "-2359", "+2400", "+0199", "-0099",
         "GMT", "UTC", "EST", "+01", "+01000", ""]  # fmt: skip
TAILS = ["", " ", " (UTC)", "\t(CET)", " junk", "x", "\xa0(UTC)"]


@st.composite
def date_header(draw):
    day = draw(st.sampled_from(["1", "01", "9", "28", "29", "30", "31", "0", "00", "32", "123"]))
    year = draw(st.sampled_from(["2024", "2023", "1999", "0099", "99", "1000", "9999", "10000"]))
    hms = draw(st.sampled_from(["00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60",
                                "1:02:03", "12:34", "12.34.56"]))  # fmt: skip
    gap = draw(st.sampled_from([" ", "  ", "\t"]))
    zone = draw(st.sampled_from(ZONES))
    return (
        f"{draw(st.sampled_from(DAY_NAMES))}{day} {draw(st.sampled_from(MONTHS))} {year} {hms}"
        f"{gap}{zone}{draw(st.sampled_from(TAILS))}"
    )


def stdlib_date(text: str):
    """mail.parse._date as it was: the stdlib parser for every form."""
    try:
        date = mail.parse.email.utils.parsedate_to_datetime(text)
        if date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        date.astimezone(UTC)
        return date
    except Exception:
        return None


@settings(max_examples=600, deadline=None)
@given(date_header())
def test_date_fast_path_agrees_with_the_stdlib(text):
    fast = mail.parse._date(text)
    slow = stdlib_date(text)
    assert fast == slow
    assert (fast is None) or fast.utcoffset() == slow.utcoffset()


def test_date_fast_path_is_taken_for_the_common_form():
    assert mail.plain_headers._PLAIN_DATE.fullmatch("Tue, 03 Nov 2026 10:00:00 +0100 (CET)")
    assert mail.parse._date("Tue, 03 Nov 2026 10:00:00 -0000").tzinfo is UTC
    assert mail.parse._date("31 Feb 2026 10:00:00 +0100") is None


@FAST
@given(st.text(alphabet=st.sampled_from("ab \t\x00\x1c\u200b\xe9\n"), max_size=30) | st.text())
def test_clean_fast_path_agrees_with_the_regexes(text):
    for limit in (0, 3, 1000):
        slow = mail.parse._WS.sub(" ", mail.parse._INVISIBLE.sub("", text))
        assert mail.parse._clean(text, limit) == slow.strip()[:limit].rstrip()


@FAST
@given(
    st.lists(st.sampled_from([b"a", b":", b" ", b"\r", b"\n", b"\r\n", b"\r\n\r\n"])).map(b"".join)
)
def test_header_block_ends_where_the_regex_says(raw):
    end = mail.plain_headers._HEADER_END.search(raw)
    assert mail.plain_headers._header_block(raw) == (raw[: end.end()] if end else raw)
