"""Pure parsing: raw message bytes -> the fields an alert shows. Never raises on bad mail.

Every field is bounded and free of control, bidi-override and zero-width characters.
A Date without a usable zone (none, or RFC 5322's "-0000" = unknown) is taken as UTC.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import email.message
import email.parser
import email.utils
import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from mail.html_text import html_to_text
from mail.plain_headers import (
    _SIMPLE_ADDRESS,
    MAX_HEADER,
    _date,
    _header_block,
    _simple_address,
    _simple_headers,
)

SNIPPET_CHARS = 300
FULL_TEXT_CHARS = 3900  # privacy "full": the body text, within an embed's 4,096
SUBJECT_CHARS = 998
SENDER_CHARS = 320
NAME_CHARS = 200
MAX_ATTACHMENTS = 20
MAX_RECIPIENTS = 50  # addresses kept per To or Cc header (for routing rules)
MAX_REFERENCES = 20
MAX_BYTES = 256 * 1024
MAX_PARTS = 200
MAX_DEPTH = 20  # levels walked for bodies and attachments
MAX_NESTING = 100  # multipart/message headers kept: the stdlib parser recurses once per level
_WS = re.compile(r"\s+")
# Cc (whitespace ones are left to _WS), all of Cf (bidi controls, zero-width characters,
# tags), lone surrogates and the invisible fillers.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f"
    "\u0890\u0891\u08e2\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    "\ud800-\udfff\ufeff\uffa0\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e007f]"
)
_SEPARATORS = re.compile("[/\\\\\u2044\u2215\u29f8\u29f9\uff0f\uff3c]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,80})\?([bBqQ])\?([^?]*)\?=")
_NESTED_TYPE = re.compile(rb"(?i)content-type:\s*(?:multipart|message)/")
_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
# WHATWG reads these labels as their supersets; bytes.decode must not run Python-only codecs.
_SUPERSETS = {"iso8859-1": "cp1252", "shift_jis": "cp932", "gb2312": "gb18030", "euc_kr": "cp949"}
_UNSAFE_CODECS = ("unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined")
_UNSPECIFIED = ("", "us-ascii", "ascii", "unknown-8bit", "x-unknown")
_FORWARDED = ("message/rfc822", "message/global")
Message = email.message.Message


@dataclass(frozen=True)
class ParsedMessage:
    subject: str
    sender: str
    date: datetime | None
    snippet: str
    attachments: tuple[str, ...]
    message_id: str | None
    text: str = ""  # the body text for privacy "full" (line breaks kept, FULL_TEXT_CHARS)
    to: tuple[str, ...] = ()  # addresses of the To header (routing rules match them)
    cc: tuple[str, ...] = ()  # addresses of the Cc header
    # Threads: the Message-IDs this one answers (In-Reply-To) and its conversation so far
    # (References, oldest first; at most MAX_REFERENCES: the first and the latest ones).
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()  # addresses of Reply-To (where a reply goes, SPEC 13)


def _clean(text: str, limit: int) -> str:
    if text.isascii() and text.isprintable() and "  " not in text:  # nothing to drop or squeeze
        return text.strip()[: max(0, limit)].rstrip()
    return _WS.sub(" ", _INVISIBLE.sub("", text)).strip()[: max(0, limit)].rstrip()


_BLANKS = re.compile(r"[^\S\n]+")
_PARAGRAPHS = re.compile(r"\n\s*\n\s*")


def _clean_lines(text: str, limit: int) -> str:
    """Like _clean, but line breaks stay (at most one blank line between paragraphs)."""
    lines = _BLANKS.sub(" ", _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))
    lines = "\n".join(line.strip() for line in lines.split("\n"))
    return _PARAGRAPHS.sub("\n\n", lines).strip()[: max(0, limit)].rstrip()


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Declared charset with replacement characters; an unknown one falls back to UTF-8;
    none (or ASCII) means UTF-8 if valid, else Windows-1252."""
    label = (charset or "").strip().lower()
    codec = "utf-8"
    with contextlib.suppress(LookupError, ValueError, TypeError):
        codec = "ascii" if label in _UNSPECIFIED else codecs.lookup(label).name
    codec = "utf-8" if codec in _UNSAFE_CODECS else _SUPERSETS.get(codec, codec)
    if codec == "ascii":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            codec = "cp1252"
    try:
        return data.decode(codec, errors="replace")
    except (LookupError, ValueError):  # not a text encoding (base64, rot13...), or no "replace"
        return data.decode("utf-8", errors="replace")


