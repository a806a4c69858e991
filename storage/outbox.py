"""The alert outbox: alerts are rows first, messages second."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, true, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, SQLModel, col, select

from mail.types import FolderState
from storage import live_alerts, repo
from storage.models import (
    Account,
    ArchivedMessage,
    LiveAlert,
    OutboxAlert,
    RoutingRule,
    utcnow,
)
from storage.shards import ALL_SHARDS, ShardSet


@dataclass(frozen=True)
class Alert:
    """What to post: an embed (as discord.Embed.to_dict()) and whether to mention the role."""

    embed: dict[str, Any]
    mention: bool = True
    # A routing rule's destination: with channel_id set, this channel and exactly role_id
    # (None: no mention) instead of the account's; rule_id when the rule's own channel.
    channel_id: int | None = None
    role_id: int | None = None
    rule_id: int | None = None
    # A new-mail alert with action buttons (SPEC section 8): the message they act on.
    track: live_alerts.Track | None = None
    # threads on: where the sender places it in its conversation (watch/conversations.py)
    thread: dict[str, Any] | None = None
    # More buttons the sender adds (cogs/_reply_buttons.py): {"reply": the mail's reply
    # headers} on a new-mail alert, {"outgoing": id} on an unknown send's notice.
    view: dict[str, Any] | None = None


def _target(account: Account, alert: Alert) -> tuple[int, int | None]:
    if alert.channel_id is not None:
        return alert.channel_id, alert.role_id
    return account.channel_id, account.mention_role_id if alert.mention else None


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def rows(account: Account, alerts: Iterable[Alert]) -> list[OutboxAlert]:
    out = []
    for a in alerts:
        channel_id, role = _target(account, a)
        payload: dict[str, Any] = {"embed": a.embed, "role": role}
        if a.track is not None:
            payload["actions"] = True  # the sender adds the live alert's buttons
        if a.thread is not None:
            payload["thread"] = a.thread
        if a.view is not None:
            payload["view"] = a.view
        out.append(
            OutboxAlert(
                account_id=account.id,
                channel_id=channel_id,
                payload=json.dumps(payload),
                rule_id=a.rule_id,
            )
        )
    return out


def enqueue(engine: Engine, account: Account, alerts: Iterable[Alert]) -> None:
    with _session(engine) as session:
        session.add_all(rows(account, alerts))
        session.commit()


def enqueue_with_folder_states(
    engine: Engine,
    account: Account,
    alerts: Iterable[Alert],
    states: Mapping[str, FolderState],
    extra: Iterable[SQLModel] = (),
    expected: Mapping[str, FolderState] | None = None,
) -> None:
    """IMAP: the alerts and the advanced UIDs in one transaction, so a message is either
    queued and passed, or neither (then the next poll finds it again). `extra`: rows that
    belong to the same step (messages waiting for a digest). `expected`: the states the
    poll started from; repo.StateMovedError (nothing written) if they moved meanwhile."""
    alerts = list(alerts)
    with _session(engine) as session:
        queued = rows(account, alerts)
        session.add_all(queued)
        session.add_all(extra)
        repo.apply_folder_states(session, account.id, states, expected)
        tracked = [(a.track, r) for a, r in zip(alerts, queued, strict=True) if a.track]
        live_alerts.record(session, account.id, tracked)  # type: ignore[arg-type]
        session.commit()


def enqueue_archived(
    engine: Engine,
    account: Account,
    alerts: Iterable[Alert],
    up_to: int,
    extra: Iterable[SQLModel] = (),
    *,
    expected: int,
) -> None:
    """POP3: queue the alerts (and `extra` rows: digest lines) and mark the account's
    archive rows up to id `up_to` announced, atomically; compare-and-set: unless exactly
    `expected` rows were still unannounced (what the caller read), nothing is written and
    repo.StateMovedError is raised, so a second writer (a process taking the shard over)
    that read the same rows cannot announce them again."""
    with _session(engine) as session:
        marked = session.exec(  # type: ignore[call-overload]
            update(ArchivedMessage)
            .where(
                col(ArchivedMessage.account_id) == account.id,
                col(ArchivedMessage.id) <= up_to,
                col(ArchivedMessage.announced).is_(False),
            )
            .values(announced=True)
        )
        if marked.rowcount != expected:
            session.rollback()
            raise repo.StateMovedError(f"archive: {marked.rowcount} of {expected} unannounced")
        session.add_all(rows(account, alerts))
        session.add_all(extra)
        session.commit()


def _not_held() -> Any:
    """A row waits while Discord refuses its channel: a routing rule's alerts while the
    rule's channel is marked broken; other rows in the account's alert channel while that
    channel is (rows elsewhere, a status board in another channel, do not wait)."""
    return or_(
        and_(
            col(OutboxAlert.rule_id).is_(None),
            or_(
                col(Account.channel_broken).is_(None),
                col(OutboxAlert.channel_id) != col(Account.channel_id),
            ),
        ),
        and_(col(OutboxAlert.rule_id).is_not(None), col(RoutingRule.channel_broken).is_(None)),
    )


def _with_owners(query: Any) -> Any:
    return query.join(Account, col(Account.id) == col(OutboxAlert.account_id)).join(
        RoutingRule, col(RoutingRule.id) == col(OutboxAlert.rule_id), isouter=True
    )


def _of_shards(query: Any, shards: ShardSet) -> Any:
    """Only the rows of accounts whose guild is on these shards: each process sends its
    own shards' alerts, so several processes never send one alert twice."""
    clause = shards.clause(col(Account.guild_id))
    return query if clause is None else query.where(clause)


