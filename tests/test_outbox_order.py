"""The outbox keeps order within a channel: a row postponed after a 429 or a failure holds
the rows behind it in its channel (not other channels), and the sender's wake-up time is
that row's; a row moved or settled while the sender held it is not sent from the stale copy."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from mail.types import FolderState
from storage import outbox, repo
from storage.db import make_engine, migrate
from storage.models import FolderStateRow, LiveAlert, OutboxAlert
from storage.outbox import Alert
from tests.test_shards import _new_account


def test_a_postponed_row_holds_its_channel_only(database_url):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        account = repo.create_account(engine, _new_account(1 << 22, "a"))
        other = 999
        outbox.enqueue(
            engine,
            account,
            [
                Alert({"title": "1"}),
                Alert({"title": "2"}),
                Alert({"title": "x"}, channel_id=other),
                Alert({"title": "3"}),
            ],
        )
        now = outbox.utcnow()
        first, second, elsewhere, third = outbox.due(engine, now)
        assert (second.channel_id, elsewhere.channel_id) == (account.channel_id, other)

        outbox.postpone(engine, first.id, timedelta(seconds=30))
        later = now + timedelta(seconds=1)
        assert [r.id for r in outbox.due(engine, later)] == [elsewhere.id]
        outbox.mark_sent(engine, elsewhere.id, 5)
        waiting_until = outbox.next_due_at(engine)
        assert waiting_until is not None and waiting_until > later + timedelta(seconds=20)

        resumed = later + timedelta(seconds=40)  # the postponed row's time has come: in order
        assert [r.id for r in outbox.due(engine, resumed)] == [first.id, second.id, third.id]
    finally:
        engine.dispose()


def test_any_unsent_says_whether_the_sender_has_anything_to_look_at(database_url):
    """The sender's quiet minute asks only this; held and postponed rows count too (due()
    and next_due_at() then decide what to do with them)."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        account = repo.create_account(engine, _new_account(1 << 22, "a"))
        assert not outbox.any_unsent(engine)
        outbox.enqueue(engine, account, [Alert({"title": "1"}), Alert({"title": "2"})])
        assert outbox.any_unsent(engine)
        first, second = outbox.due(engine, outbox.utcnow())
        outbox.mark_sent(engine, first.id, 1)
        outbox.postpone(engine, second.id, timedelta(minutes=5))
        assert outbox.any_unsent(engine)  # postponed, still to be sent
        outbox.mark_sent(engine, second.id, 2)
        assert not outbox.any_unsent(engine)
    finally:
        engine.dispose()


def test_a_row_moved_or_settled_meanwhile_is_not_waiting(database_url):
    engine = make_engine(database_url)
    try:
        migrate(engine)
        account = repo.create_account(engine, _new_account(1 << 22, "a"))
        outbox.enqueue(engine, account, [Alert({"title": "1"}), Alert({"title": "2"})])
        moved, sent = outbox.due(engine, outbox.utcnow())
        assert outbox.still_waiting(engine, moved.id, account.channel_id)
        repo.update_account(engine, account.id, {"channel_id": 4242})
        assert not outbox.still_waiting(engine, moved.id, account.channel_id)
        assert outbox.still_waiting(engine, moved.id, 4242)
        outbox.mark_sent(engine, sent.id, 7)
        assert not outbox.still_waiting(engine, sent.id, 4242)
    finally:
        engine.dispose()


