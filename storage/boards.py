"""Status boards: the board rows, their outbox rows, and what a board shows that lives in
the store. One board per account; its message is posted or edited through the outbox
(kind "board"), so edits keep the sender's order, pacing and outage rule."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from storage.archive_headers import read_headers
from storage.models import (
    Account,
    AccountHealth,
    ArchivedMessage,
    Board,
    OutboxAlert,
    QuotaSample,
    utcnow,
)
from storage.shards import ALL_SHARDS, ShardSet

KIND = "board"


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def _pending(account_id: int):
    return select(OutboxAlert).where(
        OutboxAlert.account_id == account_id,
        OutboxAlert.kind == KIND,
        col(OutboxAlert.sent_at).is_(None),
    )


def get(engine: Engine, account_id: int) -> Board | None:
    with _session(engine) as session:
        return session.get(Board, account_id)


def start(engine: Engine, account_id: int, channel_id: int) -> Board | None:
    """Create the account's board in `channel_id`, or restart the one it has: the next
    refresh edits it whatever its content (and posts it again if it was deleted). A board
    moved to another channel starts with a new message. Returns the board as it was."""
    with _session(engine) as session:
        board = session.get(Board, account_id)
        before = None if board is None else Board(**board.model_dump())
        if board is None:
            board = Board(account_id=account_id, channel_id=channel_id)
        elif board.channel_id != channel_id:
            for row in session.exec(_pending(account_id)).all():
                session.delete(row)  # queued for the old channel
            board.channel_id = channel_id
            board.message_id = None
        board.content_hash = None
        board.broken = None
        session.add(board)
        session.commit()
        return before


def remove(engine: Engine, account_id: int) -> Board | None:
    """End the board and drop its waiting edits in one transaction; returns it."""
    with _session(engine) as session:
        board = session.get(Board, account_id)
        if board is None:
            return None
        session.exec(  # type: ignore[call-overload]
            delete(OutboxAlert).where(
                col(OutboxAlert.account_id) == account_id,
                col(OutboxAlert.kind) == KIND,
                col(OutboxAlert.sent_at).is_(None),
            )
        )
        session.delete(board)
        session.commit()
        return board


def live(engine: Engine, shards: ShardSet = ALL_SHARDS) -> dict[int, datetime | None]:
    """Every board Discord has not refused, of an account on these shards: account id ->
    when it was last queued."""
    query = select(Board).where(col(Board.broken).is_(None))
    clause = shards.clause(col(Account.guild_id))
    if clause is not None:
        query = query.join(Account, col(Account.id) == col(Board.account_id)).where(clause)
    with _session(engine) as session:
        rows = session.exec(query).all()
        return {b.account_id: b.edited_at for b in rows}


def queue(engine: Engine, account_id: int, embed: dict[str, Any], digest: str) -> bool:
    """Queue the board's new content. A board has at most one waiting row: a newer
    content replaces the waiting one, so an outage ends with one edit, not a backlog.
    False when the board is gone or refused (nothing queued)."""
    with _session(engine) as session:
        board = session.get(Board, account_id)
        if board is None or board.broken is not None:
            return False
        payload = json.dumps({"embed": embed})
        row = session.exec(_pending(account_id)).first()
        if row is None:
            row = OutboxAlert(account_id=account_id, channel_id=board.channel_id, kind=KIND)
        row.payload = payload
        row.channel_id = board.channel_id
        board.content_hash = digest
        board.edited_at = utcnow()
        session.add_all([row, board])
        session.commit()
        return True


def settle(
    engine: Engine, row_id: int, account_id: int, message_id: int | None, sent_payload: str
) -> bool:
    """The row is done: store the message it posted or edited on the row and the board in
    one transaction. A row whose content was replaced while it was being sent stays
    waiting, so the newer content follows. False when the board was removed or moved
    meanwhile (the caller deletes a message nobody will edit again)."""
    with _session(engine) as session:
        row = session.get(OutboxAlert, row_id)
        board = session.get(Board, account_id)
        if row is not None and row.payload == sent_payload:
            row.sent_at = utcnow()
            row.message_id = message_id
            session.add(row)
        kept = board is not None and row is not None and board.channel_id == row.channel_id
        if kept and message_id is not None:
            board.message_id = message_id  # type: ignore[union-attr]
            session.add(board)
        session.commit()
        return kept


def mark_broken(engine: Engine, account_id: int, reason: str) -> None:
    with _session(engine) as session:
        board = session.get(Board, account_id)
        if board is not None:
            board.broken = reason[:300]
            session.add(board)
            session.commit()


@dataclass(frozen=True)
class ArchiveTotals:
    count: int
    size_bytes: int
    newest: tuple[str, str, datetime | None] | None  # sender, subject, date


@dataclass(frozen=True)
class BoardFacts:
    """What a board shows that is in the store."""

    account: Account
    board: Board
    health: AccountHealth | None
    quota: QuotaSample | None  # the latest sample (IMAP, until the engine reads quota)
    archive: ArchiveTotals | None  # POP3


def facts(engine: Engine, account_id: int) -> BoardFacts | None:
    with _session(engine) as session:
        account = session.get(Account, account_id)
        board = session.get(Board, account_id)
        if account is None or board is None:
            return None
        quota = session.exec(
            select(QuotaSample)
            .where(QuotaSample.account_id == account_id)
            .order_by(col(QuotaSample.at).desc())
            .limit(1)
        ).first()
        archive = _archive_totals(session, account_id) if account.protocol == "pop3" else None
        return BoardFacts(account, board, session.get(AccountHealth, account_id), quota, archive)


def _archive_totals(session: Session, account_id: int) -> ArchiveTotals:
    stored = (
        ArchivedMessage.account_id == account_id,
        col(ArchivedMessage.raw_compressed).is_not(None),
    )
    count, size = session.exec(
        select(func.count(), func.coalesce(func.sum(ArchivedMessage.size), 0)).where(*stored)
    ).one()
    newest_id = session.exec(
        select(ArchivedMessage.id)
        .where(*stored)
        .order_by(col(ArchivedMessage.downloaded_at).desc(), col(ArchivedMessage.id).desc())
        .limit(1)
    ).first()
    if newest_id is not None and read_headers(session, account_id, [newest_id]):
        session.commit()
    newest = session.exec(
        select(ArchivedMessage.sender, ArchivedMessage.subject, ArchivedMessage.sent_at).where(
            ArchivedMessage.id == newest_id
        )
    ).first()
    return ArchiveTotals(int(count), int(size), tuple(newest) if newest else None)  # type: ignore[arg-type]
