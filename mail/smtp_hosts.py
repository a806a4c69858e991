"""Known providers' SMTP submission servers, by the IMAP or POP3 host an account uses
(to be folded into mail/providers.py). `files_sent`: the provider's SMTP files a copy in
Sent itself, so `sent_copy: auto` does not APPEND one (it would show twice)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SmtpHost:
    host: str
    port: int
    security: str  # tls (implicit, 465) | starttls (587)
    files_sent: bool = False


GMAIL = SmtpHost("smtp.gmail.com", 465, "tls", files_sent=True)
MICROSOFT = SmtpHost("smtp.office365.com", 587, "starttls", files_sent=True)
YAHOO = SmtpHost("smtp.mail.yahoo.com", 465, "tls")
ICLOUD = SmtpHost("smtp.mail.me.com", 587, "starttls")
FASTMAIL = SmtpHost("smtp.fastmail.com", 465, "tls")
ZOHO = SmtpHost("smtp.zoho.com", 465, "tls")
GMX = SmtpHost("mail.gmx.net", 587, "starttls")

BY_MAIL_HOST: dict[str, SmtpHost] = {
    "imap.gmail.com": GMAIL,
    "pop.gmail.com": GMAIL,
    "outlook.office365.com": MICROSOFT,
    "imap-mail.outlook.com": MICROSOFT,
    "pop-mail.outlook.com": MICROSOFT,
    "imap.mail.yahoo.com": YAHOO,
    "pop.mail.yahoo.com": YAHOO,
    "imap.mail.me.com": ICLOUD,
    "imap.fastmail.com": FASTMAIL,
    "pop.fastmail.com": FASTMAIL,
    "imap.zoho.com": ZOHO,
    "pop.zoho.com": ZOHO,
    "imap.gmx.net": GMX,
    "pop.gmx.net": GMX,
}
BY_SMTP_HOST = {h.host: h for h in BY_MAIL_HOST.values()}
DEFAULT_PORTS = {"tls": 465, "starttls": 587}


def for_mail_host(host: str) -> SmtpHost | None:
    """The known SMTP server of an account's IMAP/POP3 host, or None."""
    return BY_MAIL_HOST.get(host.strip().lower().rstrip("."))


def files_sent_itself(smtp_host: str) -> bool:
    """True when this SMTP server keeps a Sent copy on its own (Gmail, Microsoft 365)."""
    known = BY_SMTP_HOST.get(smtp_host.strip().lower().rstrip("."))
    return known is not None and known.files_sent
