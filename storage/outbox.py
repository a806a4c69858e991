"""The alert outbox: alerts are rows first, messages second."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from mail.types import FolderState
from storage import repo
from storage.models import Account, ArchivedMessage, OutboxAlert, utcnow
from storage.shards import ALL_SHARDS, ShardSet


@dataclass(frozen=True)
class Alert:
    """What to post: an embed (as discord.Embed.to_dict()) and whether to mention the role."""

    embed: dict[str, Any]
    mention: bool = True


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def rows(account: Account, alerts: Iterable[Alert]) -> list[OutboxAlert]:
    return [
        OutboxAlert(
            account_id=account.id,
            channel_id=account.channel_id,
            payload=json.dumps(
                {"embed": a.embed, "role": account.mention_role_id if a.mention else None}
            ),
        )
        for a in alerts
    ]


def enqueue(engine: Engine, account: Account, alerts: Iterable[Alert]) -> None:
    with _session(engine) as session:
        session.add_all(rows(account, alerts))
        session.commit()


def enqueue_with_folder_states(
    engine: Engine, account: Account, alerts: Iterable[Alert], states: Mapping[str, FolderState]
) -> None:
    """IMAP: the alerts and the advanced UIDs in one transaction, so a message is either
    queued and passed, or neither (then the next poll finds it again)."""
    with _session(engine) as session:
        session.add_all(rows(account, alerts))
        repo.apply_folder_states(session, account.id, states)
        session.commit()


def enqueue_archived(engine: Engine, account: Account, alerts: Iterable[Alert], up_to: int) -> None:
    """POP3: queue the alerts and mark the account's archive rows up to id `up_to`
    announced, atomically."""
    with _session(engine) as session:
        session.add_all(rows(account, alerts))
        session.exec(  # type: ignore[call-overload]
            update(ArchivedMessage)
            .where(
                col(ArchivedMessage.account_id) == account.id,
                col(ArchivedMessage.id) <= up_to,
                col(ArchivedMessage.announced).is_(False),
            )
            .values(announced=True)
        )
        session.commit()


def _of_shards(query, shards: ShardSet):
    """Only the rows of accounts whose guild is on these shards: each process sends its
    own shards' alerts, so several processes never send one alert twice."""
    clause = shards.clause(col(Account.guild_id))
    return query if clause is None else query.where(clause)


def due(
    engine: Engine, now: datetime, limit: int = 200, shards: ShardSet = ALL_SHARDS
) -> list[OutboxAlert]:
    """Pending alerts whose time has come, oldest first, skipping broken channels."""
    query = (
        select(OutboxAlert)
        .join(Account, col(Account.id) == col(OutboxAlert.account_id))
        .where(
            col(OutboxAlert.sent_at).is_(None),
            col(OutboxAlert.next_attempt_at) <= now,
            col(Account.channel_broken).is_(None),
        )
        .order_by(col(OutboxAlert.id))
        .limit(limit)
    )
    with _session(engine) as session:
        return list(session.exec(_of_shards(query, shards)).all())


def next_due_at(engine: Engine, shards: ShardSet = ALL_SHARDS) -> datetime | None:
    query = (
        select(OutboxAlert.next_attempt_at)
        .join(Account, col(Account.id) == col(OutboxAlert.account_id))
        .where(col(OutboxAlert.sent_at).is_(None), col(Account.channel_broken).is_(None))
        .order_by(col(OutboxAlert.next_attempt_at))
        .limit(1)
    )
    with _session(engine) as session:
        return session.exec(_of_shards(query, shards)).first()


def mark_sent(engine: Engine, alert_id: int) -> None:
    with _session(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(OutboxAlert).where(col(OutboxAlert.id) == alert_id).values(sent_at=utcnow())
        )
        session.commit()


def postpone(engine: Engine, alert_id: int, delay: timedelta) -> None:
    with _session(engine) as session:
        row = session.get(OutboxAlert, alert_id)
        if row is not None:
            row.attempts += 1
            row.next_attempt_at = utcnow() + delay
            session.add(row)
            session.commit()


def mark_channel_broken(engine: Engine, account_id: int, reason: str) -> None:
    with _session(engine) as session:
        account = session.get(Account, account_id)
        if account is not None:
            account.channel_broken = reason[:300]
            session.add(account)
            session.commit()


def pending_count(engine: Engine, account_id: int | None = None) -> int:
    with _session(engine) as session:
        query = select(OutboxAlert.id).where(col(OutboxAlert.sent_at).is_(None))
        if account_id is not None:
            query = query.where(OutboxAlert.account_id == account_id)
        return len(session.exec(query).all())


def backlog(engine: Engine, shards: ShardSet = ALL_SHARDS) -> tuple[int, datetime | None]:
    """How many alerts (of these shards' accounts) wait to be sent, and when the oldest of
    them was written."""
    query = select(func.count(), func.min(OutboxAlert.created_at)).where(
        col(OutboxAlert.sent_at).is_(None)
    )
    if not shards.complete:
        query = _of_shards(
            query.join(Account, col(Account.id) == col(OutboxAlert.account_id)), shards
        )
    with _session(engine) as session:
        count, oldest = session.exec(query).one()
        return int(count), oldest
