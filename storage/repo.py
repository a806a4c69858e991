"""One function per use case; each opens its own short Session. All are blocking:
async callers go through asyncio.to_thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from mail.types import FolderBaseline, FolderState
from storage import archive, guild_language
from storage.models import (
    Account,
    AccountHealth,
    FolderStateRow,
    OutboxAlert,
    utcnow,
)
from storage.shards import ALL_SHARDS, ShardSet


class DuplicateAccountError(ValueError):
    pass


@dataclass(frozen=True)
class NewAccount:
    guild_id: int
    channel_id: int
    name: str
    protocol: str
    host: str
    port: int
    security: str
    username: str
    password_encrypted: str
    folders: tuple[str, ...]
    interval_minutes: int
    created_by: int
    auth: str = "password"
    oauth_provider: str | None = None


@dataclass(frozen=True)
class AccountOverview:
    account: Account
    health: AccountHealth | None


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def account_row(new: NewAccount) -> Account:
    """The Account row a NewAccount becomes (not yet added to any session)."""
    return Account(
        guild_id=new.guild_id,
        channel_id=new.channel_id,
        name=new.name,
        protocol=new.protocol,
        host=new.host,
        port=new.port,
        security=new.security,
        username=new.username,
        password_encrypted=new.password_encrypted,
        folders="\n".join(new.folders),
        interval_minutes=new.interval_minutes,
        created_by=new.created_by,
        auth=new.auth,
        oauth_provider=new.oauth_provider,
    )


def create_account(
    engine: Engine,
    new: NewAccount,
    baselines: Iterable[FolderBaseline] = (),
    pop3_uidls: Iterable[str] = (),
) -> Account:
    """Account, its IMAP folder baselines or POP3 UIDL baseline, and its health row, in one
    transaction."""
    account = account_row(new)
    with _session(engine) as session:
        try:
            session.add(account)
            session.flush()
            for b in baselines:
                session.add(
                    FolderStateRow(
                        account_id=account.id,
                        folder=b.folder,
                        uidvalidity=b.state.uidvalidity,
                        highest_uid=b.state.highest_uid,
                    )
                )
            session.add_all(archive.baseline_rows(account.id, pop3_uidls))
            session.add(AccountHealth(account_id=account.id, last_success_at=utcnow()))
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise DuplicateAccountError(new.name) from exc
    return account


def account_name_taken(engine: Engine, guild_id: int, name: str) -> bool:
    return find_account(engine, guild_id, name) is not None


def count_accounts(engine: Engine, guild_id: int) -> int:
    with _session(engine) as session:
        return session.exec(
            select(func.count()).select_from(Account).where(Account.guild_id == guild_id)
        ).one()


def find_account(engine: Engine, guild_id: int, name: str) -> Account | None:
    """The guild's account by name; another guild's account is simply not found."""
    with _session(engine) as session:
        return session.exec(
            select(Account).where(Account.guild_id == guild_id, Account.name == name)
        ).first()


def get_account(engine: Engine, account_id: int) -> Account | None:
    with _session(engine) as session:
        return session.get(Account, account_id)


def list_accounts(engine: Engine, guild_id: int) -> list[AccountOverview]:
    with _session(engine) as session:
        rows = session.exec(
            select(Account, AccountHealth)
            .join(AccountHealth, col(AccountHealth.account_id) == col(Account.id), isouter=True)
            .where(Account.guild_id == guild_id)
            .order_by(col(Account.name))
        ).all()
        return [AccountOverview(account=a, health=h) for a, h in rows]


def account_names(engine: Engine, guild_id: int, typed: str, limit: int = 25) -> list[str]:
    with _session(engine) as session:
        query = select(Account.name).where(Account.guild_id == guild_id)
        if typed:
            query = query.where(col(Account.name).icontains(typed, autoescape=True))
        return list(session.exec(query.order_by(col(Account.name)).limit(limit)).all())


def active_accounts(engine: Engine, shards: ShardSet = ALL_SHARDS) -> list[Account]:
    """Accounts to watch: not paused, not waiting for /mail reauth, and of a guild on
    one of this process's shards."""
    query = select(Account).where(
        col(Account.paused).is_(False), col(Account.needs_reauth).is_(False)
    )
    clause = shards.clause(col(Account.guild_id))
    if clause is not None:
        query = query.where(clause)
    with _session(engine) as session:
        return list(session.exec(query).all())


def secret_of(engine: Engine, account_id: int) -> str | None:
    """The stored (encrypted) password or token set, as it is now."""
    with _session(engine) as session:
        return session.exec(
            select(Account.password_encrypted).where(Account.id == account_id)
        ).first()


def replace_secret(engine: Engine, account_id: int, old: str, new: str) -> bool:
    """Store refreshed tokens (access and rotated refresh token together, one row, one
    transaction), unless the secret changed meanwhile (a /mail reauth, a key rotation)."""
    with _session(engine) as session:
        result = session.exec(  # type: ignore[call-overload]
            update(Account)
            .where(col(Account.id) == account_id, col(Account.password_encrypted) == old)
            .values(password_encrypted=new)
        )
        session.commit()
        return bool(result.rowcount)


