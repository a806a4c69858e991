"""Threads (SPEC section 8): what an alert of an account with threads on carries so the
sender can place it in its conversation. Pure: (message, privacy, language) -> the
payload's "thread" entry.

The entry: {"ids": the Message-ID(s) this alert announces, "parents": In-Reply-To, then
References newest to oldest (the nearest ancestor is tried first), "title": the thread or
forum post name}. The sender resolves the parents when it sends the row, not here: a
parent queued in the same poll is not yet in Discord."""

from __future__ import annotations

import unicodedata
from typing import Any

from i18n import ENGLISH, N_, Translator
from mail.types import NewMessage
from storage.models import Account

TITLE_MAX = 100  # Discord's limit on a thread's name
NO_SUBJECT = N_("(no subject)")


def title(message: NewMessage, privacy: str, t: Translator = ENGLISH) -> str:
    """A thread or forum post name that shows no more than the alert does: at privacy
    `minimal` the alert hides the subject, so the name is "New mail in FOLDER" (as the
    alert's own title, in the guild's language `t`); otherwise the subject, on one line,
    trimmed to 100 characters."""
    if privacy == "minimal":
        return clean_title(t("New mail in {folder}", folder=message.folder), t)
    return clean_title(message.subject, t)


def clean_title(text: str, t: Translator = ENGLISH) -> str:
    """One line without control characters, at most TITLE_MAX characters, never empty."""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    text = " ".join(text.split()) or t(NO_SUBJECT)
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "\N{HORIZONTAL ELLIPSIS}"


def thread_entry(
    account: Account, message: NewMessage, t: Translator = ENGLISH
) -> dict[str, Any] | None:
    """The payload's "thread" entry for a single alert, or None (threads off); its title
    in the guild's language `t` (a thread name is a channel post)."""
    if not account.threads:
        return None
    own = [message.message_id] if message.message_id else []
    ancestors = [message.in_reply_to, *reversed(message.references)]
    parents = [p for p in dict.fromkeys(a for a in ancestors if a) if p not in own]
    return {"ids": own, "parents": parents, "title": title(message, account.privacy, t)}
