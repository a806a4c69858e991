"""Properties of mail/parse.py: whatever the bytes, parse_message returns bounded, clean
fields and never raises; hostile sizes and shapes parse in bounded time."""

import re
import sys
import time
import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mail.parse
import mail.plain_headers
from mail.parse import ParsedMessage, decode_header, html_to_text, parse_message

SUBJECT_MAX, SENDER_MAX, SNIPPET_MAX = 998, 320, mail.parse.SNIPPET_CHARS
NAME_MAX, ATTACHMENTS_MAX, MESSAGE_ID_MAX = 200, 20, 300
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_clean(text: str, limit: int) -> None:
    """Bounded, one line, trimmed, and no control, format (bidi, zero-width) or surrogate."""
    assert isinstance(text, str)
    assert len(text) <= limit
    assert text == text.strip()
    assert not re.search(r"[^\S ]|  ", text), repr(text)
    bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs")]
    assert not bad, repr(bad)


def assert_bounded(parsed: ParsedMessage) -> None:
    assert isinstance(parsed, ParsedMessage)
    assert_clean(parsed.subject, SUBJECT_MAX)
    assert parsed.subject
    assert_clean(parsed.sender, SENDER_MAX)
    assert parsed.sender
    assert_clean(parsed.snippet, SNIPPET_MAX)
    assert isinstance(parsed.attachments, tuple)
    assert len(parsed.attachments) <= ATTACHMENTS_MAX
    for name in parsed.attachments:
        assert_clean(name, NAME_MAX)
        assert name
        assert "/" not in name and "\\" not in name
    if parsed.message_id is not None:
        assert_clean(parsed.message_id, MESSAGE_ID_MAX)
        assert parsed.message_id
    if parsed.date is not None:
        assert isinstance(parsed.date, datetime)
        assert parsed.date.utcoffset() is not None  # never naive
        parsed.date.astimezone(UTC)  # what discord.Embed does with it
        parsed.date.timestamp()


def parse_both(raw: bytes) -> ParsedMessage:
    """parse_message, and the parser under its last-resort fallback, which must not be needed
    (inputs here are small: the nesting cap parse_message applies first changes nothing)."""
    assert_bounded(mail.parse._parse(raw))
    parsed = parse_message(raw)
    assert_bounded(parsed)
    return parsed


# --- any bytes --------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=3000))
def test_any_bytes(raw):
    parse_both(raw)


TOKENS = [b"\r\n", b"\n", b"\r", b": ", b"=?", b"?=", b"?q?", b"?b?", b"--b", b"<", b">", b"(",
          b"\x00", b"\xff", b"Content-Type: multipart/", b'mixed; boundary="b"', b"Subject:",
          b"From:", b"Date:", b'"', b"=", b"\t", b" ", b"utf-8", b"A"]  # fmt: skip


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=200))
def test_token_soup(tokens):
    parse_both(b"".join(tokens))


# --- MIME-ish messages -------------------------------------------------------------------------

CHARSETS = ["", "utf-8", "iso-8859-1", "windows-1252", "shift_jis", "koi8-r", "iso-2022-jp",
            "utf-16", "utf-7", "x-bogus", "unicode-escape", "base64", "idna", "UTF-8*en", "gb2312",
            "euc-kr", "ascii"]  # fmt: skip
NASTY = st.text(
    st.characters(codec=None, exclude_categories=())
    | st.sampled_from("\u202e\u200b\r\n\x00<>@\"'"),
    max_size=40,
)
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_- "
BODY_FRAGMENTS = ["<script>SECRET", "</script>", "<style", "<p>", "hi", "&amp;", "<", "<!--",
                  "=C3=A9", "=\r\n", "SGVsbG8=", "\r\n", "\u200b", "<ul><li>"]  # fmt: skip
DATES = ["Tue, 03 Nov 2026 10:00:00", "Fri, 31 Dec 9999 23:59:59 -2359", "99 Foo 0 99:99:99 +9999"]


