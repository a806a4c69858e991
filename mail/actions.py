"""Mailbox actions from alert buttons: mark read or unread, flag or unflag, archive, trash.

The only code that writes to an IMAP mailbox (SPEC §8). `perform` runs on the account's
pooled session, through SessionPool.run (WatchEngine.on_session), so a pushed account
still costs the server one connection: the pool takes the session out of IDLE (DONE,
deselect), `perform` SELECTs the message's folder read-write, checks UIDVALIDITY and the
UID, acts, and deselects without expunging (UNSELECT, or EXAMINE then CLOSE); the pool
then EXAMINEs INBOX and idles again, or parks the session unselected. Everything else
the bot does stays read-only (EXAMINE, BODY.PEEK).

Refusals raise ActionError subclasses, whose text a member may read; they leave the
session usable, so the pool keeps it (MailError.keeps_session)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from i18n import N_
from mail import providers
from mail.changes import MessageFlags
from mail.errors import MailError

SEEN, FLAGGED, DELETED = b"\\Seen", b"\\Flagged", b"\\Deleted"


class Action(StrEnum):
    READ = "read"
    UNREAD = "unread"
    FLAG = "flag"
    UNFLAG = "unflag"
    ARCHIVE = "archive"
    TRASH = "trash"


# action -> (add?, flag)
_STORES = {
    Action.READ: (True, SEEN),
    Action.UNREAD: (False, SEEN),
    Action.FLAG: (True, FLAGGED),
    Action.UNFLAG: (False, FLAGGED),
}
# action -> (special-use flag, the name looked for without one)
_MOVES = {Action.ARCHIVE: (b"\\Archive", "Archive"), Action.TRASH: (b"\\Trash", "Trash")}


@dataclass(frozen=True)
class Target:
    """A message as its alert knows it."""

    folder: str
    uidvalidity: int
    uid: int


@dataclass(frozen=True)
class ActionDone:
    action: Action
    target: Target
    flags: MessageFlags  # the message's flags now (before a move, for ARCHIVE/TRASH)
    destination: str | None = None  # ARCHIVE/TRASH: the folder it went to
    moved: bool = False  # False for ARCHIVE/TRASH when already in that folder
    # COPY fallback without UIDPLUS, while other messages also carried \Deleted: the
    # original is left marked \Deleted (an EXPUNGE would have removed theirs too).
    left_deleted: bool = False


class ActionError(MailError):
    kind = "action"
    keeps_session = True


class StaleFolderError(ActionError):
    """UIDVALIDITY changed: the alert's UID may now name another message."""

    kind = "uidvalidity"


class MessageGoneError(ActionError):
    kind = "gone"


class NoDestinationError(ActionError):
    """No folder marked \\Archive (\\Trash) and none named Archive (Trash)."""

    kind = "no-destination"


class ActionRefusedError(ActionError):
    """The server answered NO or BAD to a command of the action."""

    kind = "refused"


def find_destination(client: IMAPClient, action: Action) -> str:
    """The folder with ARCHIVE's or TRASH's SPECIAL-USE flag (RFC 6154), else one named
    Archive or Trash (exactly, then in any case); NoDestinationError if neither. A known
    provider may mean another flag (Gmail archives to `\\All`) or name its folders its own
    way (Microsoft's "Deleted Items", which carry no flag)."""
    use, name = _MOVES[action]
    provider = providers.of_client(client)
    names = [name]
    if provider is not None:
        use = provider.roles.get(action.value, use)
        names = [*provider.folder_names.get(action.value, ()), name]
    folders = [
        (tuple(f.lower() for f in flags), folder, _personal_name(folder, delim))
        for flags, delim, folder in client.list_folders()
        if not any(f.lower() in (b"\\noselect", b"\\nonexistent") for f in flags)
    ]
    for flags, folder, _short in folders:
        if use.lower() in flags:
            return folder
    for wanted in names:  # by the name under INBOX. too (Courier, Cyrus: INBOX.Archive)
        exact = [folder for _flags, folder, short in folders if short == wanted]
        loose = [folder for _flags, folder, short in folders if short.lower() == wanted.lower()]
        for folder in exact + loose:
            return folder
    raise NoDestinationError(
        N_("This mailbox has no {name} folder (none marked `{use}` and none named `{name}`)."),
        name=name,
        use=use.decode(),
    )


