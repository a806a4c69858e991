"""Account health and quota state, each change written in one transaction with the notice
it calls for (trouble, recovered, quota warning). A crash therefore either keeps both the
state and its outbox row or neither: the notice is posted exactly once either way."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from storage import outbox
from storage.models import Account, AccountHealth, QuotaSample, utcnow
from storage.outbox import Alert

SAMPLE_EVERY = timedelta(minutes=10)
SAMPLE_KEEP = timedelta(days=30)

QuotaHistory = list[tuple[datetime, int]]


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def _commit(session: Session) -> None:
    """The one commit of each function here (crash tests stop the process around it)."""
    session.commit()


def record_success(
    engine: Engine, account_id: int, recovered: Callable[[int], Alert]
) -> int | None:
    """Stamp a good poll. If the account had been reported in trouble, queue the
    `recovered(failures)` notice in the same transaction and return the failure count."""
    with _session(engine) as session:
        health = session.get(AccountHealth, account_id)
        account = session.get(Account, account_id)
        if health is None or account is None:  # removed while this poll ran
            return None
        failures = health.consecutive_failures if health.trouble_notified else None
        now = utcnow()
        health.last_poll_at = health.last_success_at = now
        health.consecutive_failures = 0
        health.last_error = health.last_error_kind = None
        health.trouble_notified = False
        session.add(health)
        if failures is not None:
            session.add_all(outbox.rows(account, [recovered(failures)]))
        _commit(session)
        return failures


def record_failure(
    engine: Engine,
    account_id: int,
    kind: str,
    error: str,
    warn_after: int,
    trouble: Callable[[int], Alert],
) -> AccountHealth:
    """Count a failed poll; at the `warn_after`-th in a row queue the `trouble(failures)`
    warning once per streak, with its flag, in the same transaction."""
    with _session(engine) as session:
        health = session.get(AccountHealth, account_id)
        account = session.get(Account, account_id)
        if health is None or account is None:  # removed while this poll ran: nothing to count
            return AccountHealth(account_id=account_id)
        health.last_poll_at = utcnow()
        health.consecutive_failures += 1
        health.last_error = error[:500]
        health.last_error_kind = kind
        if health.consecutive_failures >= warn_after and not health.trouble_notified:
            session.add_all(outbox.rows(account, [trouble(health.consecutive_failures)]))
            health.trouble_notified = True
        session.add(health)
        _commit(session)
        return health


def record_reauth_needed(
    engine: Engine, account_id: int, error: str, trouble: Callable[[int], Alert]
) -> bool:
    """The provider refused the refresh token: flag the account (polls stop until
    /mail reauth) and queue one trouble warning with its flag, in one transaction.
    False if the account is gone or already flagged."""
    with _session(engine) as session:
        health = session.get(AccountHealth, account_id)
        account = session.get(Account, account_id)
        if health is None or account is None or account.needs_reauth:
            return False
        account.needs_reauth = True
        health.last_poll_at = utcnow()
        health.consecutive_failures += 1
        health.last_error = error[:500]
        health.last_error_kind = "reauth"
        if not health.trouble_notified:
            session.add_all(outbox.rows(account, [trouble(health.consecutive_failures)]))
            health.trouble_notified = True
        session.add_all([account, health])
        _commit(session)
        return True


def record_quota(
    engine: Engine,
    account_id: int,
    usage: int | None,
    limit: int | None,
    level: int,
    warning: Callable[[QuotaHistory], Alert] | None = None,
) -> bool:
    """Stamp a quota read, store the warned `level` and a usage sample (at most one per 10
    minutes, always one with a warning), and queue `warning(history)` with them. `usage`
    None: the server reported no limit, only the read time is stored. False if the account
    is gone."""
    now = utcnow()
    with _session(engine) as session:
        account = session.get(Account, account_id)
        health = session.get(AccountHealth, account_id)
        if account is None or health is None:
            return False
        health.quota_read_at = now
        session.add(health)
        if usage is not None and limit is not None:
            if account.quota_level != level:
                account.quota_level = level
                session.add(account)
            last = session.exec(
                select(QuotaSample)
                .where(QuotaSample.account_id == account_id)
                .order_by(col(QuotaSample.at).desc())
                .limit(1)
            ).first()
            if last is None or now - last.at >= SAMPLE_EVERY or warning is not None:
                session.add(QuotaSample(account_id=account_id, at=now, usage=usage, limit=limit))
            session.exec(  # type: ignore[call-overload]
                delete(QuotaSample).where(
                    col(QuotaSample.account_id) == account_id,
                    col(QuotaSample.at) < now - SAMPLE_KEEP,
                )
            )
            if warning is not None:
                session.flush()
                history = [
                    (at, used)
                    for at, used in session.exec(
                        select(QuotaSample.at, QuotaSample.usage)
                        .where(QuotaSample.account_id == account_id)
                        .order_by(col(QuotaSample.at))
                    ).all()
                ]
                session.add_all(outbox.rows(account, [warning(history)]))
        _commit(session)
        return True
