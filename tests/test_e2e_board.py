"""End to end, /mail board (SPEC section 9): a status message posted once, edited in place
through the outbox when something changed and at most once per minimum interval (scaled
down here), posted again when deleted, deleted when the board or the account ends."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from storage import boards
from storage.models import OutboxAlert
from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import until


def _board_channel(double) -> int:
    """The guild's second text channel: boards apart from the alerts."""
    return next(c.id for c in double.guild.channels if c.type == 0 and c.id != double.channel_id)


def _text(message: dict) -> str:
    parts = []
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
    return "\n".join(parts)


async def _shown(harness, account_id: int, *needles: str, timeout: float = 20.0):
    """Wait until the board's message shows every needle; returns (message id, text)."""

    def current():
        board = boards.get(harness.bot.engine, account_id)
        if board is None or board.message_id is None:
            return None
        message = harness.double.message(board.message_id)
        if message is None:
            return None
        text = _text(message)
        return (board.message_id, text) if all(n in text for n in needles) else None

    try:
        return await until(current, timeout)
    except TimeoutError:
        board = boards.get(harness.bot.engine, account_id)
        shown = board and board.message_id and harness.double.message(board.message_id)
        raise AssertionError(f"board never showed {needles}; it shows {shown}") from None


async def _quiet(harness, account_id: int) -> None:
    """No board refresh running or waiting and nothing left in the outbox."""
    await until(lambda: not harness.watcher.boards.busy(account_id))
    await harness.posts()


def _board_requests(double, channel: int, after: int = 0):
    return [r for r in double.requests[after:] if r.path.startswith(f"/channels/{channel}/")]


async def _start(harness, user, name: str, channel: int | None, min_interval: float = 1.0):
    await harness.add_account(user, name=name, interval=60)
    account_id = harness.account_id(name)
    harness.watcher.boards.min_interval = min_interval
    await until(lambda: harness.watcher.pushed(account_id))
    options = {"account": name} | ({"channel": channel} if channel else {})
    reply = await harness.reply_text(await harness.command("mail board", options))
    assert "status board" in reply
    return account_id


async def test_board_is_posted_then_edited_in_place_when_mail_arrives(harness, dovecot, mail_user):
    """The board shows counts and the newest mail; new mail and mail read elsewhere edit the
    same message (PATCH), never a second post."""
    dovecot.append(mail_user, make_message(subject="before the board"))
    async with harness.running():
        channel = _board_channel(harness.double)
        account_id = await _start(harness, mail_user, "b", channel)
        first, text = await _shown(
            harness, account_id, "INBOX** \N{EM DASH} 1 message, 1 unseen", "before the board"
        )
        assert "Working" in text
        dovecot.append(mail_user, make_message(subject="board news"))
        second, _ = await _shown(harness, account_id, "2 messages, 2 unseen", "board news")
        with dovecot.imap(mail_user) as client:  # read in another mail client
            client.select_folder("INBOX")
            client.add_flags(client.search("ALL")[:1], [b"\\Seen"])
        third, _ = await _shown(harness, account_id, "2 messages, 1 unseen")
        assert first == second == third
        assert len(harness.double.channel_messages(channel)) == 1
        edits = harness.double.find("PATCH", rf"^/channels/{channel}/messages/{first}$")
        assert len(edits) >= 2
        assert all(r.json["allowed_mentions"] == {"parse": []} for r in edits)


async def test_board_is_not_edited_when_nothing_changed(harness, dovecot, mail_user):
    """Polls and quota reads that change nothing the board shows refresh it without an edit."""
    dovecot.append(mail_user, make_message(subject="steady"))
    async with harness.running():
        channel = _board_channel(harness.double)
        account_id = await _start(harness, mail_user, "still", channel)
        await _shown(harness, account_id, "1 message, 1 unseen", "steady", "pushed")
        await _quiet(harness, account_id)
        mark = harness.double.mark()
        before = harness.watcher.boards.refreshes[account_id]
        for _ in range(2):
            check = await harness.command("mail check", {"account": "still"})
            assert "0 new messages" in await harness.reply_text(check)
            await _quiet(harness, account_id)
        assert harness.watcher.boards.refreshes[account_id] >= before + 2
        assert _board_requests(harness.double, channel, mark) == []