@st.composite
def encoded_word(draw):
    charset = draw(st.sampled_from(CHARSETS))
    if draw(st.booleans()):
        payload = draw(st.text(alphabet=B64_ALPHABET, max_size=30))
        return f"=?{charset}?{draw(st.sampled_from('bB'))}?{payload}?="
    raw = draw(st.binary(max_size=20))
    payload = "".join(f"={b:02X}" if draw(st.booleans()) else chr(b) for b in raw if b != 63)
    return f"=?{charset}?q?{payload}?="


HEADER_TEXT = st.lists(
    encoded_word() | NASTY | st.sampled_from([" ", "\r\n ", "\t", "<a@b>"]), max_size=8
).map("".join)


def header_bytes(name: str, value: str) -> bytes:
    return f"{name}: ".encode() + value.encode("utf-8", "surrogatepass") + b"\r\n"


@st.composite
def leaf(draw):
    types = "text/plain text/html text/calendar application/pdf message/rfc822 image/png"
    ctype = draw(st.sampled_from(types.split()))
    headers = header_bytes("Content-Type", f"{ctype}; charset={draw(st.sampled_from(CHARSETS))}")
    if draw(st.booleans()):
        cte = draw(st.sampled_from(["base64", "quoted-printable", "8bit", "x-uuencode", "bogus"]))
        headers += header_bytes("Content-Transfer-Encoding", cte)
    if draw(st.booleans()):
        name = draw(HEADER_TEXT | st.sampled_from(["../../x", "a\u202efdp.exe", "x" * 500]))
        disposition = draw(
            st.sampled_from(
                ['attachment; filename="{}"', "inline; filename*=utf-8''{}", "attachment; name={}"]
            )
        )
        headers += header_bytes("Content-Disposition", disposition.format(name))
    fragments = st.lists(st.sampled_from(BODY_FRAGMENTS), max_size=30)
    body = draw(st.binary(max_size=200) | fragments.map(lambda xs: "".join(xs).encode()))
    return headers + b"\r\n" + body


def multipart(children):
    @st.composite
    def build(draw):
        boundary = draw(st.sampled_from(["b1", "b2", "=_x", "same"]))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "digest"]))
        parts = draw(st.lists(children, max_size=4))
        head = header_bytes("Content-Type", f'multipart/{subtype}; boundary="{boundary}"') + b"\r\n"
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
        close = draw(st.sampled_from([b"--" + boundary.encode() + b"--\r\n", b""]))
        return head + b"preamble\r\n" + body + close

    return build()


@st.composite
def message(draw):
    headers = b""
    names = st.sampled_from(["Subject", "From", "Date", "Message-ID"])
    for name in draw(st.lists(names, max_size=6)):
        value = draw(HEADER_TEXT | st.sampled_from([*DATES, "((((", "<<a@b>>"]))
        headers += header_bytes(name, value)
    if draw(st.booleans()):
        headers += draw(st.binary(max_size=60)) + b"\r\n"
    body = draw(st.recursive(leaf(), multipart, max_leaves=8))
    return headers + body


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message())
def test_mime_messages(raw):
    parse_both(raw)


@FAST
@given(HEADER_TEXT, st.integers(min_value=0, max_value=1200))
def test_decode_header_is_bounded(value, limit):
    assert_clean(decode_header(value, limit), limit)


HTML_FRAGMENTS = ["<p>", "</p>", "text", " ", "<b>", "<br/>", "<ul>", "<li>", "</ul>", "&amp;",
                  "&lt;", "<table><tr><td>", "\u202e", "<h1>", "<!-- c -->", "<div class='x'>",
                  "</div>", "<title>T</title>", "</head>", "<body>"]  # fmt: skip


@FAST
@given(
    st.lists(st.sampled_from(HTML_FRAGMENTS), max_size=60),
    st.sampled_from(["script", "style", "SCRIPT", "Style"]),
    st.integers(min_value=0, max_value=60),
)
def test_script_and_style_text_never_shows(fragments, tag, at):
    fragments.insert(at, f"<{tag} type='x'>SECRET{{}};</{tag}>")
    assert "SECRET" not in html_to_text("".join(fragments))


