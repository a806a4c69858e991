"""Message-ID -> Discord conversation links for accounts with threads on (SPEC section 8).

A link says: the mail with this Message-ID was announced in this channel, in the
conversation whose first alert (text channel) or forum post is `root_message_id`, and whose
thread is `thread_id` once one exists. Links are written in the transaction that marks the
alert's outbox row sent, so a reply sent after its parent always finds it (the sender keeps
order per channel), and are kept KEEP_DAYS: older rows are deleted on every write and never
matched meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from storage import live_alerts
from storage.models import OutboxAlert, ThreadLink, utcnow

KEEP_DAYS = 90
MAX_REF = 300  # longer Message-IDs are not linked (the column's width)


@dataclass(frozen=True)
class Placed:
    """Where a threaded alert landed: its channel, its conversation's root and thread,
    and the conversation's thread name. `replaced_root`: the conversation's earlier root,
    whose thread or message was gone; its links move to this one."""

    channel_id: int
    root_message_id: int
    thread_id: int | None
    title: str | None
    replaced_root: int | None = None
    # The channel the alert's message itself is in: the thread for a reply or a forum
    # post, else channel_id (where a live alert's edits must go).
    posted_in: int | None = None


def _cutoff(now: datetime) -> datetime:
    return now - timedelta(days=KEEP_DAYS)


def find(
    engine: Engine,
    account_id: int,
    channel_id: int,
    parents: Sequence[str],
    now: datetime | None = None,
) -> ThreadLink | None:
    """The link of the first of `parents` (the nearest first: In-Reply-To, then References
    newest to oldest) announced in this channel by this account within KEEP_DAYS."""
    wanted = [p for p in parents if p and len(p) <= MAX_REF]
    if not wanted:
        return None
    with Session(engine, expire_on_commit=False) as session:
        found = session.exec(
            select(ThreadLink).where(
                ThreadLink.account_id == account_id,
                ThreadLink.channel_id == channel_id,
                col(ThreadLink.message_ref).in_(wanted),
                col(ThreadLink.created_at) >= _cutoff(now or utcnow()),
            )
        ).all()
    by_ref = {link.message_ref: link for link in found}
    return next((by_ref[p] for p in wanted if p in by_ref), None)


def set_thread(
    engine: Engine, account_id: int, channel_id: int, root_message_id: int, thread_id: int
) -> None:
    """A thread was started on a conversation's first alert: every link of it learns the
    thread (written at once, so a retry after a failed post does not start another)."""
    with Session(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(ThreadLink)
            .where(
                col(ThreadLink.account_id) == account_id,
                col(ThreadLink.channel_id) == channel_id,
                col(ThreadLink.root_message_id) == root_message_id,
            )
            .values(thread_id=thread_id)
        )
        session.commit()


def mark_sent(
    engine: Engine,
    alert: OutboxAlert,
    message_id: int,
    refs: Sequence[str],
    placed: Placed,
    now: datetime | None = None,
) -> None:
    """Mark the alert sent and link the Message-ID(s) it announced, in one transaction;
    prune links older than KEEP_DAYS. A Message-ID already linked here keeps its first
    link (the same mail announced from two folders)."""
    now = now or utcnow()
    with Session(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(OutboxAlert)
            .where(col(OutboxAlert.id) == alert.id)
            .values(sent_at=now, message_id=message_id)
        )
        live_alerts.set_message(session, alert.id, message_id, placed.posted_in)  # type: ignore[arg-type]
        session.exec(delete(ThreadLink).where(col(ThreadLink.created_at) < _cutoff(now)))  # type: ignore[call-overload]
        if placed.replaced_root is not None:
            session.exec(  # type: ignore[call-overload]
                update(ThreadLink)
                .where(
                    col(ThreadLink.account_id) == alert.account_id,
                    col(ThreadLink.channel_id) == placed.channel_id,
                    col(ThreadLink.root_message_id) == placed.replaced_root,
                )
                .values(
                    root_message_id=placed.root_message_id,
                    thread_id=placed.thread_id,
                    title=placed.title,
                )
            )
        wanted = list(dict.fromkeys(r for r in refs if r and len(r) <= MAX_REF))
        present = set(
            session.exec(
                select(ThreadLink.message_ref).where(
                    ThreadLink.account_id == alert.account_id,
                    ThreadLink.channel_id == placed.channel_id,
                    col(ThreadLink.message_ref).in_(wanted),
                )
            ).all()
        )
        session.add_all(
            ThreadLink(
                account_id=alert.account_id,
                channel_id=placed.channel_id,
                message_ref=ref,
                root_message_id=placed.root_message_id,
                thread_id=placed.thread_id,
                title=placed.title,
                created_at=now,
            )
            for ref in wanted
            if ref not in present
        )
        session.commit()


def links(engine: Engine, account_id: int) -> list[ThreadLink]:
    """Every link of an account, oldest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.exec(
                select(ThreadLink)
                .where(ThreadLink.account_id == account_id)
                .order_by(col(ThreadLink.id))
            ).all()
        )