def _b64(text: str) -> bytes:
    """Lenient base64: junk dropped, padding repaired, concatenated chunks decoded apart."""
    out = []
    cleaned = re.sub(r"[^A-Za-z0-9+/=_-]", "", text).replace("-", "+").replace("_", "/")
    for chunk in cleaned.split("="):
        chunk = chunk[: len(chunk) - (len(chunk) % 4 == 1)]
        out.append(binascii.a2b_base64(chunk + "=" * (-len(chunk) % 4)))
    return b"".join(out)


def _as_text(value: object) -> str:
    """A header as the parser left it (8-bit bytes as surrogates) -> real text, unfolded."""
    text = str(value)[:MAX_HEADER]
    if text.isascii():  # what the round trip below gives ASCII back unchanged
        return text.replace("\r", "").replace("\n", "")
    try:
        data = text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # surrogates the parser did not make
        data = text.encode("utf-8", errors="replace")
    return re.sub(r"[\r\n]", "", _decode_bytes(data, None))


def decode_header(value: object, limit: int = SUBJECT_CHARS) -> str:
    """RFC 2047 decode; unknown or broken charsets become replacement characters."""
    if value is None:
        return ""
    text = _as_text(value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value)
    if "=?" not in text:  # no encoded word: the loop below would give `text` back
        return _clean(text, limit)
    pieces: list[list] = []  # [str, None] or [bytes, charset]; same-charset neighbours merge
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        if gap and not (gap.isspace() and pieces and pieces[-1][1]):  # RFC 2047 section 6.2
            pieces.append([gap, None])
        charset = match[1].split("*", 1)[0].lower()  # RFC 2231 language suffix
        if match[2] in "bB":
            data = _b64(match[3])
        else:
            data = quopri.decodestring(match[3].encode("utf-8", "replace"), header=True)
        if pieces and pieces[-1][1] == charset:
            pieces[-1][0] += data
        else:
            pieces.append([data, charset])
        pos = match.end()
    pieces.append([text[pos:], None])
    return _clean("".join(p if c is None else _decode_bytes(p, c) for p, c in pieces), limit)


def _header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if str(key).strip().lower() == name:
            return _as_text(value)
    return None


def _address(raw: str) -> tuple[str, str]:
    """(display name, address) of the From header's first mailbox, by the stdlib parser."""
    # Encoded words become opaque atoms for the address parser, so that what they decode to
    # (or hold illegally, like "<" or ":") cannot pose as address syntax.
    masked = _ENCODED_WORD.sub(lambda m: f"\ue000{m.start()}\ue001", raw)
    try:
        pairs = email.utils.getaddresses([masked]) if re.search("[@<]", masked) else []
    except Exception:  # e.g. RecursionError on deeply nested comments
        pairs = []
    found = next((p for p in pairs if "@" in p[1]), next((p for p in pairs if any(p)), ("", "")))
    unmask = lambda m: _ENCODED_WORD.match(raw, int(m[1]))[0]  # noqa: E731
    name, addr = (re.sub("\ue000(\\d+)\ue001", unmask, text) for text in found)
    return name, addr


_MASK_MARKS = re.compile("[\ue000\ue001]")
_BARE_ADDRESS = re.compile(r'[^\s<>()\[\],;:"]*')
_ADDRESS_LIKE = re.compile(r'[<>@,;:"]')


def _sender(from_header: str) -> str:
    """The From header as an alert shows it: `Name <address>` or the address."""
    simple = _SIMPLE_ADDRESS.fullmatch(from_header)
    if simple is not None:  # what _sender_parsed gives these, read off the groups
        addr = (simple[2] or simple[3])[:254]
        name = (simple[1] or "")[: max(0, SENDER_CHARS - len(addr) - 5)].rstrip()
        return f"{name} <{addr}>" if name and name != addr else addr
    return _sender_parsed(from_header)


