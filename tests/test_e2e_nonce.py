"""End to end: every alert carries a nonce no other alert ever had (issue 20, "an alert
silently lost"), so Discord's enforce_nonce never mistakes a new alert for an old one."""

from sqlalchemy import create_engine, text

from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import until


def _outbox(harness) -> list[tuple[int, str, object]]:
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("select id, nonce, sent_at from outbox order by id"))
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


async def test_alert_after_removing_the_newest_rows_account_is_posted(harness, dovecot, mail_user):
    """An account removed right after it posted (its outbox rows the newest), another added:
    the new account's first alert is posted, though SQLite hands its row the same id."""
    other = dovecot.add_user()
    async with harness.running():
        await harness.add_account(mail_user, name="gone")
        dovecot.append(mail_user, make_message(subject="from the removed account"))
        first = await harness.posts(1)
        [(old_id, old_nonce, _)] = _outbox(harness)
        assert first[0]["nonce"] == old_nonce

        reply = await harness.command("mail remove", {"account": "gone"})
        assert "Removed `gone`" in await harness.reply_text(reply)
        assert _outbox(harness) == []  # the removal took its outbox rows with it

        await harness.add_account(other, name="new")
        dovecot.append(other, make_message(subject="first alert of the new account"))
        posts = await harness.posts(2, timeout=30)
        titles = [p["embeds"][0]["title"] for p in posts]
        assert titles == ["from the removed account", "first alert of the new account"]
        [(new_id, new_nonce, sent_at)] = await until(lambda: _outbox(harness) or None)
        assert sent_at is not None
        assert new_nonce != old_nonce and posts[1]["nonce"] == new_nonce
        assert len(new_nonce) <= 25  # Discord's limit for a string nonce
        if harness.settings.database_url.startswith("sqlite"):
            assert new_id == old_id  # the reuse that made `ms<id>` collide
