"""Key rotation: re-encrypt every stored password with the first MAILSYNC_SECRET_KEY key.

Run it after putting a new key first (`MAILSYNC_SECRET_KEY=new,old`); once it reports no
failures, the old key can be removed. Each account is its own transaction, so an
interrupted run leaves every password readable by the configured keys, and a run can simply
be repeated. A password changed meanwhile (e.g. `/mail password`) is left as the new one.
Nothing here logs or returns a plaintext password."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from storage.crypto import SecretBox, SecretKeyError
from storage.models import Account

log = logging.getLogger(__name__)


def rotate_passwords(engine: Engine, box: SecretBox) -> tuple[int, list[int]]:
    """Re-encrypt each account's password with `box`'s first key, account by account.

    Returns (how many were re-encrypted, ids of the accounts whose password no key of `box`
    can decrypt). Those are left untouched: their owners must set the password again."""
    with Session(engine) as session:
        ids = list(session.exec(select(Account.id).order_by(col(Account.id))).all())
    rotated = 0
    failed: list[int] = []
    for account_id in ids:
        with Session(engine) as session:
            token = session.exec(
                select(Account.password_encrypted).where(Account.id == account_id)
            ).first()
            if token is None:  # removed meanwhile
                continue
            try:
                fresh = box.rotate(token)
            except SecretKeyError:
                failed.append(account_id)
                continue
            # Only if nobody replaced it meanwhile: never overwrite a newer password.
            result = session.exec(
                update(Account)
                .where(col(Account.id) == account_id, col(Account.password_encrypted) == token)
                .values(password_encrypted=fresh)
            )
            session.commit()
            if result.rowcount:
                rotated += 1
    if failed:
        log.warning(
            "key rotation: %d account(s) have a password no configured key decrypts: ids %s",
            len(failed),
            ", ".join(map(str, failed)),
        )
    log.info("key rotation: re-encrypted %d password(s) with the first key", rotated)
    return rotated, failed
