"""IMAP over imapclient: connect, baseline, and new mail by UID. Read-only: it selects
folders with EXAMINE and fetches with BODY.PEEK, so it never sets \\Seen."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from i18n import N_
from mail import net, oauth
from mail.errors import AuthError, ConnectError, FolderError, ProtocolError, TLSError
from mail.parse import parse_message
from mail.types import (
    FolderBaseline,
    FolderPoll,
    FolderState,
    FolderStatus,
    NewMessage,
    PollResult,
    Security,
    ServerConfig,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

FETCH_BATCH = 50
# Enough for headers and the start of the text; the snippet needs no more.
PARTIAL_BYTES = 32768
_PARTIAL_ITEM = f"BODY.PEEK[]<0.{PARTIAL_BYTES}>".encode()
_HEADER_ITEM = b"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]"
_BOARD_HEADERS = b"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)]"
_STATUS_ITEMS = [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN"]


def connect(cfg: ServerConfig, allow_private: bool) -> IMAPClient:
    """A logged-in client (the caller logs out). Failures arrive as MailErrors.

    The host is checked at every connect (`net.check_host`, SPEC §5) and the socket goes to
    an address that check approved, never to a second lookup; TLS and STARTTLS still verify
    the certificate against the host *name*. With STARTTLS no credential is sent unless the
    server offered STARTTLS and the TLS handshake succeeded."""
    if any(c in cfg.username + cfg.password for c in "\r\n\0"):
        raise AuthError(N_("The user name or password contains a line break; IMAP cannot send it."))
    with net.translate_errors(cfg.host, cfg.port):
        addresses = net.check_host(cfg.host, cfg.port, allow_private)
        try:
            client = net.PinnedIMAPClient(
                addresses,
                cfg.host,
                port=cfg.port,
                ssl=cfg.security is Security.TLS,
                ssl_context=net.tls_context(),
                timeout=cfg.timeout,
            )
        except IMAPClientError as exc:
            raise ProtocolError(
                N_("`{host}:{port}` did not answer as an IMAP server."),
                host=cfg.host,
                port=cfg.port,
            ) from exc
    try:
        with net.translate_errors(cfg.host, cfg.port):
            if cfg.security is Security.STARTTLS:
                if not client.has_capability("STARTTLS"):
                    raise TLSError(
                        N_(
                            "`{host}` does not offer STARTTLS; refusing to send the password "
                            "in clear. Use security `tls`, or `none` on purpose."
                        ),
                        host=cfg.host,
                    )
                try:
                    client.starttls(net.tls_context())
                except IMAPClientError as exc:
                    raise TLSError(
                        N_("`{host}` refused to start TLS; the password was not sent."),
                        host=cfg.host,
                    ) from exc
                client._cached_capabilities = None  # re-read after TLS (RFC 3501 §6.2.1)
            try:
                if cfg.oauth_token is not None:
                    _sasl_login(client, cfg)
                elif cfg.username.isascii() and cfg.password.isascii():
                    # imaplib sends the user name as is: quote it (RFC 3501 astring), so a
                    # name like DOMAIN\user or one with spaces is one argument.
                    quoted = cfg.username.replace("\\", "\\\\").replace('"', '\\"')
                    client.login(f'"{quoted}"', cfg.password)
                elif client.has_capability("AUTH=PLAIN"):
                    client.plain_login(cfg.username, cfg.password)  # UTF-8 (RFC 4616)
                else:
                    raise AuthError(
                        N_(
                            "`{host}` offers no login that can carry a non-ASCII user name or"
                            " password (AUTH=PLAIN)."
                        ),
                        host=cfg.host,
                    )
            except LoginError as exc:
                if cfg.oauth_token is not None:
                    raise AuthError(
                        N_(
                            "The server refused the OAuth2 sign-in for `{username}`: the "
                            "token expired or was revoked, or it belongs to another mailbox."
                        ),
                        username=cfg.username,
                    ) from exc
                raise AuthError(
                    N_(
                        "The server refused the login for `{username}`: check the user "
                        "name and password."
                    ),
                    username=cfg.username,
                ) from exc
    except BaseException:
        close(client)
        raise
    return client


def _sasl_login(client: IMAPClient, cfg: ServerConfig) -> None:
    """OAuth2: SASL OAUTHBEARER (RFC 7628) where offered, else XOAUTH2."""
    token = cfg.oauth_token or ""
    if client.has_capability("AUTH=OAUTHBEARER"):
        mechanism = "OAUTHBEARER"
        initial = oauth.oauthbearer(cfg.username, cfg.host, cfg.port, token)
    elif client.has_capability("AUTH=XOAUTH2"):
        mechanism, initial = "XOAUTH2", oauth.xoauth2(cfg.username, token)
    else:
        raise AuthError(
            N_("`{host}` offers no OAuth2 login (AUTH=OAUTHBEARER or XOAUTH2)."), host=cfg.host
        )
    answered = []

    def respond(_challenge: bytes) -> bytes:
        # A refused token comes back as a challenge carrying the error; an empty answer
        # gets the final NO (RFC 7628 section 3.2.3).
        if answered:
            return b""
        answered.append(True)
        return initial

    client.sasl_login(mechanism, respond)


def close(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):
        client.logout()
    with contextlib.suppress(Exception):
        client.shutdown()


@contextlib.contextmanager
def session(cfg: ServerConfig, allow_private: bool) -> Iterator[IMAPClient]:
    """A logged-in client; logs out on exit."""
    client = connect(cfg, allow_private)
    try:
        yield client
    finally:
        close(client)


def _status(client: IMAPClient, folder: str) -> dict[bytes, int]:
    try:
        return client.folder_status(folder, _STATUS_ITEMS)
    except IMAPClientAbortError as exc:  # the connection died: not the folder's fault
        raise ConnectError(N_("The IMAP connection was lost ({exc})."), exc=exc) from exc
    except IMAPClientError as exc:
        raise FolderError(
            N_("The folder `{folder}` does not exist on the server."), folder=folder
        ) from exc


def _state_from_status(client: IMAPClient, folder: str, status: Mapping[bytes, int]) -> FolderState:
    uidvalidity = status.get(b"UIDVALIDITY")
    uidnext = status.get(b"UIDNEXT")
    if uidvalidity is None or uidnext is None:
        # Servers that omit them in STATUS still report them on EXAMINE.
        selected = client.select_folder(folder, readonly=True)
        try:
            uidvalidity = selected.get(b"UIDVALIDITY")
            uidnext = selected.get(b"UIDNEXT")
            if uidnext is None:
                uids = client.search("ALL")
                uidnext = (max(uids) + 1) if uids else 1
        finally:
            leave(client)
    if uidvalidity is None:
        raise ProtocolError(N_("The server gave no UIDVALIDITY for `{folder}`."), folder=folder)
    return FolderState(uidvalidity=int(uidvalidity), highest_uid=int(uidnext) - 1)


def baseline(client: IMAPClient, folders: Iterable[str]) -> list[FolderBaseline]:
    """Where each folder stands now, so that mail already there is never announced."""
    out = []
    for folder in folders:
        status = _status(client, folder)
        messages = int(status.get(b"MESSAGES", 0))
        state = _state_from_status(client, folder, status)
        out.append(
            FolderBaseline(
                folder=folder,
                state=state,
                messages=messages,
                unseen=status.get(b"UNSEEN"),
                newest=_newest(client, folder, state.highest_uid) if messages else None,
            )
        )
    return out


def _newest(client: IMAPClient, folder: str, highest_uid: int) -> tuple[str, str] | None:
    """Sender and subject of the highest-UID message (headers only, PEEK)."""
    client.select_folder(folder, readonly=True)
    try:
        # "N:*" always includes the last message, even if UID N itself was expunged.
        uids = client.search(["UID", f"{max(1, highest_uid)}:*"])
        fetched = client.fetch([max(uids)], [_HEADER_ITEM]) if uids else {}
    finally:
        leave(client)
    if not fetched:
        return None
    data = next(iter(fetched.values()))
    raw = next((v for k, v in data.items() if k.startswith(b"BODY[")), b"") or b""
    parsed = parse_message(raw)
    return parsed.sender, parsed.subject


def newest(client: IMAPClient, folder: str) -> NewMessage | None:
    """The folder's message with the highest UID (headers only, PEEK), for a status board
    that has not seen a poll bring mail yet."""
    selected = client.select_folder(folder, readonly=True)
    try:
        if not selected.get(b"EXISTS"):
            return None
        # "N:*" always matches the highest UID, so N = UIDNEXT - 1 finds it in one step.
        uidnext = int(selected.get(b"UIDNEXT", 1))  # type: ignore[call-overload]
        uids = client.search(["UID", f"{max(1, uidnext - 1)}:*"])
        fetched = client.fetch([max(uids)], [_BOARD_HEADERS]) if uids else {}
    finally:
        leave(client)
    if not fetched:
        return None
    uid, data = max(fetched.items())
    raw = next((v for k, v in data.items() if k.startswith(b"BODY[")), b"") or b""
    parsed = parse_message(raw)
    return NewMessage(folder, uid, parsed.subject, parsed.sender, parsed.date, "")


def leave(client: IMAPClient) -> None:
    """Deselect: a kept session that still has a folder selected would answer STATUS for
    it from its own stale view (RFC 3501 §6.3.10). CLOSE after EXAMINE expunges nothing."""
    if client.has_capability("UNSELECT"):
        client.unselect_folder()
    else:
        client.close_folder()


def _fetch_new(client: IMAPClient, folder: str, above_uid: int) -> list[NewMessage]:
    client.select_folder(folder, readonly=True)
    try:
        return _fetch_selected(client, folder, above_uid)
    finally:
        leave(client)


def _fetch_selected(client: IMAPClient, folder: str, above_uid: int) -> list[NewMessage]:
    # "N:*" always matches the highest message even when its UID is below N: filter.
    uids = sorted(u for u in client.search(["UID", f"{above_uid + 1}:*"]) if u > above_uid)
    messages = []
    for start in range(0, len(uids), FETCH_BATCH):
        batch = uids[start : start + FETCH_BATCH]
        fetched = client.fetch(batch, [_PARTIAL_ITEM, b"RFC822.SIZE"])
        for uid in batch:
            data = fetched.get(uid)
            if data is None:  # expunged between SEARCH and FETCH
                continue
            raw = next((v for k, v in data.items() if k.startswith(b"BODY[")), b"") or b""
            parsed = parse_message(raw)
            messages.append(
                NewMessage(
                    folder=folder,
                    uid=uid,
                    subject=parsed.subject,
                    sender=parsed.sender,
                    date=parsed.date,
                    snippet=parsed.snippet,
                    attachments=parsed.attachments,
                    message_id=parsed.message_id,
                    size=data.get(b"RFC822.SIZE"),
                    text=parsed.text,
                    to=parsed.to,
                    cc=parsed.cc,
                    in_reply_to=parsed.in_reply_to,
                    references=parsed.references,
                    reply_to=parsed.reply_to,
                )
            )
    return messages


def shows_more(selected: Mapping[bytes, object], known: FolderState) -> bool:
    """An EXAMINE response with mail above the UIDs a poll saw (or renumbered): IDLE,
    started after it, would not report that mail."""
    uidnext = int(selected.get(b"UIDNEXT", 0))  # type: ignore[call-overload]
    uidvalidity = int(selected.get(b"UIDVALIDITY", known.uidvalidity))  # type: ignore[call-overload]
    renumbered = uidvalidity != known.uidvalidity and not _never_had_mail(known)
    return renumbered or uidnext - 1 > known.highest_uid


def _never_had_mail(known: FolderState) -> bool:
    """No UID was ever given out in the folder (UIDNEXT was 1). Courier makes up a new
    UIDVALIDITY at each STATUS or EXAMINE of such a folder until a read-write SELECT keeps
    one; a change then renumbers nothing, so it is taken as is, without a reset."""
    return known.highest_uid == 0


def poll(client: IMAPClient, states: Mapping[str, FolderState]) -> PollResult:
    """New messages above each folder's stored UID. A UIDVALIDITY change re-baselines the
    folder (old UIDs mean nothing any more) instead of announcing its whole content."""
    results = []
    for folder, known in states.items():
        status = _status(client, folder)
        current = _state_from_status(client, folder, status)
        total = int(status.get(b"MESSAGES", 0))
        unseen = status.get(b"UNSEEN")
        if current.uidvalidity != known.uidvalidity and _never_had_mail(known):
            known = FolderState(uidvalidity=current.uidvalidity, highest_uid=0)
        if current.uidvalidity != known.uidvalidity:
            results.append(
                FolderPoll(folder, (), current, reset=True, messages_total=total, unseen=unseen)
            )
            continue
        if current.highest_uid <= known.highest_uid:
            results.append(FolderPoll(folder, (), known, messages_total=total, unseen=unseen))
            continue
        new = _fetch_new(client, folder, known.highest_uid)
        # UIDs at or below the STATUS UIDNEXT that were not fetched were expunged meanwhile.
        highest = max([current.highest_uid, *(m.uid for m in new)])
        state = FolderState(uidvalidity=known.uidvalidity, highest_uid=highest)
        results.append(FolderPoll(folder, tuple(new), state, messages_total=total, unseen=unseen))
    return PollResult(folders=tuple(results))


MAX_LISTED_FOLDERS = 500


def folder_statuses(client: IMAPClient) -> list[FolderStatus]:
    """Every selectable folder with its counts (and size where STATUS=SIZE is offered)."""
    items = [b"MESSAGES", b"UNSEEN"]
    with_size = client.has_capability("STATUS=SIZE")
    if with_size:
        items.append(b"SIZE")
    out = []
    for flags, _delimiter, name in client.list_folders()[:MAX_LISTED_FOLDERS]:
        if any(f.lower() in (b"\\noselect", b"\\nonexistent") for f in flags):
            continue
        try:
            status = client.folder_status(name, items)
        except IMAPClientError:
            continue  # vanished between LIST and STATUS
        out.append(
            FolderStatus(
                name=name,
                messages=int(status.get(b"MESSAGES", 0)),
                unseen=status.get(b"UNSEEN"),
                size=status.get(b"SIZE") if with_size else None,
            )
        )
    return sorted(out, key=lambda f: (f.name != "INBOX", f.name.lower()))


def verify_and_baseline(
    cfg: ServerConfig, folders: Iterable[str], allow_private: bool
) -> list[FolderBaseline]:
    with session(cfg, allow_private) as client, net.translate_errors(cfg.host, cfg.port):
        return baseline(client, folders)


def once(cfg: ServerConfig, allow_private: bool, work: Callable[[IMAPClient], T]) -> T:
    """Run `work` on a session of its own (logged out afterwards)."""
    with session(cfg, allow_private) as client, net.translate_errors(cfg.host, cfg.port):
        return work(client)
