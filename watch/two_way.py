"""Two-way state inside an account's regular poll (SPEC section 8): live alerts whose
message was read, flagged, moved or deleted in another mail client get their alert edited.

Only accounts with actions on and live alerts pay anything. The check runs in the poll's
`work`, on the account's one connection, right after imap.poll (mail/changes.check: with
CONDSTORE one STATUS per unchanged folder, else the FLAGS of the tracked UIDs). The same
check reads the flags of the poll's new messages, so their alerts start with the right
buttons. Between polls, a parked session's sweep asks HIGHESTMODSEQ along with its STATUS
(`modseq_targets`), so a flag change in any watched folder brings a poll at the next tick;
a pushed INBOX reports flag changes by IDLE. Without CONDSTORE a tracked account gets a
full poll at every interval instead (`needs_poll`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from imapclient import IMAPClient
from sqlalchemy import Engine

from mail import changes
from mail.changes import FolderChanges, MessageFlags, Tracked
from mail.errors import FolderError
from mail.sweep import FolderCounts
from mail.types import NewMessage, PollResult, Protocol
from storage import live_alerts
from storage.live_alerts import GONE, Change, Track, TrackedFolder
from storage.models import Account

log = logging.getLogger(__name__)

NEW_READ_LIMIT = 20  # new messages per poll whose flags are read for their buttons


@dataclass
class Plan:
    """What one poll checks: the stored live alerts and the folder keys for new ones."""

    folders: list[TrackedFolder]
    keys: dict[str, int]


@dataclass
class Checked:
    """The blocking part's answer: per folder what changed, and new messages' flags."""

    folders: list[tuple[TrackedFolder | None, int, FolderChanges]] = field(default_factory=list)
    new_flags: dict[tuple[str, int], MessageFlags] = field(default_factory=dict)


def client_event(old: MessageFlags | None, new: MessageFlags) -> str | None:
    """ "client:read+flag" for what another mail client changed; None when nothing shown."""
    old = old or MessageFlags()
    parts = []
    if new.seen != old.seen:
        parts.append("read" if new.seen else "unread")
    if new.flagged != old.flagged:
        parts.append("flag" if new.flagged else "unflag")
    if new.deleted != old.deleted:
        parts.append("delete" if new.deleted else "undelete")
    return "client:" + "+".join(parts) if parts else None


def check(client: IMAPClient, plan: Plan, result: PollResult) -> Checked:
    """Blocking, inside the poll's work: check every tracked folder, and read the flags of
    the newest new messages of each watched folder that has a key."""
    out = Checked()
    tracked = {t.folder: t for t in plan.folders}
    new: dict[str, tuple[int, list[int]]] = {}
    for f in result.folders:
        if f.messages and not f.reset and f.folder in plan.keys:
            uids = sorted(m.uid for m in f.messages)[-NEW_READ_LIMIT:]
            new[f.folder] = (f.state.uidvalidity, uids)
    for folder in [*tracked, *(f for f in new if f not in tracked)]:
        t = tracked.get(folder)
        uidvalidity, fresh = new.get(folder, (t.uidvalidity if t else 0, []))
        known: dict[int, MessageFlags | None] = {}
        if t is not None:
            budget = changes.MAX_TRACKED - len(fresh)
            known = {uid: flags for uid, (_id, flags) in list(t.alerts.items())[:budget]}
            uidvalidity = t.uidvalidity
        known.update(dict.fromkeys(fresh))
        if not known:
            continue
        # Unread flags (new messages, or alerts written without them): read them all once.
        modseq = None if None in known.values() or t is None else t.highest_modseq
        try:
            found = changes.check(client, Tracked(folder, uidvalidity, modseq, known))
        except FolderError as exc:  # a watched folder gone: the poll itself says so
            log.info("two-way check of a folder skipped: %s", exc.kind)
            continue
        out.folders.append((t, plan.keys.get(folder, t.key if t else 0), found))
        for uid in fresh:
            if uid in found.changed:
                out.new_flags[(folder, uid)] = found.changed[uid]
    return out


def stored_changes(checked: Checked) -> tuple[list[Change], dict[int, int | None]]:
    """What to store: a Change per live alert that changed, and each folder's modseq."""
    out: list[Change] = []
    modseqs: dict[int, int | None] = {}
    for t, key, found in checked.folders:
        if t is None:
            modseqs[key] = found.highest_modseq
            continue
        if found.highest_modseq != t.highest_modseq:
            modseqs[key] = found.highest_modseq
        out.extend(Change(i, state=GONE, event="reset") for i in t.stale)
        for uid, (live_id, old) in t.alerts.items():
            if uid in found.gone:
                out.append(Change(live_id, state=GONE, event="reset" if found.reset else "gone"))
            elif uid in found.changed:
                new = found.changed[uid]
                event = client_event(old, new)
                out.append(Change(live_id, flags=new, event=event, edit=event is not None))
    return out, modseqs


