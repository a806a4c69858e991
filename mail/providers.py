"""What the bot knows of the big mail providers, and how it recognises them.

A provider is recognised by the host name the account was added with, or by what the server
says of itself: a capability (Gmail's X-GM-EXT-1) or its greeting (Microsoft's "Microsoft
Exchange IMAP4 service"). A profile changes what the bot does only where the provider
departs from the standards the bot otherwise relies on:

- folder roles: Gmail's Archive is the `\\All` folder (archiving there removes the Inbox
  label); Microsoft's folders carry no SPECIAL-USE flags, so they are found by name;
- quota: Microsoft offers no QUOTA over IMAP, said plainly instead of a bare "unsupported";
- IDLE renewal: Microsoft stops pushing an IDLE long before RFC 2177's 29 minutes.

docs/providers.md keeps the table with the sources of each fact."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from i18n import N_


@dataclass(frozen=True)
class SmtpHost:
    """A provider's SMTP submission server. `files_sent`: its SMTP files a copy in Sent
    itself, so `sent_copy: auto` does not APPEND one (it would show twice)."""

    host: str
    port: int
    security: str  # tls (implicit, 465) | starttls (587)
    files_sent: bool = False


@dataclass(frozen=True)
class Provider:
    key: str
    name: str
    hosts: tuple[str, ...]  # the host itself or a parent domain of it
    capability: str | None = None  # a capability only this provider advertises
    greeting: str | None = None  # words only this provider's greeting carries
    # role -> the SPECIAL-USE flag that means it here, where it differs from the standard
    roles: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    # role -> folder names to look for when no folder carries the role's flag
    folder_names: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    quota_note: str | None = None  # said when the server offers no QUOTA
    idle_renewal_seconds: float | None = None  # shorter than the default, where needed
    max_connections: int | None = None  # simultaneous IMAP connections per mailbox
    smtp: SmtpHost | None = None  # where replies go out (docs/replies.md)

    def matches_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == h or host.endswith("." + h) for h in self.hosts)


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(mapping)


GMAIL = Provider(
    key="gmail",
    name="Gmail",
    hosts=("imap.gmail.com", "pop.gmail.com", "imap.googlemail.com", "pop.googlemail.com"),
    capability="X-GM-EXT-1",
    greeting="Gimap ready",
    roles=_frozen({"archive": b"\\All"}),
    # German and British accounts have "[Google Mail]" where others have "[Gmail]".
    folder_names=_frozen(
        {
            "archive": ("[Gmail]/All Mail", "[Google Mail]/All Mail"),
            "trash": ("[Gmail]/Trash", "[Google Mail]/Trash", "[Gmail]/Bin", "[Google Mail]/Bin"),
            "junk": ("[Gmail]/Spam", "[Google Mail]/Spam"),
            "sent": ("[Gmail]/Sent Mail", "[Google Mail]/Sent Mail"),
        }
    ),
    max_connections=15,
    smtp=SmtpHost("smtp.gmail.com", 465, "tls", files_sent=True),
)

MICROSOFT = Provider(
    key="microsoft",
    name="Microsoft 365 / Outlook.com",
    hosts=("outlook.office365.com", "outlook.office.com", "imap-mail.outlook.com", "outlook.com"),
    greeting="Microsoft Exchange",
    folder_names=_frozen(
        {
            "archive": ("Archive",),
            "trash": ("Deleted Items",),
            "junk": ("Junk Email",),
            "sent": ("Sent Items",),
        }
    ),
    quota_note=N_(
        "Microsoft 365 and Outlook.com do not report mailbox usage over IMAP (no QUOTA "
        "extension); see the mailbox size in Outlook on the web, under Settings > General > "
        "Storage."
    ),
    # Exchange Online stops sending IDLE updates well before 29 minutes; clients that
    # renew every 10 minutes keep receiving them.
    idle_renewal_seconds=9 * 60,
    max_connections=20,
    smtp=SmtpHost("smtp.office365.com", 587, "starttls", files_sent=True),
)

YAHOO = Provider(
    key="yahoo",
    name="Yahoo",
    hosts=("imap.mail.yahoo.com", "pop.mail.yahoo.com"),
    capability="XYMHIGHESTMODSEQ",
    smtp=SmtpHost("smtp.mail.yahoo.com", 465, "tls"),
)

AOL = Provider(  # Yahoo's servers under AOL's names
    key="aol",
    name="AOL",
    hosts=("imap.aol.com", "pop.aol.com"),
    smtp=SmtpHost("smtp.aol.com", 465, "tls"),
)

ICLOUD = Provider(
    key="icloud",
    name="iCloud",
    hosts=("imap.mail.me.com", "mail.me.com"),
    # iCloud lists its folders without SPECIAL-USE flags (and offers no MOVE).
    folder_names=_frozen({"archive": ("Archive",), "trash": ("Deleted Messages",)}),
    smtp=SmtpHost("smtp.mail.me.com", 587, "starttls"),
)

FASTMAIL = Provider(
    key="fastmail",
    name="Fastmail",
    hosts=("imap.fastmail.com", "fastmail.com"),
    smtp=SmtpHost("smtp.fastmail.com", 465, "tls"),
)

ZOHO = Provider(
    key="zoho",
    name="Zoho Mail",
    hosts=("imap.zoho.com", "imappro.zoho.com", "imap.zoho.eu", "imap.zoho.in", "zoho.com"),
    smtp=SmtpHost("smtp.zoho.com", 465, "tls"),
)

GMX = Provider(
    key="gmx",
    name="GMX / WEB.DE",
    hosts=("imap.gmx.net", "imap.gmx.com", "imap.web.de", "gmx.net", "web.de"),
    smtp=SmtpHost("mail.gmx.net", 587, "starttls"),
)

PROVIDERS: tuple[Provider, ...] = (GMAIL, MICROSOFT, YAHOO, AOL, ICLOUD, FASTMAIL, ZOHO, GMX)


def detect(
    host: str, capabilities: Iterable[str | bytes] = (), greeting: str | bytes = b""
) -> Provider | None:
    """The provider behind a server: by its host name first, then by what it says."""
    for provider in PROVIDERS:
        if provider.matches_host(host):
            return provider
    caps = {(c.decode() if isinstance(c, bytes) else c).upper() for c in capabilities}
    text = greeting.decode("utf-8", "replace") if isinstance(greeting, bytes) else greeting
    for provider in PROVIDERS:
        if provider.capability is not None and provider.capability.upper() in caps:
            return provider
        if provider.greeting is not None and provider.greeting in text:
            return provider
    return None


def of_client(client, cached_only: bool = False) -> Provider | None:
    """The provider behind a logged-in imapclient connection. `cached_only`: use only the
    capabilities already read (a connection in IDLE must not be sent a command)."""
    if cached_only:
        capabilities = getattr(client, "_cached_capabilities", None) or ()
    else:
        try:
            capabilities = client.capabilities()
        except Exception:  # a capability read that fails says nothing about the provider
            capabilities = ()
    return detect(client.host, capabilities, getattr(client, "welcome", b"") or b"")
