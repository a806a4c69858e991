"""The fast path of header parsing: the plain forms most mail uses (a printable-ASCII CRLF
header block, the common Date form, a simple address) read directly, at a fraction of the
email package's cost, with exactly its results (tests/test_parse_properties.py compares
them). Anything else goes to the email package (mail/parse.py; dates: email.utils here)."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime, timedelta, timezone

MAX_HEADER = 16 * 1024  # raw characters of one header value looked at
_HEADER_END = re.compile(rb"\r?\n\r?\n")


# The Date most software writes ("Tue, 03 Nov 2026 10:00:00 +0100", maybe a comment after),
# read directly at a third of the stdlib's cost, with the same result (a property test
# compares them); any other form goes to the stdlib parser and its tolerances.
_PLAIN_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})(?:[ \t][^\r\n]*)?"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


_ZONES: dict[str, timezone | None] = {}  # "+0100" -> its timezone, made once


def _plain_date(match: re.Match[str]) -> datetime:
    """As email.utils.parsedate_to_datetime: "-0000" gives a naive datetime; a zone of a day
    or more, or a day or time out of range, raises ValueError."""
    day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    key = sign + zone_h + zone_m
    if key in _ZONES:
        zone = _ZONES[key]
    else:
        offset = int(zone_h) * 3600 + int(zone_m) * 60
        zone = (
            None
            if sign == "-" and not offset
            else timezone(timedelta(seconds=-offset if sign == "-" else offset))
        )
        _ZONES[key] = zone  # at most 2 x 100 x 100 keys, and only valid zones get here
    return datetime(
        int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=zone
    )


# The plain header blocks _simple_headers reads without the email package: printable ASCII,
# tabs and CRLF line ends only, every line a "Name:" field or a folded continuation of one
# (so no Unix "From " line, no 8-bit byte, no bare CR or LF), then the blank line.
_PLAIN_BLOCK = re.compile(rb"(?:[!-9;-~]+:[\t -~]*\r\n(?:[\t ][\t -~]*\r\n)*)+\r\n")
# Anchored on the line feed before the name (the block is searched with one put in front):
# a literal first character lets the regex engine skip ahead instead of trying every byte.
_WANTED_FIELD = re.compile(
    r"\n((?i:subject|from|date|message-id|to|cc|in-reply-to|references|reply-to)):"
    r"[\t ]*([^\r\n]*(?:\r\n[\t ][^\r\n]*)*)"
)


def _simple_headers(head: bytes) -> dict[str, str] | None:
    """The wanted headers of a plain header block (ending in its blank line), exactly as
    _header would return them from the stdlib parser (compat32: the first field of a name,
    its value after the colon with leading blanks dropped and continuation lines appended,
    then _as_text, which for printable ASCII cuts to MAX_HEADER and drops line ends); None
    for any other block, which the stdlib parser then reads."""
    if not _PLAIN_BLOCK.fullmatch(head):
        return None
    found: dict[str, str] = {}
    for name, value in _WANTED_FIELD.findall("\n" + head.decode("ascii")):
        key = name.lower()
        if key not in found:
            found[key] = value[:MAX_HEADER].replace("\r\n", "")
    return found


def _header_block(raw: bytes) -> bytes:
    """`raw` up to and with the first blank line (CR optional), or all of it."""
    blank = raw.find(b"\r\n\r\n")
    if blank >= 0 and raw.count(b"\n", 0, blank) == raw.count(b"\r\n", 0, blank):
        return raw[: blank + 4]  # every line before it ends in CRLF: the cut _HEADER_END makes
    end = _HEADER_END.search(raw)  # tries every byte: 4 us of a typical head, so only here
    return raw[: end.end()] if end else raw


def _date(date_header: str) -> datetime | None:
    if not date_header:
        return None
    try:
        plain = _PLAIN_DATE.fullmatch(date_header)
        date = _plain_date(plain) if plain else email.utils.parsedate_to_datetime(date_header)
        if date.tzinfo is None:  # no zone, or "-0000" (zone unknown): taken as UTC
            date = date.replace(tzinfo=UTC)
        if not 1 < date.year < 9999:
            date.astimezone(UTC)  # raises if the offset pushes it outside datetime's range
        return date
    except Exception:
        return None


# `a.b@example.com` or `Ann Lee <a.b@example.com>`: the stdlib parser gives these the pair
# the groups hold (tests/test_parse_properties.py checks it), at a tenth of the cost.
_ADDR_SPEC = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_SIMPLE_ADDRESS = re.compile(
    rf"[ \t]*(?:([A-Za-z0-9]+(?: [A-Za-z0-9]+)*)[ \t]*<({_ADDR_SPEC})>|({_ADDR_SPEC}))[ \t]*"
)


def _simple_address(raw: str) -> tuple[str, str] | None:
    simple = _SIMPLE_ADDRESS.fullmatch(raw)
    return (simple[1] or "", simple[2] or simple[3]) if simple else None
