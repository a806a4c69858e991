"""The POP3 archive: the user's local history. A message's bytes are committed here before
the server is ever asked to delete it; `sync` wires mail.pop3's callbacks to that rule."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, or_
from sqlmodel import Session, col, select

from mail import pop3
from mail.types import NewMessage, ServerConfig
from storage.models import ArchivedMessage, utcnow

_CHUNK = 500  # bound on parameters per IN (...) query


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
        if value.startswith("days:") and value[5:].isdigit() and 1 <= int(value[5:]) <= 3650:
            return cls("days", int(value[5:]))
        raise ValueError("retention is `keep`, `delete`, or `days:N` with N from 1 to 3650")

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
    found: set[str] = set()
    with _session(engine) as session:
        for chunk in _chunks(list(uidls)):
            found.update(
                session.exec(
                    select(ArchivedMessage.uidl).where(
                        ArchivedMessage.account_id == account_id,
                        col(ArchivedMessage.uidl).in_(chunk),
                    )
                ).all()
            )
    return found


def store(engine: Engine, account_id: int, batch: list[pop3.Downloaded]) -> None:
    """Commit a batch of downloads in one transaction (durable before any DELE)."""
    now = utcnow()
    with _session(engine) as session:
        present = set(
            session.exec(
                select(ArchivedMessage.uidl).where(
                    ArchivedMessage.account_id == account_id,
                    col(ArchivedMessage.uidl).in_([d.uidl for d in batch]),
                )
            ).all()
        )
        for d in batch:
            if d.uidl in present:
                continue
            p = d.parsed
            session.add(
                ArchivedMessage(
                    account_id=account_id,
                    uidl=d.uidl,
                    message_id=(p.message_id or None) and p.message_id[:300],
                    sender=p.sender[:1000],
                    subject=p.subject[:1000],
                    sent_at=p.date,
                    snippet=p.snippet[:1000],
                    attachments="\n".join(p.attachments),
                    size=d.size,
                    raw_compressed=zlib.compress(d.raw, 6),
                    downloaded_at=now,
                )
            )
        session.commit()


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


def sync(
    engine: Engine,
    account_id: int,
    cfg: ServerConfig,
    retention: Retention,
    allow_private: bool,
    now: datetime | None = None,
) -> pop3.Pop3Poll:
    """One POP3 poll into the archive (blocking). `now` is evaluated per poll for days:N."""
    at = now or utcnow()
    result = pop3.poll(
        cfg,
        known_uidls=lambda uidls: known_uidls(engine, account_id, uidls),
        store=lambda batch: store(engine, account_id, batch),
        deletable=lambda on_server: deletable(engine, account_id, on_server, retention, at),
        allow_private=allow_private,
    )
    if result.deleted:
        mark_deleted(engine, account_id, result.deleted, at)
    return result


def unannounced(engine: Engine, account_id: int, limit: int = 500) -> list[ArchivedMessage]:
    with _session(engine) as session:
        return list(
            session.exec(
                select(ArchivedMessage)
                .where(
                    ArchivedMessage.account_id == account_id,
                    col(ArchivedMessage.announced).is_(False),
                )
                .order_by(col(ArchivedMessage.id))
                .limit(limit)
            ).all()
        )


def as_new_message(row: ArchivedMessage) -> NewMessage:
    return NewMessage(
        folder="INBOX",
        uid=row.id or 0,
        subject=row.subject,
        sender=row.sender,
        date=row.sent_at,
        snippet=row.snippet,
        attachments=tuple(a for a in row.attachments.split("\n") if a),
        message_id=row.message_id,
        size=row.size,
    )


def mark_announced(engine: Engine, ids: Iterable[int]) -> None:
    with _session(engine) as session:
        for row in session.exec(
            select(ArchivedMessage).where(col(ArchivedMessage.id).in_(list(ids)))
        ).all():
            row.announced = True
            session.add(row)
        session.commit()


def search(
    engine: Engine, account_id: int, query: str | None, limit: int, offset: int = 0
) -> tuple[list[ArchivedMessage], int]:
    """Latest archived messages whose sender or subject contains `query` (any case)."""
    condition = [
        ArchivedMessage.account_id == account_id,
        col(ArchivedMessage.raw_compressed).is_not(None),
    ]
    if query:
        condition.append(
            or_(
                col(ArchivedMessage.sender).icontains(query),
                col(ArchivedMessage.subject).icontains(query),
            )
        )
    with _session(engine) as session:
        total = session.exec(
            select(func.count()).select_from(ArchivedMessage).where(*condition)
        ).one()
        rows = session.exec(
            select(ArchivedMessage)
            .where(*condition)
            .order_by(col(ArchivedMessage.downloaded_at).desc(), col(ArchivedMessage.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return list(rows), int(total)


def raw_message(engine: Engine, message_id: int) -> bytes | None:
    with _session(engine) as session:
        row = session.get(ArchivedMessage, message_id)
        if row is None or row.raw_compressed is None:
            return None
        return zlib.decompress(row.raw_compressed)
