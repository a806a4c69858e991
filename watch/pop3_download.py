"""One POP3 poll into the archive: the engine drives mail.pop3 and hands each batch to
storage.archive, which commits it before the server is ever asked to delete anything."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from mail import pop3
from mail.types import ServerConfig
from storage import archive
from storage.models import utcnow


def download(
    engine: Engine,
    account_id: int,
    cfg: ServerConfig,
    retention: archive.Retention,
    allow_private: bool,
    now: datetime | None = None,
) -> pop3.Pop3Poll:
    """Blocking. `now` is evaluated per poll for days:N."""
    at = now or utcnow()
    result = pop3.poll(
        cfg,
        known_uidls=lambda uidls: archive.known_uidls(engine, account_id, uidls),
        store=lambda batch: archive.store_packed(engine, account_id, batch),
        deletable=lambda on_server: archive.deletable(engine, account_id, on_server, retention, at),
        allow_private=allow_private,
        prepare=archive.packer(),
    )
    if result.deleted:
        archive.mark_deleted(engine, account_id, result.deleted, at)
    return result