def _behind(waiting: Any) -> Any:
    """An earlier row of the same channel is unsent and matches `waiting`: order within a
    channel holds, so a row never overtakes one postponed after a 429 or a failure."""
    earlier = aliased(OutboxAlert)
    return (
        select(earlier.id)
        .where(
            earlier.channel_id == OutboxAlert.channel_id,
            col(earlier.sent_at).is_(None),
            earlier.id < OutboxAlert.id,
            waiting(earlier),
        )
        .exists()
    )


def due(
    engine: Engine,
    now: datetime,
    limit: int = 200,
    shards: ShardSet = ALL_SHARDS,
    skip_channels: frozenset[int] = frozenset(),
) -> list[OutboxAlert]:
    """Pending alerts whose time has come, oldest first, skipping broken channels, rows
    behind a postponed one of their channel, and `skip_channels` (those the sender is
    busy with: their rows come in order once it is done)."""
    query = (
        _with_owners(select(OutboxAlert))
        .where(
            col(OutboxAlert.sent_at).is_(None),
            col(OutboxAlert.next_attempt_at) <= now,
            _not_held(),
            ~_behind(lambda earlier: earlier.next_attempt_at > now),
        )
        .order_by(col(OutboxAlert.id))
        .limit(limit)
    )
    if skip_channels:
        query = query.where(col(OutboxAlert.channel_id).not_in(sorted(skip_channels)))
    with _session(engine) as session:
        return list(session.exec(_of_shards(query, shards)).all())


# Built once: the sender asks this every minute, and an empty outbox should cost it one
# indexed lookup, not the construction of the due() and next_due_at() queries.
_ANY_UNSENT = select(OutboxAlert.id).where(col(OutboxAlert.sent_at).is_(None)).limit(1)


def any_unsent(engine: Engine) -> bool:
    """Some row of any shard waits to be sent (or held): worth asking due() about."""
    with engine.connect() as connection:
        return connection.execute(_ANY_UNSENT).first() is not None


def next_due_at(engine: Engine, shards: ShardSet = ALL_SHARDS) -> datetime | None:
    query = (
        _with_owners(select(OutboxAlert.next_attempt_at))
        .where(
            col(OutboxAlert.sent_at).is_(None),
            _not_held(),
            ~_behind(lambda earlier: true()),  # a channel's first waiting row decides
        )
        .order_by(col(OutboxAlert.next_attempt_at))
        .limit(1)
    )
    with _session(engine) as session:
        return session.exec(_of_shards(query, shards)).first()


def mark_sent(
    engine: Engine, alert_id: int, message_id: int | None = None, posted_in: int | None = None
) -> None:
    """Settled: sent (with the Discord message it made, in channel `posted_in`) or dropped
    (no message)."""
    with _session(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(OutboxAlert)
            .where(col(OutboxAlert.id) == alert_id)
            .values(sent_at=utcnow(), message_id=message_id)
        )
        live_alerts.set_message(session, alert_id, message_id, posted_in)  # a live alert's post
        session.commit()


def postpone(engine: Engine, alert_id: int, delay: timedelta) -> None:
    with _session(engine) as session:
        row = session.get(OutboxAlert, alert_id)
        if row is not None:
            row.attempts += 1
            row.next_attempt_at = utcnow() + delay
            session.add(row)
            session.commit()


def mark_channel_broken(
    engine: Engine, account_id: int, reason: str, channel_id: int | None = None
) -> None:
    """Hold the account's alerts: Discord refused `channel_id`, if that is still the
    account's channel (a /mail edit channel: meanwhile moved them somewhere that works)."""
    with _session(engine) as session:
        account = session.get(Account, account_id)
        if account is not None and channel_id in (None, account.channel_id):
            account.channel_broken = reason[:300]
            session.add(account)
            session.commit()


SENT_KEPT = timedelta(days=7)  # as long as a live alert (SPEC section 8) may be edited


def prune_sent(engine: Engine, now: datetime, kept: timedelta = SENT_KEPT) -> int:
    """Delete rows sent (or dropped) longer ago than `kept`, except a live alert's post,
    whose embed its edits start from (live_alerts prunes those after 7 days). A board
    edits its message every interval through a new row, so without this the table grows
    without bound. Returns how many went."""
    referenced = select(LiveAlert.outbox_id)
    with _session(engine) as session:
        result = session.exec(  # type: ignore[call-overload]
            delete(OutboxAlert).where(
                col(OutboxAlert.sent_at).is_not(None),
                col(OutboxAlert.sent_at) < now - kept,
                col(OutboxAlert.id).not_in(referenced),
            )
        )
        session.commit()
        return int(result.rowcount or 0)


def still_waiting(engine: Engine, alert_id: int, channel_id: int) -> bool:
    """The row is unsent, still there and still for `channel_id`: a /mail remove or
    /mail edit channel: since the sender read it has not settled or moved it."""
    with _session(engine) as session:
        row = session.get(OutboxAlert, alert_id)
        return row is not None and row.sent_at is None and row.channel_id == channel_id


def mark_rule_channel_broken(engine: Engine, rule_id: int, reason: str) -> None:
    with _session(engine) as session:
        rule = session.get(RoutingRule, rule_id)
        if rule is not None:
            rule.channel_broken = reason[:300]
            session.add(rule)
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
