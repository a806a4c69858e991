"""watch/conversations.py: the thread entry an alert carries and the thread/post names,
which show no more than the alert does at the account's privacy."""

from cogs._threads import _embed_title
from i18n import translator
from mail.types import NewMessage
from storage.models import Account
from watch.conversations import TITLE_MAX, thread_entry, title


def _message(**kw):
    fields = {"folder": "INBOX", "uid": 1, "subject": "Plans", "sender": "a", "date": None}
    fields.update(kw)
    return NewMessage(snippet="", **fields)


def _account(privacy="snippet"):
    return Account(threads=True, privacy=privacy)


def test_titles_follow_privacy():
    """minimal hides the subject (the alert's own "New mail in FOLDER"); the other levels
    show it on one line, trimmed to 100 characters; an empty one gets a placeholder."""
    secret = _message(subject="Salary review", folder="Board")
    assert title(secret, "minimal") == "New mail in Board"
    for privacy in ("headers", "snippet", "full"):
        assert title(secret, privacy) == "Salary review"
    assert title(_message(subject="a\r\n\tb\x00c"), "headers") == "a b c"
    long = title(_message(subject="x" * 300), "snippet")
    assert len(long) == TITLE_MAX and long.endswith("\N{HORIZONTAL ELLIPSIS}")
    assert title(_message(subject=" \t "), "snippet") == "(no subject)"


def test_entry_lists_own_id_and_parents_nearest_first():
    """In-Reply-To, then References newest to oldest, without duplicates or the message
    itself; threads off: no entry."""
    reply = _message(
        message_id="<3@x>",
        in_reply_to="<2@x>",
        references=("<1@x>", "<2@x>", "<3@x>"),
        subject="Re: Plans",
    )
    entry = thread_entry(_account(), reply)
    assert entry == {"ids": ["<3@x>"], "parents": ["<2@x>", "<1@x>"], "title": "Re: Plans"}
    assert thread_entry(_account(privacy="minimal"), reply)["title"] == "New mail in INBOX"
    assert thread_entry(Account(threads=False), reply) is None
    assert thread_entry(_account(), _message())["ids"] == []


def test_a_forum_post_that_is_no_single_alert_is_named_by_its_embed():
    """Digests and notices in a forum: the embed's title without markdown escapes."""
    assert _embed_title({"embed": {"title": "6 new messages in mail\\.example"}}) == (
        "6 new messages in mail.example"
    )
    assert _embed_title({"embed": {}}) == "Mailsync"


def test_thread_names_are_in_the_guilds_language():
    """A minimal-privacy thread name and the no-subject name follow the guild's language;
    a subject stays as the mail wrote it."""
    es = translator("es")
    assert thread_entry(_account(privacy="minimal"), _message(), es)["title"] == (
        "Correo nuevo en INBOX"
    )
    assert title(_message(subject=""), "snippet", es) == "(sin asunto)"
    assert title(_message(subject="Hola"), "snippet", translator("pt-BR")) == "Hola"