# --- size and shape bounds ----------------------------------------------------------------------


def timed(raw: bytes, limit: float = 5.0) -> ParsedMessage:
    start = time.perf_counter()
    parsed = parse_message(raw)
    assert time.perf_counter() - start < limit
    assert_bounded(parsed)
    return parsed


def test_five_megabytes():
    raw = b"Subject: big\r\nContent-Type: text/html\r\n\r\n" + b"<p>hello <b>x</b></p>\n" * 250_000
    assert len(raw) > 5_000_000
    assert timed(raw).snippet.startswith("hello x")


def test_ten_thousand_parts():
    parts = b"".join(
        b'--b\r\nContent-Disposition: attachment; filename="f%d.txt"\r\n\r\nx\r\n' % i
        for i in range(10_000)
    )
    raw = b'Subject: many\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts
    parsed = timed(raw + b"--b--\r\n")
    assert parsed.attachments == tuple(f"f{i}.txt" for i in range(ATTACHMENTS_MAX))


def test_two_thousand_deep_keeps_subject_and_shallow_text():
    nest = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(2000)
    )
    raw = (
        b'Subject: deep\r\nContent-Type: multipart/mixed; boundary="top"\r\n\r\n'
        b"--top\r\nContent-Type: text/plain\r\n\r\nshallow\r\n--top\r\n" + nest + b"bottom\r\n"
    )
    parsed = timed(raw)
    assert (parsed.subject, parsed.snippet) == ("deep", "shallow")


def test_deep_forwards_list_only_the_outer_one():
    raw = b"Subject: fwd\r\n" + b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n" * 2000
    parsed = timed(raw)
    assert (parsed.subject, parsed.attachments) == ("fwd", ("inner.eml",))


HEADROOM = 60  # frames left to the parser: enough for the headers, not for 99 nested levels


def test_caller_with_a_deep_stack_still_gets_the_subject():
    """The stdlib parser's recursion depends on the caller's stack: fall back to headers."""

    def nested(depth: int) -> ParsedMessage:
        return nested(depth - 1) if depth else parse_message(raw)

    raw = b"Subject: deep\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 99 + b"x"
    depth, frame = 0, sys._getframe()
    while frame:
        depth, frame = depth + 1, frame.f_back
    parsed = nested(sys.getrecursionlimit() - depth - HEADROOM)
    assert (parsed.subject, parsed.attachments) == ("deep", ())  # headers only: no forward listed


HOSTILE_HTML = {
    "unterminated tags": "<style " * 40_000,
    "script starts": "<script>" * 40_000,
    "bare <": "<" * 250_000,
    "ampersands": "&" * 250_000,
    "marked sections": "<![x>" * 50_000,
    "nested lists": "<ol><li>" * 30_000,
    "list items in nested lists": "<ul>" * 6_000 + "<li>x" * 6_000,
    "quote attrs": "<a href='" * 50_000,
}


@pytest.mark.parametrize("html", HOSTILE_HTML.values(), ids=HOSTILE_HTML.keys())
def test_hostile_html_is_fast(html):
    timed(b"Subject: h\r\nContent-Type: text/html\r\n\r\n" + html.encode(), limit=3.0)


def test_many_encoded_words_and_headers():
    subject = b"Subject: " + b"=?utf-8?b?QUJD?= " * 5_000 + b"\r\n"
    headers = b"".join(b"X-H%d: =?utf-8?q?x?=\r\n" % i for i in range(5_000))
    parsed = timed(subject + headers + b"From: =?utf-8?q?x?= <x@y>\r\n\r\nbody")
    assert parsed.subject == ("ABC" * SUBJECT_MAX)[:SUBJECT_MAX]
    assert (parsed.sender, parsed.snippet) == ("x <x@y>", "body")


