"""Live alerts in the store (storage/live_alerts.py): written with their outbox rows,
message ids learned with the sent mark, at most 500 per account, two-way changes queue one
edit per alert (not a second while one waits) and store each folder's HIGHESTMODSEQ."""

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from mail.changes import MessageFlags
from mail.types import FolderBaseline, FolderState
from storage import live_alerts, outbox, repo
from storage.live_alerts import GONE, Change, Track
from storage.models import LiveAlert, OutboxAlert, utcnow
from tests.store_helpers import new_account

CHANNEL = 987654321098765432
MESSAGE = 2**62 + 99


@pytest.fixture
def account(engine):
    new = new_account(channel_id=CHANNEL, password_encrypted="secret")
    baseline = [FolderBaseline("INBOX", FolderState(77, 10), 0, 0)]
    return repo.create_account(engine, new, baseline)


def _queue(engine, account, uids, flags=None):
    key = live_alerts.folder_keys(engine, account.id)["INBOX"]
    alerts = [outbox.Alert({"title": f"m{u}"}, track=Track(key, 77, u, flags)) for u in uids]
    outbox.enqueue_with_folder_states(engine, account, alerts, {"INBOX": FolderState(77, 999)})
    return key


def _lives(engine):
    with Session(engine) as session:
        return list(session.exec(select(LiveAlert).order_by(col(LiveAlert.id))).all())


def _edits(engine):
    with Session(engine) as session:
        query = select(OutboxAlert).where(OutboxAlert.kind == "edit")
        return list(session.exec(query.order_by(col(OutboxAlert.id))).all())


def test_a_tracked_alert_is_written_with_its_row_and_learns_its_message(engine, account):
    """The post row says it has buttons; mark_sent stores the message id on the live alert
    in the same write; untracked alerts (digests) make no live alert."""
    _queue(engine, account, [11], MessageFlags(seen=True))
    outbox.enqueue_with_folder_states(engine, account, [outbox.Alert({"title": "digest"})], {})
    posts = [r for r in outbox.due(engine, utcnow()) if r.kind == "post"]
    assert [json.loads(r.payload).get("actions") for r in posts] == [True, None]
    (live,) = _lives(engine)
    assert (live.uid, live.seen, live.flagged, live.state) == (11, True, False, "present")
    assert live.outbox_id == posts[0].id and live.channel_id == CHANNEL
    outbox.mark_sent(engine, posts[0].id, MESSAGE)
    assert _lives(engine)[0].message_id == MESSAGE
    pressed = live_alerts.press_context(engine, account.id, MESSAGE)
    assert pressed.live.id == live.id and pressed.folder.folder == "INBOX"
    assert pressed.embed == {"title": "m11"}
    assert live_alerts.press_context(engine, account.id, MESSAGE + 1).live is None


def test_at_most_500_per_account_oldest_dropped(engine, account):
    """Writing past 500 drops the oldest; tracked() returns the newest, grouped by folder."""
    _queue(engine, account, range(1, 496))
    _queue(engine, account, range(496, 506))
    uids = sorted(live.uid for live in _lives(engine))
    assert uids == list(range(6, 506))
    (folder,) = live_alerts.tracked(engine, account.id)
    assert folder.folder == "INBOX" and folder.uidvalidity == 77
    assert sorted(folder.alerts) == list(range(6, 506))


def test_alerts_older_than_seven_days_are_not_followed(engine, account):
    _queue(engine, account, [1, 2])
    with Session(engine) as session:
        old = session.exec(select(LiveAlert).where(LiveAlert.uid == 1)).one()
        old.created_at = utcnow() - timedelta(days=8)
        session.add(old)
        session.commit()
    (folder,) = live_alerts.tracked(engine, account.id)
    assert list(folder.alerts) == [2]


def test_changes_queue_one_edit_per_alert_and_store_the_modseq(engine, account):
    """A change queues an "edit" row in the alert's channel; a second change while it
    waits queues none (the edit renders the state when sent); the modseq is stored; a
    gone alert is no longer followed."""
    key = _queue(engine, account, [5])
    (live,) = _lives(engine)
    seen = MessageFlags(seen=True)
    assert live_alerts.apply(engine, account.id, [Change(live.id, flags=seen)], {key: 42}) == 1
    assert live_alerts.apply(engine, account.id, [Change(live.id, event="client:read")]) == 0
    (edit,) = _edits(engine)
    assert json.loads(edit.payload) == {"alert": live.id} and edit.channel_id == CHANNEL
    (folder,) = live_alerts.tracked(engine, account.id)
    assert folder.highest_modseq == 42 and folder.alerts[5][1] == seen
    outbox.mark_sent(engine, edit.id)
    live_alerts.apply(engine, account.id, [Change(live.id, state=GONE, event="gone")])
    assert len(_edits(engine)) == 2
    assert live_alerts.tracked(engine, account.id) == []


def test_removing_the_account_or_the_folder_removes_its_live_alerts(engine, account):
    _queue(engine, account, [1])
    repo.update_account(engine, account.id, {"folders": "Other"}, dropped_folders=["INBOX"])
    assert _lives(engine) == []
    _queue_other = repo.update_account(
        engine, account.id, {}, [FolderBaseline("INBOX", FolderState(77, 1), 0, 0)]
    )
    assert _queue_other is not None
    _queue(engine, account, [2])
    repo.delete_account(engine, account.id)
    assert _lives(engine) == []


def test_a_post_moved_to_another_channel_while_waiting_is_followed_there(engine, account):
    """/mail edit channel: moves waiting posts; the live alert learns the channel its post
    went to with the message id, so later edits go there."""
    _queue(engine, account, [3])
    repo.update_account(engine, account.id, {"channel_id": CHANNEL + 1})
    (post,) = [r for r in outbox.due(engine, utcnow()) if r.kind == "post"]
    outbox.mark_sent(engine, post.id, MESSAGE)
    (live,) = _lives(engine)
    assert (live.channel_id, live.message_id) == (CHANNEL + 1, MESSAGE)
    live_alerts.apply(engine, account.id, [Change(live.id, event="gone", state=GONE)])
    assert _edits(engine)[0].channel_id == CHANNEL + 1