async def test_board_edits_at_most_once_per_minimum_interval(harness, dovecot, mail_user):
    """Mail right after an edit waits for the interval; two arrivals meanwhile make one edit."""
    async with harness.running():
        channel = _board_channel(harness.double)
        account_id = await _start(harness, mail_user, "slow", channel, min_interval=3.0)
        board_id, _ = await _shown(harness, account_id, "0 messages", "pushed")
        await _quiet(harness, account_id)
        path = rf"^/channels/{channel}/messages/{board_id}$"
        dovecot.append(mail_user, make_message(subject="first wave"))
        first = await harness.double.wait_for(
            lambda r: "first wave" in json.dumps(r.json), method="PATCH", path=path, timeout=20
        )
        dovecot.append(mail_user, make_message(subject="second wave"))
        dovecot.append(mail_user, make_message(subject="third wave"))
        await _shown(harness, account_id, "3 messages", "third wave")
        later = [r for r in harness.double.find("PATCH", path) if r.index > first.index]
        assert len(later) == 1  # both arrivals folded into one edit
        assert later[0].monotonic - first.monotonic >= 2.5  # 3 s after the first was queued


async def test_deleted_board_is_posted_again(harness, dovecot, mail_user):
    """A board deleted in Discord: the next edit gets 404 and the board is posted anew, its
    new message id stored on the board and on the outbox row that posted it."""
    async with harness.running():
        channel = _board_channel(harness.double)
        account_id = await _start(harness, mail_user, "phoenix", channel)
        first, _ = await _shown(harness, account_id, "0 messages", "pushed")
        await _quiet(harness, account_id)
        assert harness.double.remove_message(first)
        dovecot.append(mail_user, make_message(subject="after deletion"))
        second, _ = await _shown(harness, account_id, "after deletion")
        assert second != first
        assert harness.double.find("PATCH", rf"/messages/{first}$", status=404)
        assert len(harness.double.channel_messages(channel)) == 2
        with Session(harness.bot.engine) as session:
            row = session.exec(
                select(OutboxAlert)
                .where(OutboxAlert.kind == "board", col(OutboxAlert.sent_at).is_not(None))
                .order_by(col(OutboxAlert.id).desc())
            ).first()
        assert row is not None and row.message_id == second


async def test_remove_true_deletes_the_board_and_stops_edits(harness, dovecot, mail_user):
    """remove:true deletes the board's message; later mail is alerted but edits nothing.
    Alerts keep the id of the message they posted."""
    async with harness.running():
        channel = _board_channel(harness.double)
        account_id = await _start(harness, mail_user, "gone", channel)
        board_id, _ = await _shown(harness, account_id, "pushed")
        options = {"account": "gone", "remove": True}
        reply = await harness.reply_text(await harness.command("mail board", options))
        assert "deleted its message" in reply
        assert harness.double.message(board_id) is None
        assert boards.get(harness.bot.engine, account_id) is None
        mark = harness.double.mark()
        dovecot.append(mail_user, make_message(subject="after the end"))
        assert await harness.titles(1) == ["after the end"]
        await harness.settled(1)
        await _quiet(harness, account_id)
        assert _board_requests(harness.double, channel, mark) == []
        with Session(harness.bot.engine) as session:
            alert = session.exec(select(OutboxAlert).where(OutboxAlert.kind == "post")).one()
        message = harness.double.message(alert.message_id)
        assert message is not None and message["nonce"] == alert.nonce
        again = await harness.command("mail board", options)
        assert "has no status board" in await harness.reply_text(again)


async def test_mail_remove_deletes_the_board(harness, dovecot, mail_user):
    """/mail remove ends the account's board with its message."""
    async with harness.running():
        channel = _board_channel(harness.double)
        account_id = await _start(harness, mail_user, "bye", channel)
        board_id, _ = await _shown(harness, account_id, "pushed")
        reply = await harness.reply_text(await harness.command("mail remove", {"account": "bye"}))
        assert "status board" in reply
        assert harness.double.message(board_id) is None
        assert not harness.watcher.boards.busy(account_id)


