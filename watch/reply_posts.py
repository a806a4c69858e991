"""What the conversation hears about an outgoing message (SPEC section 13), as outbox
Alerts: the sent reply at the account's privacy level, a refusal with the server's
reason, the one notice of an unknown outcome (with Resend and Discard), a failed Sent
copy. Pure; rendered with `t`, the guild's language when the notice is queued (the outbox
keeps the rendered embed)."""

from __future__ import annotations

from typing import Any

from i18n import ENGLISH, N_, Explained, Msg, Translator
from storage.models import Account, OutgoingMail
from storage.outbox import Alert
from watch.conversations import clean_title

SENT_TITLE = N_("Reply sent")
NEW_TITLE = N_("Message sent")
FAILED_TITLE = N_("Reply not sent")
UNKNOWN_TITLE = N_("Reply may not have been sent")
UNKNOWN_TEXT = N_(
    "Mailsync stopped while the server was taking this message, so nobody knows whether "
    "it went out. It is not sent again on its own: **Resend** sends it once more (the "
    "recipients may get it twice), **Discard** keeps it unsent."
)
FAILED_TEXT = N_("The mail server refused it: {reason}")
COPY_FAILED_TITLE = N_("No copy in Sent")
COPY_FAILED_TEXT = N_(
    "The reply was sent, but saving its copy in the Sent folder failed: {reason}. It is "
    "not sent again."
)
BY_LINE = N_("Sent by {member} to {to}")
REFUSED_SOME = N_("Refused recipients: {who}")
TEXT_MAX = 3500
SNIPPET_MAX = 300
REASON_MAX = 1500
GREY, GREEN, RED, ORANGE = 0x95A5A6, 0x2ECC71, 0xE74C3C, 0xE67E22

Reason = Explained | Msg | str  # a MailError or a Msg is shown in the guild's language


def _lines(text: str | None) -> list[str]:
    return [t for t in (text or "").split("\n") if t]


def _reason(reason: Reason, t: Translator) -> str:
    text = reason.render(t) if isinstance(reason, Explained | Msg) else reason
    return text[:REASON_MAX]


def thread_entry(
    account: Account, row: OutgoingMail, own: bool, t: Translator = ENGLISH
) -> dict[str, Any] | None:
    """Where it goes: the conversation of the mail it answers (threads on). `own`: link
    its Message-ID with the post, so an answer to it threads there too."""
    if not account.threads:
        return None
    parents = [p for p in [row.in_reply_to, *reversed(_lines(row.reference_ids))] if p]
    title = clean_title(row.subject if account.privacy != "minimal" else t("Sent mail"), t)
    return {"ids": [row.message_ref] if own else [], "parents": parents, "title": title}


def _said_to(row: OutgoingMail) -> str:
    return ", ".join(f"`{a}`" for a in [*_lines(row.to_addrs), *_lines(row.cc_addrs)])


def _by_line(row: OutgoingMail, t: Translator) -> str:
    member = f"<@{row.sent_by}>"
    return t(BY_LINE, member=member, to=_said_to(row))


def sent(
    account: Account, row: OutgoingMail, refused: dict[str, str], t: Translator = ENGLISH
) -> Alert:
    """The sent message as the conversation shows it, at the account's privacy level."""
    embed: dict[str, Any] = {
        "title": t(SENT_TITLE if row.in_reply_to else NEW_TITLE),
        "color": GREEN,
        "description": _by_line(row, t),
        "fields": [],
    }
    if account.privacy != "minimal":
        embed["fields"].append({"name": t("Subject"), "value": row.subject[:1000] or "-"})
    if account.privacy in ("snippet", "full") and row.body.strip():
        limit = TEXT_MAX if account.privacy == "full" else SNIPPET_MAX
        text = row.body if len(row.body) <= limit else row.body[: limit - 1] + "\u2026"
        embed["fields"].append({"name": t("Message"), "value": text[:1024]})
        if len(text) > 1024:
            embed["description"] += "\n\n" + text
            embed["fields"].pop()
    if row.attachments and account.privacy != "minimal":
        names = ", ".join(f"`{n}`" for n in _lines(row.attachments))
        embed["fields"].append({"name": t("Attachments"), "value": names[:1000]})
    if refused:
        none = t("(no reason given)")
        who = ", ".join(f"`{a}` ({(r or none)[:100]})" for a, r in refused.items())
        embed["fields"].append(
            {"name": t("Not delivered"), "value": t(REFUSED_SOME, who=who)[:1000]}
        )
    return Alert(embed, mention=False, thread=thread_entry(account, row, True, t))


def failed(account: Account, row: OutgoingMail, reason: Reason, t: Translator = ENGLISH) -> Alert:
    embed = {
        "title": t(FAILED_TITLE),
        "color": RED,
        "description": t(FAILED_TEXT, reason=_reason(reason, t)) + f"\n<@{row.sent_by}>",
    }
    return Alert(embed, mention=False, thread=thread_entry(account, row, False, t))


def unknown(account: Account, row: OutgoingMail, t: Translator = ENGLISH) -> Alert:
    embed = {
        "title": t(UNKNOWN_TITLE),
        "color": ORANGE,
        "description": t(UNKNOWN_TEXT) + "\n" + _by_line(row, t),
    }
    return Alert(
        embed,
        mention=False,
        thread=thread_entry(account, row, False, t),
        view={"outgoing": row.id},
    )


def copy_failed(
    account: Account, row: OutgoingMail, reason: Reason, t: Translator = ENGLISH
) -> Alert:
    embed = {
        "title": t(COPY_FAILED_TITLE),
        "color": GREY,
        "description": t(COPY_FAILED_TEXT, reason=_reason(reason, t)),
    }
    return Alert(embed, mention=False, thread=thread_entry(account, row, False, t))
