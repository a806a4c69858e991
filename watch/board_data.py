"""What a status board shows, as plain data: the engine gathers it, the Discord side
(cogs/_board_ui.py) renders it. Two boards of equal data render the same embed, so the
rendered embed's hash tells whether an edit is needed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from i18n import Explained
from mail.quota import QuotaReport


class Health(StrEnum):
    OK = "ok"
    FAILING = "failing"  # the last polls failed (count and error below)
    REAUTH = "reauth"  # waits for /mail reauth
    PAUSED = "paused"


@dataclass(frozen=True)
class FolderLine:
    name: str
    messages: int | None  # None until the first check after a start
    unseen: int | None


@dataclass(frozen=True)
class Newest:
    folder: str
    sender: str
    subject: str
    date: datetime | None


@dataclass(frozen=True)
class Pop3Box:
    """The server's mailbox at the last STAT, and what the archive holds."""

    count: int | None  # None until the first poll after a start
    size_bytes: int | None
    archived: int
    archived_bytes: int
    limit_mb: int | None  # the declared mailbox size, if any


@dataclass(frozen=True)
class BoardData:
    account_name: str
    protocol: str
    privacy: str
    health: Health
    failures: int
    last_error: str | Explained | None  # an Explained renders in the board's language
    alerts_held: str | None  # why Discord refuses the alert channel
    pushed: bool  # INBOX arrives by IDLE push
    interval_minutes: int
    next_check: datetime | None  # the next scheduled poll (or retry), to the minute
    folders: tuple[FolderLine, ...] = ()  # IMAP
    quota: QuotaReport | None = None  # IMAP; None: not read since the start
    pop3: Pop3Box | None = None
    newest: Newest | None = None


def to_minute(when: datetime | None) -> datetime | None:
    """Whole minutes, so a poll that runs a second late does not change the board."""
    if when is None:
        return None
    return datetime.fromtimestamp(round(when.timestamp() / 60) * 60, UTC)
