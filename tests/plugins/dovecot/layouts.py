"""Folder layouts and self-descriptions that make a real Dovecot look like a provider.

Provider quirks that change what the bot does are tested against a real server made to
behave that way (docs/providers.md): Gmail's `[Gmail]/...` folders with their SPECIAL-USE
flags, no Archive folder and `X-GM-EXT-1` advertised; Microsoft's folders with no flags at
all, Exchange Online's capability list (no QUOTA, no SPECIAL-USE, no CONDSTORE) and its
greeting. A layout is a whole Dovecot instance of its own (namespaces are per server), so
those tests start one beside the session's (`layout_dovecot` in fixtures.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import SPECIAL_FOLDERS


@dataclass(frozen=True)
class Layout:
    name: str
    folders: dict[str, str | None] = field(default_factory=dict)  # name -> special-use flag
    imap_capability: str | None = None  # Dovecot's imap_capability ("+X" adds to its own)
    login_greeting: str | None = None


STANDARD = Layout("standard", dict(SPECIAL_FOLDERS))

# As Gmail LISTs them (developers.google.com/gmail/imap/imap-extensions).
GMAIL = Layout(
    "gmail",
    {
        "[Gmail]/All Mail": r"\All",
        "[Gmail]/Drafts": r"\Drafts",
        "[Gmail]/Sent Mail": r"\Sent",
        "[Gmail]/Spam": r"\Junk",
        "[Gmail]/Starred": r"\Flagged",
        "[Gmail]/Trash": r"\Trash",
    },
    imap_capability="+X-GM-EXT-1",
    login_greeting="Gimap ready for requests",
)

# Exchange Online's folders carry no flags; its capabilities after login as logged by
# imapsync against outlook.office365.com (imapsync/imapsync#239), without AUTH=XOAUTH2.
EXCHANGE = Layout(
    "exchange",
    {
        "Archive": None,
        "Deleted Items": None,
        "Drafts": None,
        "Junk Email": None,
        "Sent Items": None,
    },
    imap_capability="IMAP4 IMAP4rev1 AUTH=PLAIN SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN "
    "IDLE NAMESPACE LITERAL+",
    login_greeting="The Microsoft Exchange IMAP4 service is ready.",
)

LAYOUTS = {layout.name: layout for layout in (STANDARD, GMAIL, EXCHANGE)}
