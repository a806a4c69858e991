"""Helpers for the reply tests (SPEC section 13): an account with an outgoing server on
the rig's Dovecot submission service, a mail to answer, the Reply modal filled in."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy
from typing import Any

from storage import outgoing
from storage.models import OutgoingMail
from tests.plugins.mailsync import until
from tests.test_e2e_actions import ask

FROM = "desk@example.org"


def incoming(
    subject: str,
    message_id: str,
    sender: str = "Alice <alice@example.com>",
    to: str = f"{FROM}, bob@example.com",
    cc: str = "carol@example.com",
    reply_to: str | None = None,
    references: str | None = None,
) -> bytes:
    head = f"From: {sender}\r\nTo: {to}\r\nCc: {cc}\r\nSubject: {subject}\r\n"
    head += f"Message-ID: {message_id}\r\nDate: Mon, 07 Dec 2026 06:00:00 +0000\r\n"
    if reply_to:
        head += f"Reply-To: {reply_to}\r\n"
    if references:
        head += f"References: {references}\r\nIn-Reply-To: {references.split()[-1]}\r\n"
    return (head + "Content-Type: text/plain\r\n\r\nHello desk.\r\n").encode()


async def set_up(harness, user, name: str = "desk", threads: bool = True, **add: Any) -> int:
    """/mail add (with `add`'s options), /mail smtp (implicit TLS on the rig's submissions
    port), replies on, and threads on unless told otherwise."""
    _, said = await harness.add_account(user, name=name, **add)
    assert "Watching" in said, said
    options = {
        "account": name,
        "host": harness.dovecot.host,
        "port": harness.dovecot.submissions_port,
        "security": "tls",
        "from_address": FROM,
    }
    said = await ask(harness, "mail smtp", options)
    assert "login was checked" in said, said
    edit = {"account": name, "replies": "on"}
    if threads:
        edit["threads"] = "on"
    said = await ask(harness, "mail edit", edit)
    assert "Reply buttons" in said or "Reply and Reply all" in said, said
    await harness.settled()
    return harness.account_id(name)


async def deliver(harness, user, raw: bytes, name: str = "desk") -> dict[str, Any]:
    """Append, poll now, and return the alert once posted."""
    await harness.settled()
    before = {m["id"] for m in harness.double.messages_in(harness.double.channel_id)}
    harness.dovecot.append(user, raw)
    await ask(harness, "mail check", {"account": name})

    def posted():
        new = [
            m
            for m in harness.double.messages_in(harness.double.channel_id)
            if m["id"] not in before and "webhook_id" not in m and m.get("embeds")
        ]
        return new[-1] if new else None

    found = await until(posted, 30)
    await harness.settled()
    return harness.double.message(int(found["id"]))


def modal_values(harness) -> dict[str, str]:
    """The last modal's inputs as shown: {label: prefilled value}."""
    modal = harness.double._last_modal
    out: dict[str, str] = {}
    for row in modal["components"]:
        inner = row.get("components") or [row.get("component")]
        for c in inner:
            if c and c.get("type") == 4:
                out[c.get("label") or row.get("label")] = c.get("value", "")
    return out


async def press(harness, message_id: int, label: str, user_id: int | None = None, **kw):
    """Press a button and wait for the callback (a modal, or an ephemeral refusal)."""
    d = harness.double
    handle = await d.press(message_id, user_id or d.admin_id, label=label, **kw)
    await until(lambda: [r for r in handle.replies if r["kind"] == "callback"], 20)
    return handle


async def submit(harness, values: dict[str, str], user_id: int | None = None, **kw) -> str:
    d = harness.double
    handle = await d.submit_modal(
        d.guild_id, kw.pop("channel_id", d.channel_id), user_id or d.admin_id, values=values, **kw
    )
    return await harness.reply_text(handle, timeout=30)


def rows(harness, account_id: int) -> list[OutgoingMail]:
    from sqlmodel import Session, select

    with Session(harness.bot.engine) as session:
        found = session.exec(select(OutgoingMail).where(OutgoingMail.account_id == account_id))
        return sorted(found.all(), key=lambda r: r.id)


async def settled_state(harness, account_id: int, state: str, timeout: float = 60) -> OutgoingMail:
    def find():
        got = rows(harness, account_id)
        return got[-1] if got and got[-1].state == state else None

    try:
        return await until(find, timeout)
    except TimeoutError:
        raise AssertionError(f"never {state}: {rows(harness, account_id)}") from None


def parsed(data: bytes):
    return message_from_bytes(data, policy=policy.default)


async def copy_settled(harness, row_id: int, timeout: float = 30) -> str:
    def find():
        row = outgoing.get(harness.bot.engine, row_id)
        return row.sent_copy if row else None

    return await until(find, timeout)


async def quiet(seconds: float) -> None:
    await asyncio.sleep(seconds)
