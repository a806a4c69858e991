"""Product IMAP sessions (mail.imap.connect) to the Dovecot rig's addresses: the main one
with every extension, BASIC_HOST without MOVE/CONDSTORE/UNSELECT, BARE_HOST IMAP4rev1 only."""

from __future__ import annotations

from imapclient import IMAPClient

from mail import imap
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.dovecot import BARE_HOST, BASIC_HOST, Dovecot, MailUser

MAIN = "main"
HOSTS = (MAIN, BASIC_HOST, BARE_HOST)


def server_config(dovecot: Dovecot, user: MailUser, host: str = MAIN) -> ServerConfig:
    """Plain IMAP (loopback only): the limited addresses are not in the certificate."""
    return ServerConfig(
        Protocol.IMAP,
        dovecot.host if host == MAIN else host,
        dovecot.imap_port,
        Security.NONE,
        user.name,
        user.password,
    )


def connect(dovecot: Dovecot, user: MailUser, host: str = MAIN) -> IMAPClient:
    return imap.connect(server_config(dovecot, user, host), allow_private=True)


def uidvalidity(dovecot: Dovecot, user: MailUser, folder: str = "INBOX") -> int:
    with dovecot.imap(user) as client:
        return client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]


def flags_of(dovecot: Dovecot, user: MailUser, folder: str, uid: int) -> set[bytes] | None:
    """The message's flags as another client sees them (None: no such UID)."""
    with dovecot.imap(user) as client:
        client.select_folder(folder, readonly=True)
        data = client.fetch([uid], [b"FLAGS"]).get(uid)
    return None if data is None else set(data[b"FLAGS"]) - {b"\\Recent"}


def subjects(dovecot: Dovecot, user: MailUser, folder: str) -> list[str]:
    with dovecot.imap(user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, [b"BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}
    return sorted(
        # Courier names the item BODY[HEADER.FIELDS ("SUBJECT")]
        next(raw for key, raw in v.items() if key.startswith(b"BODY["))
        .decode()
        .split(":", 1)[1]
        .strip()
        for v in fetched.values()
    )