def _sender_parsed(from_header: str) -> str:
    raw = from_header if from_header.isascii() else _MASK_MARKS.sub("", from_header)
    name, addr = _simple_address(raw) or _address(raw)
    if not _BARE_ADDRESS.fullmatch(addr):  # the parser gave up: show the raw text
        name, addr = "", ""
    addr = _clean(addr, 254)
    name = decode_header(name or ("" if addr else raw), SENDER_CHARS - len(addr) - 5)
    if _ADDRESS_LIKE.search(name) and name != addr:  # a name that looks like an address
        name = '"' + name.replace('"', "'")[: SENDER_CHARS - len(addr) - 5] + '"'
    return (
        f"{name} <{addr}>" if name and addr and name != addr else addr or name or "(unknown sender)"
    )


_PLAIN_ADDRESS = re.compile(r'[^\s<>()\[\],;:"]+@[^\s<>()\[\],;:"]+')


def _addresses(header: str | None) -> tuple[str, ...]:
    """The addresses of an address-list header (To, Cc), lower-cased, without names, each
    once; a list of simple forms skips the stdlib parser (as _sender does)."""
    if not header:
        return ()
    if "," not in header and len(header) <= 254 and (one := _SIMPLE_ADDRESS.fullmatch(header)):
        return ((one[2] or one[3]).lower(),)  # one plain address, as below
    simple = [_SIMPLE_ADDRESS.fullmatch(part) for part in header.split(",")]
    if all(simple):  # plain ASCII addresses already: nothing to clean but the length
        found = [(m[2] or m[3])[:254] for m in simple if m]
    else:
        found = _parsed_addresses(header)
    kept = dict.fromkeys(a.lower() for a in found if _PLAIN_ADDRESS.fullmatch(a))
    return tuple(kept)[:MAX_RECIPIENTS]


def _parsed_addresses(header: str) -> list[str]:
    """The addresses of an address list by the stdlib parser, cleaned."""
    raw = re.sub("[\ue000\ue001]", "", header)
    masked = _ENCODED_WORD.sub(" ", raw)  # a name's encoded word is no address syntax
    try:
        pairs = email.utils.getaddresses([masked])
    except Exception:  # e.g. RecursionError on deeply nested comments
        pairs = []
    return [_clean(addr, 254) for _name, addr in pairs]


def _walk(msg: Message) -> list[tuple[Message, bool]]:
    """Leaves and forwarded messages, depth-first, each with "inside a forward"; iterative and
    bounded in depth and count."""
    leaves: list[tuple[Message, bool]] = []
    stack, seen = [(msg, 0, False)], 0
    while stack and seen < MAX_PARTS:
        (part, depth, inner), seen = stack.pop(), seen + 1
        if not part.is_multipart():  # get_payload() on a leaf may run its charset's codec
            leaves.append((part, inner))
            continue
        if part is not msg and part.get_content_type() in _FORWARDED:
            leaves.append((part, inner))
            inner = True
        if depth < MAX_DEPTH:
            children = [c for c in reversed(part.get_payload()) if isinstance(c, Message)]
            stack.extend((child, depth + 1, inner) for child in children)
    return leaves