def test_sent_rows_older_than_a_week_are_pruned_except_live_alerts(database_url):
    """A board edits through a new row every interval: sent rows go after a week, unsent
    ones never, and a live alert's post stays (its edits start from its embed)."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        account = repo.create_account(engine, _new_account(1 << 22, "a"))
        outbox.enqueue(engine, account, [Alert({"title": str(n)}) for n in range(4)])
        old, live, recent, unsent = outbox.due(engine, outbox.utcnow())
        for row in (old, live, recent):
            outbox.mark_sent(engine, row.id, 100 + row.id)
        with Session(engine) as session:
            folder = FolderStateRow(
                account_id=account.id, folder="INBOX", uidvalidity=1, highest_uid=1
            )
            session.add(folder)
            session.flush()
            session.add(
                LiveAlert(
                    account_id=account.id,
                    folder_id=folder.id,
                    uidvalidity=1,
                    uid=1,
                    outbox_id=live.id,
                    channel_id=account.channel_id,
                )
            )
            session.commit()
        week_on = outbox.utcnow() + timedelta(days=7, minutes=1)
        later = outbox.utcnow() + timedelta(days=3)
        with Session(engine) as session:  # `recent` was sent 3 days before the prune
            session.get(OutboxAlert, recent.id).sent_at = later
            session.commit()
        assert outbox.prune_sent(engine, week_on) == 1
        with Session(engine) as session:
            left = {r.id for r in session.exec(select(OutboxAlert)).all()}
        assert left == {live.id, recent.id, unsent.id}
    finally:
        engine.dispose()


def test_a_poll_whose_folder_state_moved_meanwhile_queues_nothing(database_url):
    """Compare-and-set of the highest UID: a second writer (a process that took the shard
    over) that starts from the same state cannot queue the same mail again."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        account = repo.create_account(engine, _new_account(1 << 22, "a"))
        before = repo.folder_states(engine, account.id)
        assert before == {}  # no baseline yet: both writers start from nothing
        ahead = {"INBOX": FolderState(1, 7)}
        outbox.enqueue_with_folder_states(
            engine, account, [Alert({"title": "first writer"})], ahead, expected=before
        )
        with pytest.raises(repo.StateMovedError):
            outbox.enqueue_with_folder_states(
                engine, account, [Alert({"title": "second writer"})], ahead, expected=before
            )
        titles = [
            json.loads(r.payload)["embed"]["title"] for r in outbox.due(engine, outbox.utcnow())
        ]
        assert titles == ["first writer"]
        assert repo.folder_states(engine, account.id)["INBOX"].highest_uid == 7
    finally:
        engine.dispose()


def test_pop3_mail_announced_by_another_writer_is_not_announced_again(database_url):
    """Compare-and-set of the unannounced archive rows: two writers that read the same
    downloaded mail (a process taking the shard over, and the one it replaces) queue its
    alert once; the second queues nothing, and later mail is announced as usual."""
    from mail.pop3 import Downloaded
    from storage import archive
    from tests.plugins.dovecot import make_message
    from tests.store_helpers import new_account

    engine = make_engine(database_url)
    try:
        migrate(engine)
        account = repo.create_account(
            engine, new_account(guild_id=1 << 22, name="p", protocol="pop3", port=995)
        )
        raws = [make_message(subject=f"m{i}") for i in range(3)]
        archive.store(engine, account.id, [Downloaded(f"u{i}", 9, r) for i, r in enumerate(raws)])
        rows, total = archive.unannounced(engine, account.id)  # both writers read this
        up_to = max(r.id for r in rows)
        outbox.enqueue_archived(engine, account, [Alert({"title": "first"})], up_to, expected=total)
        with pytest.raises(repo.StateMovedError):
            outbox.enqueue_archived(
                engine, account, [Alert({"title": "second"})], up_to, expected=total
            )
        archive.store(engine, account.id, [Downloaded("u9", 9, make_message(subject="later"))])
        rows, total = archive.unannounced(engine, account.id)
        assert [r.subject for r in rows] == ["later"] and total == 1
        outbox.enqueue_archived(
            engine, account, [Alert({"title": "later"})], rows[0].id, expected=total
        )
        titles = [
            json.loads(r.payload)["embed"]["title"] for r in outbox.due(engine, outbox.utcnow())
        ]
        assert titles == ["first", "later"]
    finally:
        engine.dispose()