# --- the header fast path ------------------------------------------------------------------------
# parse_headers reads a plain header block without the email package; it must give exactly what
# the stdlib parser gives, and leave every other block to it.

FIELD_NAMES = ["Subject", "SUBJECT", "from", "From", "Date", "Message-ID", "message-id", "To",
               "X-Thing", "Received", "From ", "Bad Name", ":", "Subject\t", ""]  # fmt: skip
FIELD_VALUES = ["", " ", "hello", "  lead", "trail  ", "a@example.com", "Ann Lee <a@b.c>",
                "Ann  Lee <a.b+c@x-y.example>", "<id@host>", "Tue, 03 Nov 2026 10:00:00 +0100",
                "=?utf-8?q?caf=C3=A9?=", '"Lee, Ann" <a@b>', "x" * 300, "a:b", "\t", "caf\xe9",
                "\x00", "\r", "\n", "Ann <a@b>, Bob <b@c>"]  # fmt: skip
FOLDS = ["\r\n ", "\r\n\t", "\r\n  ", "\n ", "\r\n"]


PLAIN_NAMES = [n for n in FIELD_NAMES if n and " " not in n and "\t" not in n and n != ":"]
PLAIN_VALUES = [v for v in FIELD_VALUES if (v.isascii() and v.isprintable()) or v == "\t"]


@st.composite
def header_block(draw):
    plain = draw(st.booleans())  # half the blocks are plain, so the fast path is exercised
    names = st.sampled_from(PLAIN_NAMES if plain else FIELD_NAMES)
    values = st.sampled_from(PLAIN_VALUES if plain else FIELD_VALUES)
    folds = st.sampled_from(FOLDS[:3] if plain else FOLDS)
    lines = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        line = draw(names) + ":" + draw(values)
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            line += draw(folds) + draw(values)
        lines.append(line)
    if not plain and draw(st.booleans()):
        lines.insert(0, draw(st.sampled_from(["From a@b Tue Nov  3 10:00:00 2026", " cont"])))
    return ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode("latin-1")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header_block())
def test_header_fast_path_agrees_with_the_stdlib_parser(raw):
    head = raw[: raw.index(b"\r\n\r\n") + 4] if b"\r\n\r\n" in raw else raw
    assert mail.parse.parse_headers(raw) == mail.parse._parse(head, headers_only=True)


def test_header_fast_path_is_taken_for_plain_mail():
    raw = b"From: Ann Lee <a@example.com>\r\nSubject: hi\r\n there\r\nDate: x\r\n\r\nbody"
    assert mail.plain_headers._simple_headers(raw[: raw.index(b"\r\n\r\n") + 4]) == {
        "from": "Ann Lee <a@example.com>",
        "subject": "hi there",
        "date": "x",
    }
    assert (
        mail.plain_headers._simple_headers(b"Subject: caf\xc3\xa9\r\n\r\n") is None
    )  # 8-bit: stdlib


ATOM = st.text(alphabet="abcXYZ019_+-", min_size=1, max_size=6)
WORD = st.text(alphabet="abQZ09", min_size=1, max_size=6)
BLANKS = st.sampled_from(["", " ", "\t", "  "])


@st.composite
def simple_from(draw):
    local = ".".join(draw(st.lists(ATOM, min_size=1, max_size=3)))
    domain = ".".join(draw(st.lists(ATOM.filter(lambda a: "+" not in a and "_" not in a),
                                    min_size=1, max_size=3)))  # fmt: skip
    addr = f"{local}@{domain}"
    if draw(st.booleans()):
        return draw(BLANKS) + addr + draw(BLANKS)
    name = " ".join(draw(st.lists(WORD, min_size=1, max_size=3)))
    return f"{draw(BLANKS)}{name}{draw(BLANKS)}<{addr}>{draw(BLANKS)}"


@settings(max_examples=300, deadline=None)
@given(simple_from())
def test_simple_address_pair_is_the_stdlib_pair(value):
    assert mail.parse._simple_address(value) == mail.parse._address(value)