def _part_text(part: Message) -> str:
    data = None
    with contextlib.suppress(Exception):  # get_payload() runs the charset's codec on 8-bit junk
        data = part.get_payload(decode=True)
        if _as_text(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
            data = _b64(part.get_payload())  # the stdlib returns base64 it cannot decode as is
    return _decode_bytes(data, part.get_content_charset()) if isinstance(data, bytes) else ""


def _attachment_name(part: Message) -> str | None:
    """Filename (RFC 2231, RFC 2047 or raw 8-bit), separators and invisible characters gone;
    a forwarded message without one is named after its subject."""
    probe = Message()  # parameters re-parsed from properly decoded text
    for header in ("Content-Disposition", "Content-Type"):
        if (value := _header(part, header.lower())) is not None:
            probe[header] = value
    try:
        name = probe.get_filename()
    except Exception:
        name = None
    if not name and part.is_multipart() and part.get_payload():  # a forwarded message
        subject = decode_header(_header(part.get_payload()[0], "subject"), NAME_CHARS)
        name = f"{subject or 'forwarded message'}.eml"
    name = _SEPARATORS.sub("_", decode_header(name or "", 10 * NAME_CHARS))
    stem, dot, ext = name.rpartition(".")
    if len(name) > NAME_CHARS and dot and len(ext) <= 16:  # the real extension stays visible
        return f"{stem[: NAME_CHARS - len(ext) - 2]}\u2026.{ext}"
    return name[:NAME_CHARS].rstrip() or None


def _parse(raw: bytes, headers_only: bool = False) -> ParsedMessage:
    parser = email.parser.BytesHeaderParser() if headers_only else email.parser.BytesParser()
    msg = parser.parsebytes(raw)
    texts: dict[tuple[bool, str], list[str]] = {}
    attachments: list[str] = []
    for part, inner in [] if headers_only else _walk(msg):
        disposition = (_header(part, "content-disposition") or "").strip().lower()
        name = _attachment_name(part)
        if name or disposition.startswith("attachment") or part.is_multipart():
            if len(attachments) < MAX_ATTACHMENTS and not inner:  # not those inside a forward
                attachments.append(name or "(unnamed)")
        elif part.get_content_type() in ("text/plain", "text/html"):
            texts.setdefault((inner, part.get_content_subtype()), []).append(_part_text(part))
    order = ((False, "plain"), (False, "html"), (True, "plain"), (True, "html"))
    bodies = (
        html_to_text(t) if k == "html" else t for i, k in order for t in texts.get((i, k), [])
    )
    body = next((b for b in bodies if _clean(b, 1)), "")
    summary = _summary(
        lambda name: _header(msg, name), _clean(body, SNIPPET_CHARS), tuple(attachments)
    )
    return replace(summary, text=_clean_lines(body, FULL_TEXT_CHARS))


def _summary(
    header: Callable[[str], str | None], snippet: str, attachments: tuple[str, ...]
) -> ParsedMessage:
    """The fields from the top-level headers; `header(name)` gives the first header of that
    (lower-case) name as _header does, or None. (Positional: a bulk POP3 download makes
    thousands; absent headers skip their cleaning.)"""
    message_id = None
    if raw_id := header("message-id"):
        cleaned = _clean(raw_id, 1000)
        found = _MSG_ID.search(cleaned)
        message_id = found[0] if found else cleaned[:300] or None
    replied = None
    if raw_reply := header("in-reply-to"):
        replied = _MSG_ID.search(_clean(raw_reply, 1000))
    references = header("references")
    return ParsedMessage(
        decode_header(header("subject"), SUBJECT_CHARS) or "(no subject)",
        _sender(header("from") or ""),
        _date(header("date") or ""),
        snippet,
        attachments,
        message_id,
        "",
        _addresses(header("to")),
        _addresses(header("cc")),
        replied[0] if replied else None,
        _references(references) if references else (),
        _addresses(header("reply-to")),
    )


def _references(value: str) -> tuple[str, ...]:
    """The <msg-id>s of a References field: the root (first) and the latest ones, since
    those are what a reply's thread is found by; duplicates dropped."""
    ids = list(dict.fromkeys(_MSG_ID.findall(_clean(value, MAX_HEADER))))
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return tuple(ids)


def parse_message(raw: bytes) -> ParsedMessage:
    raw = bytes(raw[:MAX_BYTES])
    nested = (m.start() for i, m in enumerate(_NESTED_TYPE.finditer(raw)) if i == MAX_NESTING)
    raw = raw[: next(nested, None)]  # deeper levels are cut off rather than recursed into
    try:
        return _parse(raw)
    except Exception:  # RecursionError from a caller's deep stack, or a stdlib surprise
        try:
            return _parse(raw, headers_only=True)
        except Exception:
            return ParsedMessage("(no subject)", "(unknown sender)", None, "", (), None)


def parse_headers(raw: bytes) -> ParsedMessage:
    """Sender, subject, date, Message-ID, To, Cc and the thread headers without walking the
    body: cheap enough for bulk downloads. Snippet and attachments stay empty; parse_message
    gives them when needed.
    A plain header block skips the email package (the same fields, read directly: the
    stdlib parser cost more than the rest of a POP3 download); any other goes through it."""
    head = _header_block(bytes(raw[:MAX_BYTES]))
    try:  # the parser never sees the body, so it costs the same for any message size
        fields = _simple_headers(head)
        if fields is not None:
            return _summary(fields.get, "", ())
        return _parse(head, headers_only=True)
    except Exception:
        return ParsedMessage("(no subject)", "(unknown sender)", None, "", (), None)
