"""Outgoing messages, pure (no sockets): checking what members typed (addresses, subject,
no CR/LF anywhere a header is made from) and building the MIME message with its threading
headers. Every refusal is a ComposeError whose text a member reads, in their language."""

from __future__ import annotations

import email.policy
import email.utils
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

from i18n import N_, Msg, MsgError

MAX_RECIPIENTS = 20
MAX_SUBJECT = 300
MAX_BODY = 4000  # Discord's modal limit for one input
MAX_REFERENCES_CHARS = 1000  # "about 1,000" (RFC 5322 lines stay under 998 with the name)
SIGNATURE_MAX = 500
# dot-atom local part and an ASCII domain of at least two labels (or localhost in tests
# would not pass: real mail has a dot). IDN and quoted local parts are not accepted.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}"
ADDRESS = re.compile(rf"{_LOCAL}@{_DOMAIN}")
_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
_LINE_BREAKS = re.compile(r"[\r\n\x00\u2028\u2029\x85]")


# The modal's field names (cogs/_reply_modal.py labels its inputs with the same msgids).
TO, CC, SUBJECT = Msg(N_("To")), Msg(N_("Cc")), Msg(N_("Subject"))


class ComposeError(MsgError):
    """What a member typed cannot be sent; str() says why in English, render(t) in the
    member's language."""


def no_line_breaks(field: Msg | str, value: str) -> str:
    """`value` for a header: CR, LF (and other line breaks) are refused, never stripped.
    `field` names where it was typed: a Msg (To, Cc, Subject) or an option in backticks."""
    if _LINE_BREAKS.search(value):
        raise ComposeError(
            N_("{field} must be one line: line breaks are not allowed there."), field=field
        )
    return value.strip()


def address(text: str, field: Msg | str) -> str:
    """One bare address, checked; `field` as for no_line_breaks."""
    candidate = no_line_breaks(field, text)
    if len(candidate) > 254 or not ADDRESS.fullmatch(candidate):
        raise ComposeError(
            N_("`{address}` is not a valid address in {field} (name@example.com)."),
            address=candidate[:80],
            field=field,
        )
    return candidate


def address_list(field: Msg, text: str) -> list[str]:
    """The addresses of a To or Cc field: separated by commas, semicolons or spaces, each
    bare or as `Name <address>` (the name is dropped); each once, in order."""
    text = no_line_breaks(field, text)
    found: list[str] = []
    for part in re.split(r"[,;]", text):
        part = part.strip()
        if not part:
            continue
        bracketed = re.fullmatch(r"[^<>]*<([^<>]+)>", part)
        words = [bracketed[1]] if bracketed else part.split()
        found.extend(address(w, field) for w in words)
    return list(dict.fromkeys(a.lower() for a in found))


def recipients(to: str, cc: str) -> tuple[list[str], list[str]]:
    """To and Cc checked: at least one To, at most MAX_RECIPIENTS in all, none twice."""
    to_list = address_list(TO, to)
    cc_list = [a for a in address_list(CC, cc) if a not in to_list]
    if not to_list:
        raise ComposeError(N_("{to} needs at least one address."), to=TO)
    if len(to_list) + len(cc_list) > MAX_RECIPIENTS:
        raise ComposeError(
            N_("At most {max} addresses in {to} and {cc} together."),
            max=MAX_RECIPIENTS,
            to=TO,
            cc=CC,
        )
    return to_list, cc_list


def subject(text: str) -> str:
    cleaned = no_line_breaks(SUBJECT, text)
    if len(cleaned) > MAX_SUBJECT:
        raise ComposeError(N_("The subject is longer than {max} characters."), max=MAX_SUBJECT)
    return cleaned


def reply_subject(original: str) -> str:
    """`Re: ...` without doubling (Re:, RE:, Aw:, Sv: prefixes already there are kept)."""
    text = " ".join(original.split())
    if re.match(r"(?i)(re|aw|sv|antw)\s*(\[\d+\])?\s*:", text):
        return text[:MAX_SUBJECT]
    return f"Re: {text}"[:MAX_SUBJECT] if text else "Re:"


def references(parent_refs: Sequence[str], parent_id: str | None) -> list[str]:
    """The reply's References: the parent's References then its Message-ID; past about
    1,000 characters the first id and the newest ones that fit are kept (RFC 5322 3.6.4)."""
    ids = [i for i in dict.fromkeys([*parent_refs, parent_id or ""]) if _MSG_ID.fullmatch(i)]
    if len(" ".join(ids)) <= MAX_REFERENCES_CHARS:
        return ids
    kept = [ids[-1]]
    budget = MAX_REFERENCES_CHARS - len(ids[0]) - len(ids[-1]) - 2
    for ref in reversed(ids[1:-1]):
        if len(ref) + 1 > budget:
            break
        kept.insert(0, ref)
        budget -= len(ref) + 1
    return [ids[0], *kept]


def new_message_id(from_address: str) -> str:
    """A Message-ID on the account's own domain."""
    domain = from_address.rpartition("@")[2] or "mailsync.invalid"
    return f"<{secrets.token_hex(12)}.mailsync@{domain}>"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Draft:
    """A checked message: addresses bare, subject one line, body plain text."""

    from_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc]


def with_signature(body: str, signature: str | None) -> str:
    return f"{body.rstrip()}\n\n-- \n{signature}" if signature else body


def build(draft: Draft, now: datetime | None = None) -> bytes:
    """The message as sent: UTF-8 plain text (7bit when it can, else quoted-printable),
    attachments as MIME parts, lines ending in CRLF."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = draft.from_address
    msg["To"] = ", ".join(draft.to)
    if draft.cc:
        msg["Cc"] = ", ".join(draft.cc)
    msg["Subject"] = draft.subject
    msg["Date"] = email.utils.format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = draft.message_id
    if draft.in_reply_to:
        msg["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        msg["References"] = " ".join(draft.references)
    msg["MIME-Version"] = "1.0"
    msg["User-Agent"] = "Mailsync"
    body = draft.body.replace("\r\n", "\n").replace("\r", "\n")
    plain = body.isascii() and all(len(line) < 990 for line in body.split("\n"))
    msg.set_content(body, charset="utf-8", cte="7bit" if plain else "quoted-printable")
    for a in draft.attachments:
        maintype, _, subtype = (a.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(
            a.data, maintype=maintype, subtype=subtype or "octet-stream", filename=a.filename
        )
    return msg.as_bytes()
