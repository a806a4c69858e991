"""Privacy levels of alerts (SPEC section 9), checked by what each embed leaves out as much
as by what it shows."""

import json
from datetime import UTC, datetime

import pytest

from cogs import _ui
from mail.types import NewMessage

MESSAGE = NewMessage(
    folder="Support",
    uid=7,
    subject="Invoice 4711 overdue",
    sender="Ada Lovelace <ada@example.com>",
    date=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
    snippet="Dear team, the invoice",
    attachments=("invoice.pdf", "terms.pdf"),
    text="Dear team, the invoice is overdue.\n\nSecond paragraph with the account number 991.",
)


def _shown(embed):
    return json.dumps(embed.to_dict(), ensure_ascii=False)


def _unescaped(embed):
    return _shown(embed).replace("\\\\", "")


@pytest.mark.parametrize(
    ("privacy", "present", "absent"),
    [
        ("minimal", ["New mail in Support", "<t:"], ["Invoice", "Ada", "ada@", "Dear", "pdf"]),
        (
            "headers",
            ["Invoice 4711 overdue", "Ada Lovelace", "Support", '"value": "2"'],
            ["Dear team", "invoice.pdf", "991"],
        ),
        ("snippet", ["Invoice 4711 overdue", "Dear team, the invoice", "invoice.pdf"], ["991"]),
        ("full", ["Second paragraph", "991", "invoice.pdf, terms.pdf"], []),
    ],
)
def test_each_privacy_level_shows_what_it_promises(privacy, present, absent):
    """minimal: folder and date; headers: no text, an attachment count; snippet: today's
    alert; full: the whole text and the attachment names."""
    shown = _unescaped(_ui.new_mail_embed("acct", MESSAGE, privacy))
    for text in present:
        assert text in shown, (privacy, text)
    for text in absent:
        assert text not in shown, (privacy, text)


def test_full_text_keeps_paragraphs_and_fits_the_embed():
    """The whole text keeps its line breaks and stays within Discord's limits."""
    long = NewMessage(**{**MESSAGE.__dict__, "text": "line\n" * 2000})
    embed = _ui.new_mail_embed("acct", long, "full")
    assert "\n" in embed.description
    assert len(embed) <= _ui.EMBED_TOTAL_MAX
    assert len(embed.description) <= _ui.DESCRIPTION_MAX


def test_minimal_digest_counts_per_folder_without_senders_or_subjects():
    """Digests follow the level: minimal lists counts per folder only."""
    others = [NewMessage(**{**MESSAGE.__dict__, "uid": i, "folder": "INBOX"}) for i in range(3)]
    shown = _unescaped(_ui.digest_embed("acct", [MESSAGE, *others], privacy="minimal"))
    assert "4 new messages" in shown
    assert "INBOX: 3" in shown and "Support: 1" in shown
    assert "Ada" not in shown and "Invoice" not in shown
    headers = _unescaped(_ui.digest_embed("acct", [MESSAGE, *others], privacy="headers"))
    assert "Invoice 4711 overdue" in headers
