"""Test messages: RFC 5322 bytes of a chosen size."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def make_message(
    subject: str = "Test message",
    sender: str = "a@example.com",
    to: str = "b@example.com",
    body: str = "Hello from the test suite.\n",
    size: int | None = None,
    date: dt.datetime | str | None = None,
    message_id: str | None = None,
) -> bytes:
    """An RFC 5322 message with CRLF line endings.

    `size` pads the body with plain ASCII lines so the whole message is that many bytes
    (within a byte for ASCII bodies; approximate if the body needs quoted-printable/base64;
    never shrinks a message that is already larger). `date` may be a datetime or a ready
    header string; `message_id` defaults to a fresh `<...@example.com>`.
    """
    if date is None:
        date = dt.datetime.now(dt.UTC)
    date_header = date if isinstance(date, str) else format_datetime(date)
    message_id = message_id or make_msgid(domain="example.com")

    def build(text: str) -> bytes:
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = date_header
        msg["Message-ID"] = message_id
        msg.set_content(text)
        return msg.as_bytes()

    raw = build(body)
    if size is None or size <= len(raw):
        return raw

    # Pad with lines of at most 76 chars (so the body stays 7bit) and then fix the rest.
    if not body.endswith("\n"):
        body += "\n"
    deficit = size - len(raw)
    line = "x" * 74 + "\n"  # 76 bytes on the wire with CRLF
    padding = line * (deficit // 76)
    rest = deficit % 76
    if rest >= 2:
        padding += "y" * (rest - 2) + "\n"
    return build(body + padding)