class TwoWay:
    """Per account: what the last check left (modseq per tracked folder) for the sweep."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._modseqs: dict[int, dict[str, int | None]] = {}

    async def plan(self, account: Account) -> Plan | None:
        if account.id is None or account.actions == "off" or account.protocol != Protocol.IMAP:
            self._modseqs.pop(account.id or 0, None)
            return None
        folders, keys = await asyncio.to_thread(self._load, account.id)
        return Plan(folders, keys)

    def _load(self, account_id: int) -> tuple[list[TrackedFolder], dict[str, int]]:
        return (
            live_alerts.tracked(self.engine, account_id),
            live_alerts.folder_keys(self.engine, account_id),
        )

    async def store(self, account: Account, plan: Plan, checked: Checked) -> int:
        """Write what the check found; returns how many alert edits were queued."""
        assert account.id is not None  # noqa: S101 (planned accounts are stored)
        found, modseqs = stored_changes(checked)
        queued = 0
        if found or modseqs:
            queued = await asyncio.to_thread(
                live_alerts.apply, self.engine, account.id, found, modseqs
            )
        gone = {c.live_id for c in found if c.state == GONE}
        following = {
            t.folder: f.highest_modseq
            for t, _key, f in checked.folders
            if t is not None and any(i not in gone for i, _ in t.alerts.values())
        }
        following.update(
            {f.folder: f.highest_modseq for t, _key, f in checked.folders if t is None}
        )
        if following:
            self._modseqs[account.id] = following
        else:
            self._modseqs.pop(account.id, None)
        return queued

    def forget(self, account_id: int) -> None:
        self._modseqs.pop(account_id, None)

    def needs_poll(self, account_id: int) -> bool:
        """Tracked where the server has no CONDSTORE: the sweep's STATUS cannot tell."""
        seqs = self._modseqs.get(account_id)
        return bool(seqs) and any(m is None for m in seqs.values())  # type: ignore[union-attr]

    @property
    def modseq_targets(self) -> set[int]:
        return set(self._modseqs)

    def moved(self, account_id: int, counts: Mapping[str, FolderCounts]) -> bool:
        """The sweep's HIGHESTMODSEQ differs from the last check's in a tracked folder."""
        seqs = self._modseqs.get(account_id)
        if not seqs:
            return False
        return any(
            folder in counts and counts[folder].modseq != modseq for folder, modseq in seqs.items()
        )


def tracks(
    plan: Plan, checked: Checked, result: PollResult
) -> Callable[[NewMessage], Track | None]:
    """What each new message's buttons act on (single alerts of a watched folder)."""
    uidvalidity = {f.folder: f.state.uidvalidity for f in result.folders}

    def track(message: NewMessage) -> Track | None:
        key = plan.keys.get(message.folder)
        if key is None:
            return None
        flags = checked.new_flags.get((message.folder, message.uid))
        return Track(key, uidvalidity[message.folder], message.uid, flags)

    return track