def folder_states(engine: Engine, account_id: int) -> dict[str, FolderState]:
    with _session(engine) as session:
        rows = session.exec(
            select(FolderStateRow).where(FolderStateRow.account_id == account_id)
        ).all()
        return {
            r.folder: FolderState(uidvalidity=r.uidvalidity, highest_uid=r.highest_uid)
            for r in rows
        }


class StateMovedError(Exception):
    """A folder's stored state (IMAP) or the unannounced archive rows (POP3) are not what
    the poll started from: someone else (a second process that took the shard over, a
    /mail edit of the folders) wrote them."""


def apply_folder_states(
    session: Session,
    account_id: int,
    states: Mapping[str, FolderState],
    expected: Mapping[str, FolderState] | None = None,
) -> None:
    """Write each folder's (UIDVALIDITY, highest UID) into the caller's transaction. With
    `expected` (what the poll read before it ran), a compare-and-set: the rows are locked
    (PostgreSQL: FOR UPDATE; SQLite has one writer anyway) and StateMovedError raised if
    any changed meanwhile, so two writers cannot both queue the same new mail."""
    rows = {
        r.folder: r
        for r in session.exec(
            select(FolderStateRow).where(FolderStateRow.account_id == account_id).with_for_update()
        ).all()
    }
    if expected is not None:
        for folder in states:
            row, before = rows.get(folder), expected.get(folder)
            now = None if row is None else (row.uidvalidity, row.highest_uid)
            if now != (None if before is None else (before.uidvalidity, before.highest_uid)):
                raise StateMovedError(folder)
    for folder, state in states.items():
        row = rows.get(folder) or FolderStateRow(
            account_id=account_id, folder=folder, uidvalidity=0, highest_uid=0
        )
        row.uidvalidity = state.uidvalidity
        row.highest_uid = state.highest_uid
        row.updated_at = utcnow()
        session.add(row)


def update_account(
    engine: Engine,
    account_id: int,
    changes: Mapping[str, object],
    new_folders: Iterable[FolderBaseline] = (),
    dropped_folders: Iterable[str] = (),
) -> Account | None:
    """Apply settings and folder changes in one transaction; None if the account is gone."""
    with _session(engine) as session:
        account = session.get(Account, account_id)
        if account is None:
            return None
        for field_name, value in changes.items():
            setattr(account, field_name, value)
        if "channel_id" in changes:  # pending alerts follow the account to its new channel
            session.exec(  # type: ignore[call-overload]
                update(OutboxAlert)
                .where(
                    OutboxAlert.account_id == account_id,
                    col(OutboxAlert.sent_at).is_(None),
                    col(OutboxAlert.rule_id).is_(None),  # a routing rule's channel stays
                    OutboxAlert.kind == "post",  # a board or an edit stays where its message is
                )
                .values(channel_id=changes["channel_id"])
            )
        account.updated_at = utcnow()
        session.add(account)
        dropped = list(dropped_folders)
        if dropped:
            for row in session.exec(
                select(FolderStateRow).where(
                    FolderStateRow.account_id == account_id, col(FolderStateRow.folder).in_(dropped)
                )
            ).all():
                session.delete(row)
        for b in new_folders:
            session.add(
                FolderStateRow(
                    account_id=account_id,
                    folder=b.folder,
                    uidvalidity=b.state.uidvalidity,
                    highest_uid=b.state.highest_uid,
                )
            )
        session.commit()
        return account


T = TypeVar("T")
_DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected


def _retrying_deadlocks(delete: Callable[[], T], attempts: int = 3) -> T:
    """Run `delete` again when PostgreSQL chose it as a deadlock's victim. Deleting an
    account cascades to rows a poll may be writing at that moment (its health, in the
    opposite lock order), and PostgreSQL aborts one of the two; the poll's write is
    retried by the next poll, a removal must be retried here."""
    for attempt in range(attempts - 1):
        try:
            return delete()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _DEADLOCK:
                raise
            time.sleep(0.05 * (attempt + 1))
    return delete()  # the last try: whatever it raises goes to the caller


def delete_account(engine: Engine, account_id: int) -> bool:
    """The account and everything hanging off it (state, health, archive, outbox, secret)."""
    return _retrying_deadlocks(lambda: _delete_account(engine, account_id))


def _delete_account(engine: Engine, account_id: int) -> bool:
    with _session(engine) as session:
        account = session.get(Account, account_id)
        if account is None:
            return False
        session.delete(account)
        session.commit()
        return True


def delete_guild(engine: Engine, guild_id: int) -> list[int]:
    """Every account of a guild the bot left, with their secrets; returns their ids."""
    return _retrying_deadlocks(lambda: _delete_guild(engine, guild_id))


def _delete_guild(engine: Engine, guild_id: int) -> list[int]:
    with _session(engine) as session:
        accounts = session.exec(select(Account).where(Account.guild_id == guild_id)).all()
        ids = [a.id for a in accounts if a.id is not None]
        for account in accounts:
            session.delete(account)
        guild_language.forget(session, guild_id)
        session.commit()
        return ids
