"""Where a reply's headers come from (SPEC section 13): the alert's outbox row keeps them
(payload "view" -> "reply", watch/reply_source.py) for as long as sent rows are kept
(storage/outbox.SENT_KEPT)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from storage.models import OutboxAlert, ThreadLink

SCANNED = 200  # newest alerts of the account looked at for a conversation's newest mail


def _reply_of(row: OutboxAlert) -> dict[str, Any] | None:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        return None
    view = payload.get("view") if isinstance(payload, dict) else None
    reply = view.get("reply") if isinstance(view, dict) else None
    return reply if isinstance(reply, dict) else None


def of_alert(engine: Engine, outbox_id: int) -> tuple[int, dict[str, Any]] | None:
    """(account id, reply headers) of the alert posted by outbox row `outbox_id`."""
    with Session(engine) as session:
        row = session.get(OutboxAlert, outbox_id)
        if row is None:
            return None
        reply = _reply_of(row)
        return (row.account_id, reply) if reply is not None else None


def newest_in_thread(engine: Engine, thread_id: int) -> tuple[int, int, dict[str, Any]] | None:
    """(account id, outbox id, reply headers) of the newest mail announced in the
    conversation whose thread (or forum post) is `thread_id`, or None."""
    with Session(engine) as session:
        links = session.exec(
            select(ThreadLink).where(
                or_(
                    col(ThreadLink.thread_id) == thread_id,
                    col(ThreadLink.root_message_id) == thread_id,
                )
            )
        ).all()
        if not links:
            return None
        refs = {link.message_ref for link in links}
        account_id = links[0].account_id
        rows = session.exec(
            select(OutboxAlert)
            .where(
                col(OutboxAlert.account_id) == account_id,
                col(OutboxAlert.sent_at).is_not(None),
                col(OutboxAlert.payload).contains('"reply"'),
            )
            .order_by(col(OutboxAlert.id).desc())
            .limit(SCANNED)
        ).all()
        for row in rows:
            reply = _reply_of(row)
            if reply is not None and reply.get("id") in refs:
                return account_id, row.id, reply  # type: ignore[return-value]
        return None


def mark_replied(engine: Engine, message_id: int, name: str, line: str) -> bool:
    """Add the "Replied by" field to the embed kept in the alert's outbox row, the one
    later edits of a live alert start from, so they keep it. False: already there, or no
    such alert."""
    with Session(engine) as session:
        row = session.exec(
            select(OutboxAlert).where(col(OutboxAlert.message_id) == message_id)
        ).first()
        if row is None:
            return False
        payload = json.loads(row.payload)
        fields = payload.setdefault("embed", {}).setdefault("fields", [])
        if any(f.get("value") == line for f in fields):
            return False
        fields.append({"name": name, "value": line, "inline": False})
        row.payload = json.dumps(payload)
        session.add(row)
        session.commit()
        return True
