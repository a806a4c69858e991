"""An account paused by the bot itself (not by /mail pause), with the notice that says
why, in one transaction: the pause and its notice are stored together or not at all."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session

from storage import outbox
from storage.models import Account, AccountHealth, utcnow
from storage.outbox import Alert


def pause_with_notice(
    engine: Engine, account_id: int, kind: str, error: str, notice: Callable[[], Alert]
) -> bool:
    """Pause the account, record `error` as its last error and queue `notice()` once.
    False (nothing written) if it is gone or paused already."""
    with Session(engine, expire_on_commit=False) as session:
        account = session.get(Account, account_id)
        if account is None or account.paused:
            return False
        health = session.get(AccountHealth, account_id) or AccountHealth(account_id=account_id)
        account.paused = True
        health.last_poll_at = utcnow()
        health.last_error = error[:500]
        health.last_error_kind = kind
        session.add_all([account, health, *outbox.rows(account, [notice()])])
        session.commit()
        return True
