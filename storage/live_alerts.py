"""Live alerts (SPEC section 8): new-mail alerts with action buttons, followed both ways.

A live alert is written with its outbox row (same transaction), learns its Discord message
id when the outbox sends the post (outbox.mark_sent), and changes state when a member
presses a button or a two-way check sees the message read, flagged, moved or deleted in
another mail client. Each change that the alert must show queues one outbox row of kind
"edit" (rendered when sent, from the state then), in the transaction that stores it.

Limits: the newest 500 per account (older ones are dropped when new ones are written) and
none older than 7 days (no longer checked, and their buttons answer that they expired)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from mail.changes import MessageFlags
from storage.models import Account, FolderStateRow, LiveAlert, OutboxAlert, utcnow

MAX_PER_ACCOUNT = 500
LIVE_FOR = timedelta(days=7)
EDIT = "edit"  # the outbox kind of an alert edit (cogs/_deliveries.AlertEdit)
PRESENT, MOVED, GONE = "present", "moved", "gone"


@dataclass(frozen=True)
class Track:
    """What a new alert's buttons act on; flags as read in the poll (None: not read)."""

    folder_key: int
    uidvalidity: int
    uid: int
    flags: MessageFlags | None = None


@dataclass
class TrackedFolder:
    """One folder's live alerts as a two-way check needs them."""

    key: int
    folder: str
    uidvalidity: int  # the folder's, as stored
    highest_modseq: int | None
    alerts: dict[int, tuple[int, MessageFlags | None]] = field(default_factory=dict)  # uid ->
    stale: list[int] = field(default_factory=list)  # live ids of an older UIDVALIDITY


@dataclass(frozen=True)
class Change:
    """A new state for a live alert (None: keep the stored value)."""

    live_id: int
    flags: MessageFlags | None = None
    state: str | None = None
    event: str | None = None
    event_by: int | None = None
    edit: bool = True  # False: the alert shows the same as before (nothing to edit)


@dataclass(frozen=True)
class Pressed:
    """What a press needs to check and render, read in one go."""

    account: Account | None
    live: LiveAlert | None
    folder: FolderStateRow | None
    embed: dict | None


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def flags_of(live: LiveAlert) -> MessageFlags | None:
    if live.seen is None:
        return None
    return MessageFlags(bool(live.seen), bool(live.flagged), bool(live.deleted))


def folder_keys(engine: Engine, account_id: int) -> dict[str, int]:
    with _session(engine) as session:
        rows = session.exec(
            select(FolderStateRow.folder, FolderStateRow.id).where(
                FolderStateRow.account_id == account_id
            )
        ).all()
        return {folder: key for folder, key in rows if key is not None}


def record(session: Session, account_id: int, pairs: Sequence[tuple[Track, OutboxAlert]]) -> None:
    """Inside the transaction that queues the alerts: one live alert per tracked row, and
    the account's oldest dropped beyond MAX_PER_ACCOUNT or LIVE_FOR."""
    if not pairs:
        return
    session.flush()  # the outbox rows' ids
    for track, row in pairs:
        flags = track.flags
        session.add(
            LiveAlert(
                account_id=account_id,
                folder_id=track.folder_key,
                uidvalidity=track.uidvalidity,
                uid=track.uid,
                outbox_id=row.id,
                channel_id=row.channel_id,
                seen=None if flags is None else flags.seen,
                flagged=None if flags is None else flags.flagged,
                deleted=None if flags is None else flags.deleted,
            )
        )
    session.flush()
    keep = select(LiveAlert.id).where(
        LiveAlert.account_id == account_id, col(LiveAlert.created_at) >= utcnow() - LIVE_FOR
    )
    newest = keep.order_by(col(LiveAlert.id).desc()).limit(MAX_PER_ACCOUNT)
    kept = set(session.exec(newest).all())
    session.exec(  # type: ignore[call-overload]
        delete(LiveAlert).where(
            col(LiveAlert.account_id) == account_id, col(LiveAlert.id).not_in(kept)
        )
    )


def _live(account_id: int, now: datetime):
    return select(LiveAlert).where(
        LiveAlert.account_id == account_id,
        LiveAlert.state == PRESENT,
        col(LiveAlert.created_at) >= now - LIVE_FOR,
    )


def tracked(engine: Engine, account_id: int, now: datetime | None = None) -> list[TrackedFolder]:
    """The account's live alerts still to follow, per folder (the newest 500). Plain
    columns, not ORM rows: this runs in every poll of an account with actions on."""
    now = now or utcnow()
    columns = (
        LiveAlert.id,
        LiveAlert.folder_id,
        LiveAlert.uidvalidity,
        LiveAlert.uid,
        LiveAlert.seen,
        LiveAlert.flagged,
        LiveAlert.deleted,
    )
    live = (
        select(*columns)
        .where(
            LiveAlert.account_id == account_id,
            LiveAlert.state == PRESENT,
            col(LiveAlert.created_at) >= now - LIVE_FOR,
        )
        .order_by(col(LiveAlert.id).desc())
        .limit(MAX_PER_ACCOUNT)
    )
    with _session(engine) as session:
        rows = session.exec(live).all()
        if not rows:
            return []
        keys = {r[1] for r in rows}
        folders = session.exec(
            select(
                FolderStateRow.id,
                FolderStateRow.folder,
                FolderStateRow.uidvalidity,
                FolderStateRow.highest_modseq,
            ).where(col(FolderStateRow.id).in_(keys))
        ).all()
    out = {key: TrackedFolder(key, name, uv, modseq) for key, name, uv, modseq in folders}
    for live_id, key, uidvalidity, uid, seen, flagged, deleted in rows:
        entry = out.get(key)
        if entry is None:
            continue
        if uidvalidity != entry.uidvalidity:
            entry.stale.append(live_id)
            continue
        flags = None if seen is None else MessageFlags(bool(seen), bool(flagged), bool(deleted))
        entry.alerts[uid] = (live_id, flags)
    return list(out.values())