def _personal_name(folder: str, delimiter: bytes | None) -> str:
    """`Archive` for `INBOX.Archive`: Courier and Cyrus keep personal folders under INBOX."""
    prefix = "INBOX" + (delimiter or b"").decode()
    if delimiter and folder[: len(prefix)].upper() == prefix.upper():
        return folder[len(prefix) :]
    return folder


def perform(client: IMAPClient, target: Target, action: Action) -> ActionDone:
    """Check that the message is still `target` and apply `action` to it."""
    try:
        destination = find_destination(client, action) if action in _MOVES else None
        _select(client, target)
        try:
            done = _act(client, target, action, destination)
        finally:
            _deselect(client, target.folder)
    except IMAPClientAbortError:
        raise  # the connection is lost: the pool drops it (and retries once if reused)
    except IMAPClientError as exc:
        raise ActionRefusedError(
            N_("The mail server refused to {action} the message: {exc}"),
            action=action.value,
            exc=exc,
        ) from exc
    return done


def _select(client: IMAPClient, target: Target) -> None:
    try:
        selected = client.select_folder(target.folder)  # read-write: only here
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        raise MessageGoneError(
            N_("The folder `{folder}` no longer exists on the mail server."), folder=target.folder
        ) from exc
    if int(selected.get(b"UIDVALIDITY", -1)) != target.uidvalidity:
        _deselect(client, target.folder)
        raise StaleFolderError(
            N_(
                "The mail server renumbered `{folder}` since this alert, so it "
                "cannot tell which message this was any more."
            ),
            folder=target.folder,
        )


def _act(client: IMAPClient, target: Target, action: Action, dest: str | None) -> ActionDone:
    before = client.fetch([target.uid], [b"FLAGS"]).get(target.uid)
    if before is None:
        raise MessageGoneError(
            N_("This message is no longer in `{folder}`: it was moved or deleted."),
            folder=target.folder,
        )
    flags = MessageFlags.from_imap(before.get(b"FLAGS", ()))
    if action in _STORES:
        add, flag = _STORES[action]
        stored = (client.add_flags if add else client.remove_flags)([target.uid], [flag])
        # Dovecot answers no FETCH when nothing changed: the flags read before then hold.
        if target.uid in stored:
            flags = MessageFlags.from_imap(stored[target.uid])
        return ActionDone(action, target, flags)
    assert dest is not None  # noqa: S101 (find_destination ran for every move)
    if dest == target.folder:
        return ActionDone(action, target, flags, destination=dest)
    left_deleted = _move(client, target.uid, dest)
    return ActionDone(action, target, flags, dest, moved=True, left_deleted=left_deleted)


def _move(client: IMAPClient, uid: int, dest: str) -> bool:
    """UID MOVE (RFC 6851), else COPY, \\Deleted and UID EXPUNGE (UIDPLUS), else a plain
    EXPUNGE only when no other message carries \\Deleted. True: left marked \\Deleted."""
    if client.has_capability("MOVE"):
        client.move([uid], dest)
        return False
    client.copy([uid], dest)
    client.add_flags([uid], [DELETED], silent=True)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge([uid])
        return False
    if set(client.search(["DELETED"])) - {uid}:
        return True
    client.expunge()
    return False


def _deselect(client: IMAPClient, folder: str) -> None:
    """Leave the folder without expunging: CLOSE after a read-write SELECT would remove
    every \\Deleted message, so without UNSELECT switch to EXAMINE first."""
    if client.has_capability("UNSELECT"):
        client.unselect_folder()
        return
    client.select_folder(folder, readonly=True)
    client.close_folder()
