"""The POP3 archive: the user's local history. A message's bytes are committed here before
the server is ever asked to delete it (watch/pop3_download.py wires mail.pop3 to that)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, Insert, func, insert, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from i18n import N_, MsgError
from mail import pop3
from mail.parse import parse_message
from mail.types import NewMessage
from storage import archive_codec, archive_insert
from storage.archive_headers import UNREAD, read_headers
from storage.models import ArchivedMessage, utcnow

log = logging.getLogger(__name__)

_CHUNK = 500  # bound on parameters per IN (...) query, and rows read per step


@dataclass(frozen=True)
class Retention:
    """keep (default), delete once stored, or delete `days` after the first download."""

    mode: str
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> Retention:
        value = text.strip().lower()
        if value in ("keep", "delete"):
            return cls(value)
        days = value[5:]
        if (
            value.startswith("days:")
            and days.isascii()
            and days.isdigit()
            and 1 <= int(days) <= 3650
        ):
            return cls("days", int(value[5:]))
        raise MsgError(N_("retention is `keep`, `delete`, or `days:N` with N from 1 to 3650"))

    def __str__(self) -> str:
        return f"days:{self.days}" if self.mode == "days" else self.mode


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def baseline_rows(account_id: int, uidls: Iterable[str]) -> list[ArchivedMessage]:
    """Rows for mail already on the server at /mail add: known, never announced or deleted."""
    return [ArchivedMessage(account_id=account_id, uidl=u, announced=True) for u in uidls]


def known_uidls(engine: Engine, account_id: int, uidls: Iterable[str]) -> set[str]:
    wanted = list(uidls)
    found: set[str] = set()
    with _session(engine) as session:
        # An account with no more rows than the server lists (a first download, a mailbox
        # kept on the server): all of its UIDLs in one read of the unique index.
        some = session.exec(
            select(ArchivedMessage.uidl)
            .where(ArchivedMessage.account_id == account_id)
            .limit(len(wanted) + 1)
        ).all()
        if len(some) <= len(wanted):
            return set(some).intersection(wanted)
        for chunk in _chunks(wanted):
            found.update(
                session.exec(
                    select(ArchivedMessage.uidl).where(
                        ArchivedMessage.account_id == account_id,
                        col(ArchivedMessage.uidl).in_(chunk),
                    )
                ).all()
            )
    return found


def _insert_new(engine: Engine) -> Insert | None:
    """An INSERT of archive rows that skips any (account_id, uidl) already stored (a poll
    racing another): ON CONFLICT DO NOTHING on the unique constraint. None for a dialect
    without it."""
    table = ArchivedMessage.__table__
    dialect = engine.dialect.name
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing(index_elements=["account_id", "uidl"])
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=["account_id", "uidl"])
    return None


# A message as the store takes it: (UIDL, size, compressed bytes).
Packed = tuple[str, int, bytes]


def packer() -> Callable[[str, bytes], Packed]:
    """Packs each message of one download as it arrives, on the downloading thread (for
    mail.pop3.poll's `prepare`): there the compression fills the time spent waiting for the
    server, while the thread that commits (store_packed, behind the download) does little
    but SQLite's own work. One compressor per download, never shared between threads."""
    pack = archive_codec.Packer().pack
    return lambda uidl, raw: (uidl, len(raw), pack(raw))


def store(engine: Engine, account_id: int, batch: list[pop3.Downloaded]) -> None:
    """store_packed of downloads not packed yet."""
    pack = packer()
    store_packed(engine, account_id, [pack(d.uidl, d.raw) for d in batch])


def store_packed(engine: Engine, account_id: int, batch: list[Packed]) -> None:
    """Commit a batch of downloads in one transaction (durable before any DELE): an INSERT
    that skips UIDLs already stored. Only the bytes: the header fields are read when a
    reader first needs them (read_headers), so a first download of thousands reads the
    headers of the few it shows, not of all. The ORM's bulk path and a SELECT for the UIDLs
    present cost more per message than the commit's fsync; on SQLite even the Core's
    parameter handling did (storage/archive_insert.py goes below it)."""
    if not batch:
        return
    at = utcnow()
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            archive_insert.insert_rows(connection, account_id, at, batch)
        return
    constant = {**UNREAD, "account_id": account_id, "downloaded_at": at}
    rows = [{**constant, "uidl": u, "size": n, "raw_compressed": b} for u, n, b in batch]
    statement = _insert_new(engine)
    with engine.begin() as connection:
        if statement is not None:
            connection.execute(statement, rows)
            return
        present = set(  # another dialect: skip what is there by asking first
            connection.scalars(
                select(ArchivedMessage.uidl).where(
                    ArchivedMessage.account_id == account_id,
                    col(ArchivedMessage.uidl).in_([r["uidl"] for r in rows]),
                )
            ).all()
        )
        rows = [r for r in rows if r["uidl"] not in present]
        if rows:
            connection.execute(insert(ArchivedMessage.__table__), rows)


def deletable(
    engine: Engine,
    account_id: int,
    on_server: Mapping[str, int],
    retention: Retention,
    now: datetime,
) -> set[str]:
    """UIDLs on the server whose bytes are committed here and that the policy lets go."""
    if retention.mode == "keep":
        return set()
    conditions = [
        ArchivedMessage.account_id == account_id,
        col(ArchivedMessage.raw_compressed).is_not(None),
    ]
    if retention.mode == "days":
        conditions.append(
            col(ArchivedMessage.downloaded_at) <= now - timedelta(days=retention.days)
        )
    out: set[str] = set()
    with _session(engine) as session:
        for chunk in _chunks(list(on_server)):
            out.update(
                session.exec(
                    select(ArchivedMessage.uidl).where(
                        *conditions, col(ArchivedMessage.uidl).in_(chunk)
                    )
                ).all()
            )
    return out


def mark_deleted(engine: Engine, account_id: int, uidls: Iterable[str], now: datetime) -> None:
    with _session(engine) as session:
        for chunk in _chunks(list(uidls)):
            for row in session.exec(
                select(ArchivedMessage).where(
                    ArchivedMessage.account_id == account_id, col(ArchivedMessage.uidl).in_(chunk)
                )
            ).all():
                row.deleted_at = now
                session.add(row)
        session.commit()


def unannounced(
    engine: Engine, account_id: int, newest: int = 20
) -> tuple[list[ArchivedMessage], int]:
    """The newest not-yet-announced rows (oldest first) and how many there are in all."""
    condition = (
        ArchivedMessage.account_id == account_id,
        col(ArchivedMessage.announced).is_(False),
    )
    with _session(engine) as session:
        total = session.exec(
            select(func.count()).select_from(ArchivedMessage).where(*condition)
        ).one()
        ids = session.exec(
            select(ArchivedMessage.id)
            .where(*condition)
            .order_by(col(ArchivedMessage.id).desc())
            .limit(newest)
        ).all()
        if read_headers(session, account_id, ids):  # only these are shown
            session.commit()
        rows = session.exec(
            select(ArchivedMessage)
            .where(col(ArchivedMessage.id).in_(ids))
            .order_by(col(ArchivedMessage.id))
        ).all()
        return list(rows), int(total)


def unannounced_all(engine: Engine, account_id: int) -> list[ArchivedMessage]:
    """Every not-yet-announced row, oldest first, without the bytes (routing rules look at
    each message; a first download of thousands reads only their headers' fields)."""
    with _session(engine) as session:
        if read_headers(session, account_id, None, col(ArchivedMessage.announced).is_(False)):
            session.commit()
        rows = session.exec(
            select(ArchivedMessage)
            .options(defer(ArchivedMessage.raw_compressed))  # type: ignore[arg-type]
            .where(
                ArchivedMessage.account_id == account_id,
                col(ArchivedMessage.announced).is_(False),
            )
            .order_by(col(ArchivedMessage.id))
        ).all()
        return list(rows)


def _lines(text: str | None) -> tuple[str, ...]:
    return tuple(text.split("\n")) if text else ()


def new_messages(engine: Engine, rows: list[ArchivedMessage], with_body: bool) -> list[NewMessage]:
    """Alert data for archived rows. The stored metadata is enough for a digest; single
    alerts also get a snippet and attachment names, parsed from the archived bytes."""
    out = []
    for row in rows:
        parsed = None
        if with_body and row.id is not None:
            raw = raw_message(engine, row.id)
            parsed = parse_message(raw) if raw is not None else None
        out.append(
            NewMessage(
                folder="INBOX",
                uid=row.id or 0,
                subject=row.subject,
                sender=row.sender,
                date=row.sent_at,
                snippet=parsed.snippet if parsed else "",
                attachments=parsed.attachments if parsed else (),
                message_id=row.message_id,
                size=row.size,
                text=parsed.text if parsed else "",
                to=_lines(row.to_addrs),
                cc=_lines(row.cc_addrs),
                in_reply_to=row.in_reply_to,
                references=_lines(row.reference_ids),
                reply_to=parsed.reply_to if parsed else (),
            )
        )
    return out


def search(
    engine: Engine, account_id: int, query: str | None, limit: int, offset: int = 0
) -> tuple[list[ArchivedMessage], int]:
    """Latest archived messages whose sender or subject contains `query` (any case)."""
    condition = [
        ArchivedMessage.account_id == account_id,
        col(ArchivedMessage.raw_compressed).is_not(None),
    ]
    query = (query or "").replace("\x00", "")  # PostgreSQL text cannot hold NUL
    if query:
        condition.append(
            or_(
                col(ArchivedMessage.sender).icontains(query, autoescape=True),
                col(ArchivedMessage.subject).icontains(query, autoescape=True),
            )
        )
    newest_first = (col(ArchivedMessage.downloaded_at).desc(), col(ArchivedMessage.id).desc())
    with _session(engine) as session:
        if query and read_headers(session, account_id):  # a search looks at every row
            session.commit()
        total = session.exec(
            select(func.count()).select_from(ArchivedMessage).where(*condition)
        ).one()
        ids = session.exec(
            select(ArchivedMessage.id)
            .where(*condition)
            .order_by(*newest_first)
            .offset(offset)
            .limit(limit)
        ).all()
        if not query and read_headers(session, account_id, ids):  # a page reads its own
            session.commit()
        rows = session.exec(
            select(ArchivedMessage).where(col(ArchivedMessage.id).in_(ids)).order_by(*newest_first)
        ).all()
        return list(rows), int(total)


def raw_message(engine: Engine, message_id: int) -> bytes | None:
    with _session(engine) as session:
        row = session.get(ArchivedMessage, message_id)
        if row is None or row.raw_compressed is None:
            return None
        return archive_codec.unpack(row.raw_compressed)