def apply(
    engine: Engine,
    account_id: int,
    changes: Iterable[Change],
    modseqs: dict[int, int | None] | None = None,
) -> int:
    """Store two-way changes, queue one edit per changed alert (unless one waits already)
    and each checked folder's HIGHESTMODSEQ, in one transaction. Returns edits queued."""
    queued = 0
    with _session(engine) as session:
        for change in changes:
            live = session.get(LiveAlert, change.live_id)
            if live is None or _already(live, change):
                continue
            _set(live, change)
            session.add(live)
            if change.edit:
                queued += _queue_edit(session, live)
        for key, modseq in (modseqs or {}).items():
            session.exec(  # type: ignore[call-overload]
                update(FolderStateRow)
                .where(col(FolderStateRow.id) == key, col(FolderStateRow.account_id) == account_id)
                .values(highest_modseq=modseq)
            )
        session.commit()
    return queued


def _already(live: LiveAlert, change: Change) -> bool:
    """A client change whose flags the store holds already: a press on the alert recorded
    them between the check's read and this write, so the check is stale (without this it
    would turn "Flagged by @member" into "Flagged in another mail client")."""
    flags = change.flags
    return (
        flags is not None
        and (change.event or "").startswith("client:")
        and (live.seen, live.flagged, live.deleted) == (flags.seen, flags.flagged, flags.deleted)
    )


def _set(live: LiveAlert, change: Change) -> None:
    if change.flags is not None:
        live.seen, live.flagged = change.flags.seen, change.flags.flagged
        live.deleted = change.flags.deleted
    if change.state is not None:
        live.state = change.state
    if change.event is not None:
        live.event, live.event_by = change.event, change.event_by


def _queue_edit(session: Session, live: LiveAlert) -> int:
    payload = json.dumps({"alert": live.id})
    waiting = session.exec(
        select(OutboxAlert.id).where(
            OutboxAlert.kind == EDIT,
            col(OutboxAlert.sent_at).is_(None),
            OutboxAlert.payload == payload,
        )
    ).first()
    if waiting is not None:
        return 0  # it renders the state as it is when sent
    session.add(
        OutboxAlert(
            account_id=live.account_id, channel_id=live.channel_id, payload=payload, kind=EDIT
        )
    )
    return 1


def press_context(engine: Engine, account_id: int, message_id: int) -> Pressed:
    """The account, the live alert of this Discord message, its folder and original embed."""
    with _session(engine) as session:
        account = session.get(Account, account_id)
        if account is None:
            return Pressed(None, None, None, None)
        live = session.exec(
            _live(account_id, utcnow()).where(LiveAlert.message_id == message_id)
        ).first()
        if live is None:  # moved/gone ones too: the press is answered with what happened
            live = session.exec(
                select(LiveAlert).where(
                    LiveAlert.account_id == account_id,
                    LiveAlert.message_id == message_id,
                    col(LiveAlert.created_at) >= utcnow() - LIVE_FOR,
                )
            ).first()
        if live is None:
            return Pressed(account, None, None, None)
        folder = session.get(FolderStateRow, live.folder_id)
        original = session.get(OutboxAlert, live.outbox_id)
        embed = json.loads(original.payload)["embed"] if original is not None else None
        return Pressed(account, live, folder, embed)


def pressed(engine: Engine, change: Change) -> LiveAlert | None:
    """A press's outcome (no edit queued: the press edits the alert itself)."""
    with _session(engine) as session:
        live = session.get(LiveAlert, change.live_id)
        if live is None:
            return None
        _set(live, change)
        session.add(live)
        session.commit()
        return live


def for_edit(engine: Engine, live_id: int) -> tuple[LiveAlert, Account, dict] | None:
    """A live alert with its account and original embed, to render an edit or a post."""
    with _session(engine) as session:
        live = session.get(LiveAlert, live_id)
        if live is None:
            return None
        account = session.get(Account, live.account_id)
        original = session.get(OutboxAlert, live.outbox_id)
        if account is None or original is None:
            return None
        return live, account, json.loads(original.payload)["embed"]


def of_outbox(engine: Engine, outbox_id: int) -> int | None:
    with _session(engine) as session:
        return session.exec(select(LiveAlert.id).where(LiveAlert.outbox_id == outbox_id)).first()


def forget(engine: Engine, live_id: int) -> None:
    """The alert was deleted in Discord: nothing left to show or to press."""
    with _session(engine) as session:
        session.exec(delete(LiveAlert).where(col(LiveAlert.id) == live_id))  # type: ignore[call-overload]
        session.commit()


def set_message(
    session: Session, outbox_id: int, message_id: int | None, posted_in: int | None = None
) -> None:
    """Inside the transaction that marks the post sent: the Discord message it made, and
    the channel it is in: `posted_in` (a thread or forum post, storage/thread_links.py),
    else the row's channel (/mail edit channel: may have moved the post while it waited)."""
    if message_id is None:
        return
    channel: Any = posted_in
    if channel is None:
        channel = select(OutboxAlert.channel_id).where(col(OutboxAlert.id) == outbox_id)
        channel = channel.scalar_subquery()
    session.exec(  # type: ignore[call-overload]
        update(LiveAlert)
        .where(col(LiveAlert.outbox_id) == outbox_id)
        .values(message_id=message_id, channel_id=channel)
    )