async def test_pop3_board_shows_the_mailbox_and_the_archive(harness, dovecot, mail_user):
    """POP3: the INBOX count and size from the last STAT, the archive's totals, the newest
    archived message; in the account's own channel when no channel is given."""
    dovecot.append(mail_user, make_message(subject="old pop"))
    async with harness.running():
        _, reply = await harness.add_account(
            mail_user, protocol="pop3", port=dovecot.pop3s_port, name="pb", interval=60
        )
        assert "Watching" in reply
        account_id = harness.account_id("pb")
        harness.watcher.boards.min_interval = 1.0
        await harness.reply_text(await harness.command("mail board", {"account": "pb"}))
        dovecot.append(mail_user, make_message(subject="fresh pop"))
        check = await harness.command("mail check", {"account": "pb"})
        assert "1 new message" in await harness.reply_text(check)
        board_id, text = await _shown(
            harness,
            account_id,
            "INBOX** \N{EM DASH} 2 messages",
            "Archive** \N{EM DASH} 1 message,",
        )
        assert "fresh pop" in text
        assert "POP3 has no quota" in text
        board = harness.double.message(board_id)
        assert board["channel_id"] == str(harness.double.channel_id)


async def test_board_edits_wait_out_an_outage_as_one_edit(harness, dovecot, mail_user):
    """While Discord fails (5xx) the board's changes wait in one outbox row; when it answers
    again the board gets one edit with the latest state, not one per change."""
    async with harness.running():
        channel = _board_channel(harness.double)
        account_id = await _start(harness, mail_user, "storm", channel)
        board_id, _ = await _shown(harness, account_id, "0 messages", "pushed")
        await _quiet(harness, account_id)
        path = rf"^/channels/{channel}/messages/{board_id}$"
        mark = harness.double.mark()
        harness.double.fail_for("PATCH", path, seconds=120, status=503)

        def queued_hash():
            return boards.get(harness.bot.engine, account_id).content_hash

        for subject in ("storm one", "storm two"):
            seen = queued_hash()
            dovecot.append(mail_user, make_message(subject=subject))
            await until(lambda seen=seen: queued_hash() != seen, timeout=20)
        await harness.double.wait_for(method="PATCH", path=path, status=503, after=mark)
        harness.double.clear_status("PATCH", path)
        await _shown(harness, account_id, "2 messages", "storm two")
        done = [r for r in harness.double.find("PATCH", path, status=200) if r.index > mark]
        assert len(done) == 1


async def test_a_refused_board_channel_stops_the_board_not_the_alerts(harness, dovecot, mail_user):
    """Discord refuses the board's channel (403): the board stops, alerts keep flowing in
    their own channel, and /mail board starts it again."""
    async with harness.running():
        channel = _board_channel(harness.double)
        harness.double.fail_next("POST", rf"^/channels/{channel}/messages$", statuses=(403,))
        account_id = await _start(harness, mail_user, "shut", channel)
        await until(lambda: boards.get(harness.bot.engine, account_id).broken)
        dovecot.append(mail_user, make_message(subject="still alerted"))
        assert await harness.titles(1) == ["still alerted"]
        await harness.reply_text(await harness.command("mail board", {"account": "shut"}))
        # the default channel now: the account's alert channel
        await _shown(harness, account_id, "1 message", "still alerted")
        assert boards.get(harness.bot.engine, account_id).broken is None


async def test_board_never_shows_mail_a_rule_sends_elsewhere_or_mutes(harness, dovecot, mail_user):
    """A rule sends to:hr@ mail to another channel and mutes to:noise@: the board (here in
    the alert channel) keeps showing the newest mail that was posted there, not those."""
    async with harness.running():
        d = harness.double
        elsewhere = _board_channel(d)
        account_id = await _start(harness, mail_user, "b", None)
        for match, extra in (("to:hr@", {"channel": elsewhere}), ("to:noise@", {"mute": True})):
            options = {"account": "b", "match": match, **extra}
            said = await harness.reply_text(await harness.command("mail rule add", options))
            assert "Rule" in said, said
        dovecot.append(mail_user, make_message(subject="lunch menu", to="all@x.example"))
        await _shown(harness, account_id, "lunch menu")
        dovecot.append(mail_user, make_message(subject="salary review", to="hr@x.example"))
        dovecot.append(mail_user, make_message(subject="spam blast", to="noise@x.example"))
        posted = await until(
            lambda: [m for m in d.messages_in(elsewhere) if "salary review" in _text(m)]
        )
        assert posted
        await harness.settled()
        await _quiet(harness, account_id)
        _, text = await _shown(harness, account_id, "lunch menu", "3 messages")
        assert "salary review" not in text and "spam blast" not in text
