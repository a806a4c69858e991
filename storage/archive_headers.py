"""The header fields of POP3 archive rows, read from the stored bytes when a reader first
needs them (storage/archive.py: the rows an announcement shows, a search, an archive page,
a board), once: a download commits only the bytes, so a first download of thousands reads
the headers of the few it shows. Dovecot fills its own header cache the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from mail.parse import ParsedMessage, parse_headers
from storage import archive_codec
from storage.models import ArchivedMessage

log = logging.getLogger("storage.archive")

_CHUNK = 500  # rows read per step, and ids per IN (...)


def _chunks(items: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# A downloaded row before its headers are read; what every stored row holds besides.
UNREAD = {
    "announced": False,
    "deleted_at": None,
    "headers_read": False,
    "message_id": None,
    "sender": "",
    "subject": "",
    "sent_at": None,
    "to_addrs": None,
    "cc_addrs": None,
    "in_reply_to": None,
    "reference_ids": None,
}


def _header_fields(parsed: ParsedMessage) -> dict[str, object]:
    """The row's header fields from a parse, keyed as _FILL's parameters."""
    return {
        "h_message_id": parsed.message_id[:300] if parsed.message_id else None,
        "h_sender": parsed.sender[:1000],
        "h_subject": parsed.subject[:1000],
        "h_sent_at": parsed.date,
        "h_to_addrs": "\n".join(parsed.to) or None,
        "h_cc_addrs": "\n".join(parsed.cc) or None,
        "h_in_reply_to": parsed.in_reply_to,
        "h_reference_ids": "\n".join(parsed.references) or None,
    }


_HEADER_COLUMNS = ("message_id", "sender", "subject", "sent_at", "to_addrs", "cc_addrs",
                   "in_reply_to", "reference_ids")  # fmt: skip
_table = ArchivedMessage.__table__
_FILL = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"))
    .values(headers_read=True, **{c: bindparam("h_" + c) for c in _HEADER_COLUMNS})
)
UNREADABLE = ParsedMessage("(no subject)", "(unknown sender)", None, "", (), None)


def _read(row_id: int, raw: bytes) -> dict[str, object]:
    try:
        parsed = parse_headers(archive_codec.unpack(raw))
    except Exception:  # bytes the codec cannot read: a damaged store, not hostile mail
        log.error("archive row %s: stored bytes do not decompress", row_id)
        parsed = UNREADABLE
    return {"row_id": row_id, **_header_fields(parsed)}


def read_headers(
    session: Session, account_id: int, ids: Iterable[int] | None = None, *where: Any
) -> int:
    """Reads the header fields of the account's stored rows whose headers are unread (of
    `ids` only, when given; also matching `where`) and writes them in the session's
    transaction, which the caller commits. Returns how many rows it read."""
    conditions = [
        ArchivedMessage.account_id == account_id,
        col(ArchivedMessage.headers_read).is_(False),
        col(ArchivedMessage.raw_compressed).is_not(None),
        *where,
    ]
    unread = select(ArchivedMessage.id, ArchivedMessage.raw_compressed).where(*conditions)
    if ids is not None:
        return sum(
            _fill(session, unread.where(col(ArchivedMessage.id).in_(chunk)))
            for chunk in _chunks(list(ids))
        )
    done = 0
    while filled := _fill(session, unread.limit(_CHUNK)):  # what it fills drops out
        done += filled
    return done


def _fill(session: Session, unread: Any) -> int:
    rows = session.exec(unread).all()
    if rows:
        session.connection().execute(_FILL, [_read(row_id, raw) for row_id, raw in rows])
    return len(rows)
