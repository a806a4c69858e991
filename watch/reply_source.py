"""What a single new-mail alert carries for its Reply and Reply all buttons (SPEC section
13): the mail's reply headers, kept in the alert's outbox row, so a press needs no trip
to the mailbox and works for IMAP and POP3 alike. Pure."""

from __future__ import annotations

import re
from typing import Any

from mail.types import NewMessage
from storage.models import Account

_BRACKETED = re.compile(r"<([^<>\s]+@[^<>\s]+)>$")


def sender_address(sender: str) -> str | None:
    """The address of an alert's sender text (`Name <address>` or `address`)."""
    found = _BRACKETED.search(sender)
    if found:
        return found[1]
    return sender if "@" in sender and " " not in sender else None


def reply_view(account: Account, message: NewMessage) -> dict[str, Any] | None:
    """The payload's "view" entry with the reply headers, or None (replies off)."""
    if not account.replies or not account.smtp_host:
        return None
    return {
        "reply": {
            "id": message.message_id,
            "refs": list(message.references),
            "from": sender_address(message.sender),
            "reply_to": list(message.reply_to),
            "to": list(message.to),
            "cc": list(message.cc),
            "subject": message.subject,
        }
    }
