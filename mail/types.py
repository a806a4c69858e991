"""Plain data passed between the protocol layer and the rest of the bot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from mail.quota import QuotaReport


class Protocol(StrEnum):
    IMAP = "imap"
    POP3 = "pop3"


class Security(StrEnum):
    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


DEFAULT_PORTS = {
    (Protocol.IMAP, Security.TLS): 993,
    (Protocol.IMAP, Security.STARTTLS): 143,
    (Protocol.IMAP, Security.NONE): 143,
    (Protocol.POP3, Security.TLS): 995,
    (Protocol.POP3, Security.STARTTLS): 110,
    (Protocol.POP3, Security.NONE): 110,
}


@dataclass(frozen=True)
class ServerConfig:
    protocol: Protocol
    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)
    timeout: float = 20.0
    # OAuth2 accounts log in with this access token (SASL OAUTHBEARER or XOAUTH2) instead
    # of the password. Not compared: a refreshed token must not replace a kept session.
    oauth_token: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class FolderState:
    """Where a folder stood at the last poll: new mail is anything above highest_uid."""

    uidvalidity: int
    highest_uid: int


@dataclass(frozen=True)
class FolderBaseline:
    folder: str
    state: FolderState
    messages: int
    unseen: int | None
    newest: tuple[str, str] | None = None  # (sender, subject) of the newest message


@dataclass(frozen=True)
class NewMessage:
    folder: str
    uid: int
    subject: str
    sender: str
    date: datetime | None
    snippet: str
    attachments: tuple[str, ...] = ()
    message_id: str | None = None
    size: int | None = None
    text: str = ""  # the body text, for alerts at privacy "full"
    # Addresses of the To and Cc headers, for routing rules' `to:` (not shown in alerts).
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    in_reply_to: str | None = None  # threads: the Message-ID this one answers
    references: tuple[str, ...] = ()  # and its conversation's (mail.parse bounds them)
    reply_to: tuple[str, ...] = ()  # Reply-To's addresses: where a reply goes


@dataclass(frozen=True)
class FolderPoll:
    """One folder's result: its new messages (oldest first) and the state to store after."""

    folder: str
    messages: tuple[NewMessage, ...]
    state: FolderState
    reset: bool = False
    messages_total: int = 0  # MESSAGES from STATUS: a sweep compares it to see deletions
    unseen: int | None = None  # UNSEEN from the same STATUS, for status boards


@dataclass(frozen=True)
class PollResult:
    folders: tuple[FolderPoll, ...]
    quota: QuotaReport | None = None

    @property
    def messages(self) -> list[NewMessage]:
        return [m for f in self.folders for m in f.messages]


@dataclass(frozen=True)
class FolderStatus:
    """One folder as /mail folders shows it; size only where the server offers STATUS=SIZE."""

    name: str
    messages: int
    unseen: int | None
    size: int | None
