"""Two-way state: what happened in other mail clients to messages the bot alerted on.

Given a folder, its UIDVALIDITY, the HIGHESTMODSEQ of the last check and the tracked
UIDs with the flags their alerts show, `check` says which of them now have other flags
(read, flagged) and which are gone (expunged, or moved away: IMAP cannot tell the two
apart from the source folder).

With CONDSTORE (RFC 7162) an unchanged folder costs one round trip, STATUS (UIDVALIDITY
HIGHESTMODSEQ), which also enables CONDSTORE on the session. After a change: EXAMINE,
`UID FETCH <tracked> (FLAGS) (CHANGEDSINCE m)` and `UID SEARCH UID <tracked>` (CHANGEDSINCE
reports no expunges; QRESYNC's VANISHED would, but enabling QRESYNC turns every EXPUNGE of
the session into VANISHED, which the rest of the bot does not parse). Without CONDSTORE
(or on a NOMODSEQ mailbox): EXAMINE and the FLAGS of every tracked UID. Both ways give
the same answer; only the cost differs. Read-only throughout (EXAMINE)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from i18n import N_
from mail import imap
from mail.errors import ConnectError, FolderError

MAX_TRACKED = 500  # SPEC §8: live alerts per account


@dataclass(frozen=True)
class MessageFlags:
    seen: bool = False
    flagged: bool = False
    deleted: bool = False  # \Deleted: "deleted" in clients that expunge later

    @classmethod
    def from_imap(cls, flags: Iterable[bytes | str]) -> MessageFlags:
        names = {(f.decode() if isinstance(f, bytes) else f).lower() for f in flags}
        return cls(
            seen="\\seen" in names, flagged="\\flagged" in names, deleted="\\deleted" in names
        )


@dataclass(frozen=True)
class Tracked:
    """One folder's live alerts. `known`: tracked UID -> the flags its alert shows, or None
    when not known yet (reported as soon as a check reads them: a check without a
    modseq reads them all; after that, any change since `highest_modseq` does, and a
    message that arrived after that modseq has one)."""

    folder: str
    uidvalidity: int
    highest_modseq: int | None  # from the last check's FolderChanges; None at first
    known: Mapping[int, MessageFlags | None]


@dataclass(frozen=True)
class FolderChanges:
    folder: str
    uidvalidity: int  # the folder's now
    highest_modseq: int | None  # to store for the next check; None: no CONDSTORE here
    changed: Mapping[int, MessageFlags] = field(default_factory=dict)  # flags now
    gone: frozenset[int] = frozenset()  # expunged or moved away
    reset: bool = False  # UIDVALIDITY changed: every tracked UID is gone (meaningless)

    @property
    def empty(self) -> bool:
        return not self.changed and not self.gone


def uid_set(uids: Iterable[int]) -> str:
    """Sorted UIDs as an IMAP sequence set with ranges ("3:5,9"): short command lines."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = None
    for uid in [*ordered, None]:
        if start is not None and uid == prev + 1:  # type: ignore[operator]
            prev = uid
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    return ",".join(parts)


def check(client: IMAPClient, tracked: Tracked) -> FolderChanges:
    """What changed in `tracked.folder` for the tracked UIDs (see the module docstring).
    A missing folder raises FolderError; a lost connection ConnectError."""
    if len(tracked.known) > MAX_TRACKED:
        raise ValueError(f"at most {MAX_TRACKED} UIDs are tracked per folder")
    try:
        return _check(client, tracked)
    except IMAPClientAbortError as exc:
        raise ConnectError(N_("The IMAP connection was lost ({exc})."), exc=exc) from exc


def _check(client: IMAPClient, tracked: Tracked) -> FolderChanges:
    condstore = client.has_capability("CONDSTORE")
    modseq = None
    if condstore:
        status = _status(client, tracked.folder)
        uidvalidity = int(status.get(b"UIDVALIDITY", 0))
        modseq = status.get(b"HIGHESTMODSEQ")  # absent on a NOMODSEQ mailbox
        if uidvalidity != tracked.uidvalidity:
            return _reset(tracked, uidvalidity, modseq)
        if modseq is not None and modseq == tracked.highest_modseq:
            return FolderChanges(tracked.folder, uidvalidity, modseq)  # one round trip
    if not tracked.known:
        return FolderChanges(tracked.folder, tracked.uidvalidity, modseq)
    try:
        selected = client.select_folder(tracked.folder, readonly=True)
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        raise FolderError(
            N_("The folder `{folder}` does not exist on the server."), folder=tracked.folder
        ) from exc
    try:
        uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
        if uidvalidity != tracked.uidvalidity:
            return _reset(tracked, uidvalidity, modseq)
        if condstore and b"NOMODSEQ" not in selected:
            modseq = selected.get(b"HIGHESTMODSEQ", modseq)
        else:
            modseq = None
        return _compare(client, tracked, uidvalidity, modseq)
    finally:
        imap.leave(client)  # UNSELECT, or CLOSE (expunges nothing after EXAMINE)


def _status(client: IMAPClient, folder: str) -> dict:
    try:
        return client.folder_status(folder, [b"UIDVALIDITY", b"HIGHESTMODSEQ"])
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        raise FolderError(
            N_("The folder `{folder}` does not exist on the server."), folder=folder
        ) from exc


def _reset(tracked: Tracked, uidvalidity: int, modseq: int | None) -> FolderChanges:
    gone = frozenset(tracked.known)
    return FolderChanges(tracked.folder, uidvalidity, modseq, gone=gone, reset=True)


def _compare(
    client: IMAPClient, tracked: Tracked, uidvalidity: int, modseq: int | None
) -> FolderChanges:
    """Read the flags (all of them, or those changed since the stored modseq) and which
    tracked UIDs are still there; report what differs from `known`."""
    uids = sorted(tracked.known)
    since = tracked.highest_modseq if modseq is not None else None
    if since is None:
        fetched = client.fetch(uids, [b"FLAGS"])
        present = set(fetched)
    else:
        fetched = client.fetch(uids, [b"FLAGS"], modifiers=[f"CHANGEDSINCE {since}"])
        present = set(client.search(["UID", uid_set(uids)]))
    changed = {}
    for uid, data in fetched.items():
        if uid not in tracked.known or uid not in present:
            continue  # an unsolicited FETCH of another message, or expunged meanwhile
        flags = MessageFlags.from_imap(data.get(b"FLAGS", ()))
        if flags != tracked.known[uid]:
            changed[uid] = flags
    gone = frozenset(uid for uid in tracked.known if uid not in present)
    return FolderChanges(tracked.folder, uidvalidity, modseq, changed=changed, gone=gone)
