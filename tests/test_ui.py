"""cogs/_ui.py: mail text is inert in Discord and embeds hold Discord's limits."""

from datetime import UTC, datetime

from cogs import _ui
from mail.types import NewMessage


def _msg(**kw):
    base = dict(
        folder="INBOX",
        uid=1,
        subject="Hello",
        sender="a@example.com",
        date=datetime(2026, 11, 1, tzinfo=UTC),
        snippet="body",
    )
    base.update(kw)
    return NewMessage(**base)


def test_mentions_are_escaped():
    """@everyone, @here and <@id> from mail cannot form a mention."""
    text = _ui.mail_text("@everyone @here <@123456789012345678> <@&123456789012345678>", 500)
    assert "@everyone" not in text
    assert "@here" not in text
    assert "<@123456789012345678>" not in text
    assert "<@&" not in text


def test_markdown_and_masked_links_are_escaped():
    """Bold, code, headings and [text](url) links from mail render literally."""
    text = _ui.mail_text("**bold** `code` # head [click](https://evil.example)", 500)
    assert "**" not in text.replace("\\*", "")
    assert "\\[click\\]\\(https" in text


def test_new_mail_embed_holds_every_limit():
    """Huge subject, sender and snippet stay within title/field/total limits."""
    embed = _ui.new_mail_embed(
        "acct",
        _msg(
            subject="S" * 5000, sender="x" * 5000, snippet="y" * 5000, attachments=("a" * 900,) * 5
        ),
    )
    assert len(embed.title) <= 256
    assert all(len(f.value) <= 1024 for f in embed.fields)
    assert len(embed.description) <= 4096
    assert len(embed) <= 6000


def test_digest_lists_newest_twenty_and_counts_the_rest():
    """A digest shows the count, the newest 20 lines, and how many older were left out."""
    messages = [
        _msg(uid=i, subject=f"s{i}", date=datetime(2026, 1, 1 + i, tzinfo=UTC)) for i in range(25)
    ]
    embed = _ui.digest_embed("acct", messages)
    assert embed.title == "25 new messages"
    lines = embed.description.splitlines()
    assert len(lines) == 21
    assert "s24" in lines[0]
    assert lines[-1].endswith("and 5 older")
