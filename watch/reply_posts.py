"""What the conversation hears about an outgoing message (SPEC section 13), as outbox
Alerts: the sent reply at the account's privacy level, a refusal with the server's
reason, the one notice of an unknown outcome (with Resend and Discard), a failed Sent
copy. Pure; the English strings are msgids for the catalogs."""

from __future__ import annotations

from typing import Any

from storage.models import Account, OutgoingMail
from storage.outbox import Alert
from watch.conversations import clean_title

SENT_TITLE = "Reply sent"
NEW_TITLE = "Message sent"
FAILED_TITLE = "Reply not sent"
UNKNOWN_TITLE = "Reply may not have been sent"
UNKNOWN_TEXT = (
    "Mailsync stopped while the server was taking this message, so nobody knows whether "
    "it went out. It is not sent again on its own: **Resend** sends it once more (the "
    "recipients may get it twice), **Discard** keeps it unsent."
)
FAILED_TEXT = "The mail server refused it: {reason}"
COPY_FAILED_TITLE = "No copy in Sent"
COPY_FAILED_TEXT = (
    "The reply was sent, but saving its copy in the Sent folder failed: {reason}. It is "
    "not sent again."
)
BY_LINE = "Sent by <@{member}> to {to}"
REFUSED_SOME = "Refused recipients: {who}"
TEXT_MAX = 3500
SNIPPET_MAX = 300
GREY, GREEN, RED, ORANGE = 0x95A5A6, 0x2ECC71, 0xE74C3C, 0xE67E22


def _lines(text: str | None) -> list[str]:
    return [t for t in (text or "").split("\n") if t]


def thread_entry(account: Account, row: OutgoingMail, own: bool) -> dict[str, Any] | None:
    """Where it goes: the conversation of the mail it answers (threads on). `own`: link
    its Message-ID with the post, so an answer to it threads there too."""
    if not account.threads:
        return None
    parents = [p for p in [row.in_reply_to, *reversed(_lines(row.reference_ids))] if p]
    title = clean_title(row.subject if account.privacy != "minimal" else "Sent mail")
    return {"ids": [row.message_ref] if own else [], "parents": parents, "title": title}


def _said_to(row: OutgoingMail) -> str:
    return ", ".join(f"`{a}`" for a in [*_lines(row.to_addrs), *_lines(row.cc_addrs)])


def sent(account: Account, row: OutgoingMail, refused: dict[str, str]) -> Alert:
    """The sent message as the conversation shows it, at the account's privacy level."""
    embed: dict[str, Any] = {
        "title": SENT_TITLE if row.in_reply_to else NEW_TITLE,
        "color": GREEN,
        "description": BY_LINE.format(member=row.sent_by, to=_said_to(row)),
        "fields": [],
    }
    if account.privacy != "minimal":
        embed["fields"].append({"name": "Subject", "value": row.subject[:1000] or "-"})
    if account.privacy in ("snippet", "full") and row.body.strip():
        limit = TEXT_MAX if account.privacy == "full" else SNIPPET_MAX
        text = row.body if len(row.body) <= limit else row.body[: limit - 1] + "\u2026"
        embed["fields"].append({"name": "Message", "value": text[:1024]})
        if len(text) > 1024:
            embed["description"] += "\n\n" + text
            embed["fields"].pop()
    if row.attachments and account.privacy != "minimal":
        names = ", ".join(f"`{n}`" for n in _lines(row.attachments))
        embed["fields"].append({"name": "Attachments", "value": names[:1000]})
    if refused:
        who = ", ".join(f"`{a}` ({r[:100]})" for a, r in refused.items())
        embed["fields"].append(
            {"name": "Not delivered", "value": REFUSED_SOME.format(who=who)[:1000]}
        )
    return Alert(embed, mention=False, thread=thread_entry(account, row, own=True))


def failed(account: Account, row: OutgoingMail, reason: str) -> Alert:
    embed = {
        "title": FAILED_TITLE,
        "color": RED,
        "description": FAILED_TEXT.format(reason=reason[:1500]) + f"\n<@{row.sent_by}>",
    }
    return Alert(embed, mention=False, thread=thread_entry(account, row, own=False))


def unknown(account: Account, row: OutgoingMail) -> Alert:
    embed = {
        "title": UNKNOWN_TITLE,
        "color": ORANGE,
        "description": UNKNOWN_TEXT + "\n" + BY_LINE.format(member=row.sent_by, to=_said_to(row)),
    }
    return Alert(
        embed,
        mention=False,
        thread=thread_entry(account, row, own=False),
        view={"outgoing": row.id},
    )


def copy_failed(account: Account, row: OutgoingMail, reason: str) -> Alert:
    embed = {
        "title": COPY_FAILED_TITLE,
        "color": GREY,
        "description": COPY_FAILED_TEXT.format(reason=reason[:1500]),
    }
    return Alert(embed, mention=False, thread=thread_entry(account, row, own=False))
