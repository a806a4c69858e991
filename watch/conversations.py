"""Threads (SPEC section 8): what an alert of an account with threads on carries so the
sender can place it in its conversation. Pure: (message, privacy) -> the payload's
"thread" entry.

The entry: {"ids": the Message-ID(s) this alert announces, "parents": In-Reply-To, then
References newest to oldest (the nearest ancestor is tried first), "title": the thread or
forum post name}. The sender resolves the parents when it sends the row, not here: a
parent queued in the same poll is not yet in Discord."""

from __future__ import annotations

import unicodedata
from typing import Any

from mail.types import NewMessage
from storage.models import Account

TITLE_MAX = 100  # Discord's limit on a thread's name
NO_SUBJECT = "(no subject)"


def title(message: NewMessage, privacy: str) -> str:
    """A thread or forum post name that shows no more than the alert does: at privacy
    `minimal` the alert hides the subject, so the name is "New mail in FOLDER" (as the
    alert's own title); otherwise the subject, on one line, trimmed to 100 characters."""
    return clean_title(f"New mail in {message.folder}" if privacy == "minimal" else message.subject)


def clean_title(text: str) -> str:
    """One line without control characters, at most TITLE_MAX characters, never empty."""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    text = " ".join(text.split()) or NO_SUBJECT
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "\N{HORIZONTAL ELLIPSIS}"


def thread_entry(account: Account, message: NewMessage) -> dict[str, Any] | None:
    """The payload's "thread" entry for a single alert, or None (threads off)."""
    if not account.threads:
        return None
    own = [message.message_id] if message.message_id else []
    ancestors = [message.in_reply_to, *reversed(message.references)]
    parents = [p for p in dict.fromkeys(a for a in ancestors if a) if p not in own]
    return {"ids": own, "parents": parents, "title": title(message, account.privacy)}
