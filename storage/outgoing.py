"""Outgoing mail (SPEC section 13): the row is written before SMTP starts and its state
moves only forward, each move committed with the Discord post that reports it (an
outbox row), so a crash never loses the report nor makes two."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from storage import outbox
from storage.models import Account, OutgoingMail, utcnow
from storage.outbox import Alert

QUEUED, SENDING, SENT, FAILED, UNKNOWN, DISCARDED = (
    "queued",
    "sending",
    "sent",
    "failed",
    "unknown",
    "discarded",
)
HOUR = timedelta(hours=1)


class SendCapError(Exception):
    """The account sent its hourly allowance; str() says when the next send is possible."""

    def __init__(self, cap: int, next_at: datetime) -> None:
        super().__init__(cap, next_at)
        self.cap = cap
        self.next_at = next_at


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def queue(engine: Engine, row: OutgoingMail, cap: int) -> OutgoingMail:
    """Store a new message (state queued) unless the account already made `cap` sends in
    the last hour (SendCapError). Discarded rows do not count; failed ones do."""
    since = utcnow() - HOUR
    with _session(engine) as session:
        recent = session.exec(
            select(OutgoingMail.created_at)
            .where(
                col(OutgoingMail.account_id) == row.account_id,
                col(OutgoingMail.created_at) > since,
                col(OutgoingMail.state) != DISCARDED,
            )
            .order_by(col(OutgoingMail.created_at))
        ).all()
        if len(recent) >= cap:
            raise SendCapError(cap, _aware(recent[len(recent) - cap]) + HOUR)
        session.add(row)
        session.commit()
        session.refresh(row)
        return row


def get(engine: Engine, row_id: int) -> OutgoingMail | None:
    with _session(engine) as session:
        return session.get(OutgoingMail, row_id)


def due(engine: Engine, now: datetime) -> list[OutgoingMail]:
    """Queued rows whose (next) attempt is due, oldest first."""
    with _session(engine) as session:
        return list(
            session.exec(
                select(OutgoingMail)
                .where(col(OutgoingMail.state) == QUEUED, col(OutgoingMail.next_attempt_at) <= now)
                .order_by(col(OutgoingMail.id))
            ).all()
        )


def next_due_at(engine: Engine) -> datetime | None:
    with _session(engine) as session:
        found = session.exec(
            select(func.min(OutgoingMail.next_attempt_at)).where(col(OutgoingMail.state) == QUEUED)
        ).first()
        return _aware(found) if found else None


def _move(session: Session, row_id: int, frm: Iterable[str], **values: object) -> bool:
    """Change the row only from one of the states `frm` (compare-and-set)."""
    done = session.exec(  # type: ignore[call-overload]
        update(OutgoingMail)
        .where(col(OutgoingMail.id) == row_id, col(OutgoingMail.state).in_(list(frm)))
        .values(**values)
    )
    return bool(done.rowcount)


def _settle(
    engine: Engine,
    row_id: int,
    frm: Iterable[str],
    account: Account | None,
    alerts: list[Alert],
    **values: object,
) -> bool:
    """One transaction: the state move and the posts that report it."""
    with _session(engine) as session:
        if not _move(session, row_id, frm, **values):
            session.rollback()
            return False
        if account is not None and alerts:
            session.add_all(outbox.rows(account, alerts))
        session.commit()
        return True


def mark_sending(engine: Engine, row_id: int) -> bool:
    """Committed right before DATA: a crash from here on leaves the row `unknown`."""
    return _settle(engine, row_id, [QUEUED], None, [], state=SENDING)


def mark_sent(engine: Engine, row_id: int, account: Account, alerts: list[Alert]) -> bool:
    return _settle(engine, row_id, [SENDING], account, alerts, state=SENT, sent_at=utcnow())


def mark_retry(engine: Engine, row_id: int, error: str, delay: timedelta) -> bool:
    """A temporary failure before DATA was accepted: try again after `delay`."""
    with _session(engine) as session:
        row = session.get(OutgoingMail, row_id)
        if row is None or row.state not in (QUEUED, SENDING):
            return False
        return _settle(
            engine,
            row_id,
            [QUEUED, SENDING],
            None,
            [],
            state=QUEUED,
            error=error,
            attempts=row.attempts + 1,
            next_attempt_at=utcnow() + delay,
        )


def mark_failed(engine: Engine, row_id: int, error: str, account: Account, alert: Alert) -> bool:
    return _settle(engine, row_id, [QUEUED, SENDING], account, [alert], state=FAILED, error=error)


def mark_unknown(engine: Engine, row_id: int, error: str, account: Account, alert: Alert) -> bool:
    """The outcome of DATA is not known: never sent again on its own; one notice."""
    return _settle(engine, row_id, [SENDING], account, [alert], state=UNKNOWN, error=error)


def interrupted(engine: Engine) -> list[OutgoingMail]:
    """Rows a dead process left between DATA and its commit (state `sending`)."""
    with _session(engine) as session:
        return list(
            session.exec(select(OutgoingMail).where(col(OutgoingMail.state) == SENDING)).all()
        )


def resend(engine: Engine, row_id: int) -> bool:
    """A member's Resend of an `unknown` row: queued again, due now."""
    with _session(engine) as session:
        moved = _move(session, row_id, [UNKNOWN], state=QUEUED, next_attempt_at=utcnow())
        session.commit()
        return moved


def discard(engine: Engine, row_id: int) -> bool:
    with _session(engine) as session:
        moved = _move(session, row_id, [UNKNOWN], state=DISCARDED)
        session.commit()
        return moved


def set_sent_copy(
    engine: Engine, row_id: int, result: str, alerts: list[Alert], account: Account
) -> None:
    with _session(engine) as session:
        _move(session, row_id, [SENT], sent_copy=result)
        if alerts:
            session.add_all(outbox.rows(account, alerts))
        session.commit()
