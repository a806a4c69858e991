"""Known providers' SMTP submission servers, from their profiles (mail/providers.py), by
the IMAP or POP3 host an account uses."""

from __future__ import annotations

from mail.providers import PROVIDERS, SmtpHost, detect

BY_SMTP_HOST: dict[str, SmtpHost] = {p.smtp.host: p.smtp for p in PROVIDERS if p.smtp}
DEFAULT_PORTS = {"tls": 465, "starttls": 587}


def for_mail_host(host: str) -> SmtpHost | None:
    """The known SMTP server of an account's IMAP/POP3 host, or None."""
    provider = detect(host.strip())
    return provider.smtp if provider is not None else None


def files_sent_itself(smtp_host: str) -> bool:
    """True when this SMTP server keeps a Sent copy on its own (Gmail, Microsoft 365)."""
    known = BY_SMTP_HOST.get(smtp_host.strip().lower().rstrip("."))
    return known is not None and known.files_sent
