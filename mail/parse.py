"""Pure parsing: raw message bytes -> the fields an alert shows. Never raises on bad mail."""

from __future__ import annotations

import email
import email.header
import email.message
import email.parser
import email.utils
import re
from dataclasses import dataclass
from datetime import datetime

import html2text

SNIPPET_CHARS = 300
MAX_PARTS = 200
MAX_BYTES = 256 * 1024
MAX_DEPTH = 20
MAX_ATTACHMENTS = 20
_WS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class ParsedMessage:
    subject: str
    sender: str
    date: datetime | None
    snippet: str
    attachments: tuple[str, ...]
    message_id: str | None


def _clean(text: str, limit: int) -> str:
    return _WS.sub(" ", _CONTROL.sub("", text)).strip()[:limit]


def decode_header(value: object, limit: int = 998) -> str:
    """RFC 2047 decode; unknown or broken charsets become replacement characters."""
    if value is None:
        return ""
    raw = str(value)
    try:
        chunks = email.header.decode_header(raw)
    except Exception:
        return _clean(raw, limit)
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(_decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    return _clean("".join(out), limit)


def _decode_bytes(data: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate, errors="replace")
        except (LookupError, ValueError):
            continue
    return data.decode("latin-1")


def _sender(msg: email.message.Message) -> str:
    raw = decode_header(msg.get("From"))
    if not raw:
        return "(unknown sender)"
    name, addr = email.utils.parseaddr(raw)
    if name and addr:
        return f"{name} <{addr}>"
    return addr or name or raw


def _date(msg: email.message.Message) -> datetime | None:
    raw = msg.get("Date")
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _walk(msg: email.message.Message) -> list[email.message.Message]:
    """Leaf parts, depth-first, bounded in depth and count (no recursion, no RecursionError)."""
    leaves: list[email.message.Message] = []
    stack = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            if depth < MAX_DEPTH:
                stack.extend((child, depth + 1) for child in reversed(payload))
        else:
            leaves.append(part)
    return leaves


def _part_text(part: email.message.Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return ""
    if not isinstance(data, bytes):
        return ""
    return _decode_bytes(data, part.get_content_charset())


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.ignore_links = True
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.body_width = 0
    try:
        return converter.handle(_SCRIPT_STYLE.sub(" ", html))
    except Exception:
        return re.sub(r"<[^>]*>", " ", html)


def _attachment_name(part: email.message.Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    if not name:
        return None
    name = decode_header(name, 200).replace("/", "_").replace("\\", "_")
    return name or None


def parse_message(raw: bytes) -> ParsedMessage:
    raw = raw[:MAX_BYTES]
    try:
        msg = email.message_from_bytes(raw)
        leaves = _walk(msg)
    except RecursionError:
        # The stdlib parser recurses per nesting level; a hostile nest still gets headers.
        msg = email.parser.BytesHeaderParser().parsebytes(raw)
        leaves = []
    plain = html = None
    attachments: list[str] = []
    for part in leaves:
        disposition = (part.get("Content-Disposition") or "").lower()
        name = _attachment_name(part)
        if name or disposition.startswith("attachment"):
            if len(attachments) < MAX_ATTACHMENTS:
                attachments.append(name or "(unnamed)")
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = _part_text(part)
        elif ctype == "text/html" and html is None:
            html = _part_text(part)
    body = plain if plain and plain.strip() else html_to_text(html) if html else ""
    message_id = decode_header(msg.get("Message-ID"), 300) or None
    return ParsedMessage(
        subject=decode_header(msg.get("Subject"), 998) or "(no subject)",
        sender=_sender(msg),
        date=_date(msg),
        snippet=_clean(body, SNIPPET_CHARS),
        attachments=tuple(attachments),
        message_id=message_id,
    )
