"""Messages waiting for an hourly or daily digest. A message becomes a waiting row in the
transaction that passes it (IMAP UIDs, POP3 "announced"); a digest turns all waiting rows
of an account into one outbox alert in the transaction that deletes them, so a crash or a
restart neither loses nor repeats one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select

from mail.types import NewMessage
from storage import outbox
from storage.models import Account, DigestItem
from storage.shards import ALL_SHARDS, ShardSet

# (account, newest waiting messages, how many wait in all) -> the alerts to queue
DigestBuilder = Callable[[Account, list[NewMessage], int], list[outbox.Alert]]


def rows(account_id: int, messages: Iterable[NewMessage]) -> list[DigestItem]:
    return [
        DigestItem(
            account_id=account_id,
            folder=m.folder[:1000],
            uid=m.uid,
            sender=m.sender[:1000],
            subject=m.subject[:1000],
            sent_at=m.date,
        )
        for m in messages
    ]


def flush(engine: Engine, account_id: int, build: DigestBuilder, newest: int = 20) -> int | None:
    """Take every waiting row of the account (DELETE ... RETURNING: exactly the rows this
    digest lists, even with a poll adding more meanwhile) and queue the digest built from
    the newest `newest`, in one transaction. Returns how many messages it listed; 0 (and
    nothing queued) when none waited; None when the account is gone."""
    with Session(engine, expire_on_commit=False) as session:
        account = session.get(Account, account_id)
        if account is None:
            return None
        taken = session.execute(
            delete(DigestItem)
            .where(col(DigestItem.account_id) == account_id)
            .returning(
                DigestItem.id,
                DigestItem.folder,
                DigestItem.uid,
                DigestItem.sender,
                DigestItem.subject,
                DigestItem.sent_at,
            )
        ).all()
        if not taken:
            session.rollback()
            return 0
        latest = sorted(taken, key=lambda r: r.id, reverse=True)[:newest]
        messages = [
            NewMessage(r.folder, r.uid, r.subject, r.sender, _aware(r.sent_at), snippet="")
            for r in reversed(latest)
        ]
        session.add_all(outbox.rows(account, build(account, messages, len(taken))))
        session.commit()
        return len(taken)


def digest_accounts(engine: Engine, shards: ShardSet = ALL_SHARDS) -> list[Account]:
    """Accounts whose new mail waits for hourly or daily digests, of a guild on one of this
    process's shards (another process posts the others' digests)."""
    query = select(Account).where(col(Account.delivery).in_(("hourly", "daily")))
    clause = shards.clause(col(Account.guild_id))
    if clause is not None:
        query = query.where(clause)
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(query))


def _aware(when: datetime | None) -> datetime | None:
    """SQLite gives stored times back without their zone; they were written in UTC."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def oldest_waiting(engine: Engine, account_id: int) -> datetime | None:
    with Session(engine) as session:
        return _aware(
            session.exec(
                select(func.min(DigestItem.created_at)).where(DigestItem.account_id == account_id)
            ).one()
        )


def waiting_count(engine: Engine, account_id: int) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(DigestItem).where(DigestItem.account_id == account_id)
        ).one()
