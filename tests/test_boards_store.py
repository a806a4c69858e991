"""Status boards in the store (storage/boards.py) and the outbox rows they use: one waiting
row per board, message ids written with the sent mark, rows that stay in their channel."""

import json

import pytest
from sqlmodel import Session, col, select

from storage import boards, outbox, repo
from storage.models import OutboxAlert, utcnow
from tests.store_helpers import new_account

ALERTS = 987654321098765432
BOARD = 2**62 + 7  # a snowflake past 32 bits
MESSAGE = 2**62 + 99


@pytest.fixture
def account(engine):
    return repo.create_account(engine, new_account(channel_id=ALERTS, name="ops"))


def _rows(engine, kind=None):
    with Session(engine) as session:
        query = select(OutboxAlert).order_by(col(OutboxAlert.id))
        if kind:
            query = query.where(OutboxAlert.kind == kind)
        return list(session.exec(query).all())


def test_alert_rows_are_posts_and_keep_their_message_id(engine, account):
    """Today's alerts are kind "post"; mark_sent stores the message id with the sent mark."""
    outbox.enqueue(engine, account, [outbox.Alert({"title": "hi"})])
    (row,) = _rows(engine)
    assert row.kind == "post" and row.message_id is None
    outbox.mark_sent(engine, row.id, MESSAGE)
    (row,) = _rows(engine)
    assert row.sent_at is not None and row.message_id == MESSAGE


def test_a_board_has_at_most_one_waiting_row(engine, account):
    """Newer content replaces the waiting edit (an outage ends with one edit); the hash and
    time of the last queued content are kept on the board."""
    assert boards.start(engine, account.id, BOARD) is None
    assert boards.queue(engine, account.id, {"title": "one"}, "h1")
    assert boards.queue(engine, account.id, {"title": "two"}, "h2")
    (row,) = _rows(engine, "board")
    assert json.loads(row.payload)["embed"]["title"] == "two"
    assert row.channel_id == BOARD
    board = boards.get(engine, account.id)
    assert board.content_hash == "h2" and board.edited_at is not None
    assert boards.settle(engine, row.id, account.id, MESSAGE, row.payload)
    assert boards.get(engine, account.id).message_id == MESSAGE
    assert _rows(engine, "board")[0].message_id == MESSAGE
    assert boards.queue(engine, account.id, {"title": "three"}, "h3")
    assert len(_rows(engine, "board")) == 2  # the sent one is history; a new one waits


def test_content_replaced_during_a_send_stays_waiting(engine, account):
    """The sender read the row, then newer content replaced it: settling the older send
    keeps the row waiting (with the message id on the board), so the newer content goes."""
    boards.start(engine, account.id, BOARD)
    boards.queue(engine, account.id, {"title": "old"}, "h1")
    (in_flight,) = _rows(engine, "board")
    boards.queue(engine, account.id, {"title": "new"}, "h2")
    assert boards.settle(engine, in_flight.id, account.id, MESSAGE, in_flight.payload)
    (row,) = _rows(engine, "board")
    assert row.sent_at is None and json.loads(row.payload)["embed"]["title"] == "new"
    assert boards.get(engine, account.id).message_id == MESSAGE


def test_restart_and_move(engine, account):
    """/mail board again forgets the hash (the next refresh edits); another channel starts
    a new message and drops the edit waiting for the old one."""
    boards.start(engine, account.id, BOARD)
    boards.queue(engine, account.id, {"title": "one"}, "h1")
    (row,) = _rows(engine, "board")
    boards.settle(engine, row.id, account.id, MESSAGE, row.payload)
    boards.queue(engine, account.id, {"title": "two"}, "h2")
    before = boards.start(engine, account.id, BOARD)
    assert before.content_hash == "h2" and before.message_id == MESSAGE
    assert boards.get(engine, account.id).content_hash is None
    assert boards.get(engine, account.id).message_id == MESSAGE
    boards.start(engine, account.id, ALERTS)
    moved = boards.get(engine, account.id)
    assert moved.channel_id == ALERTS and moved.message_id is None
    assert [r.sent_at is not None for r in _rows(engine, "board")] == [True]


def test_remove_drops_the_waiting_edit_and_a_late_send_is_not_kept(engine, account):
    """Ending a board deletes its waiting row; a send that was under way settles as not
    kept (the sender then deletes the message it made)."""
    boards.start(engine, account.id, BOARD)
    boards.queue(engine, account.id, {"title": "one"}, "h1")
    (row,) = _rows(engine, "board")
    assert boards.remove(engine, account.id) is not None
    assert _rows(engine, "board") == []
    assert not boards.queue(engine, account.id, {"title": "two"}, "h2")
    assert not boards.settle(engine, row.id, account.id, MESSAGE, row.payload)
    assert boards.remove(engine, account.id) is None


def test_a_broken_alert_channel_does_not_hold_a_board_elsewhere(engine, account):
    """Alerts wait while Discord refuses their channel; the board in another channel goes."""
    outbox.enqueue(engine, account, [outbox.Alert({"title": "alert"})])
    boards.start(engine, account.id, BOARD)
    boards.queue(engine, account.id, {"title": "board"}, "h")
    outbox.mark_channel_broken(engine, account.id, "403")
    assert [r.kind for r in outbox.due(engine, utcnow())] == ["board"]
    assert outbox.next_due_at(engine) is not None


def test_a_new_alert_channel_takes_alerts_but_not_the_board(engine, account):
    """/mail edit channel: moves waiting alerts; the board's edit stays with its message."""
    outbox.enqueue(engine, account, [outbox.Alert({"title": "alert"})])
    boards.start(engine, account.id, BOARD)
    boards.queue(engine, account.id, {"title": "board"}, "h")
    repo.update_account(engine, account.id, {"channel_id": 55})
    assert {r.kind: r.channel_id for r in _rows(engine)} == {"post": 55, "board": BOARD}


def test_a_broken_board_is_not_live_and_queues_nothing(engine, account):
    """A board Discord refused stops until /mail board starts it again."""
    boards.start(engine, account.id, BOARD)
    boards.mark_broken(engine, account.id, "refused (403)")
    assert boards.live(engine) == {}
    assert not boards.queue(engine, account.id, {"title": "x"}, "h")
    boards.start(engine, account.id, BOARD)
    assert list(boards.live(engine)) == [account.id]


def test_removing_the_account_removes_its_board(engine, account):
    """The board row hangs off the account (cascade)."""
    boards.start(engine, account.id, BOARD)
    repo.delete_account(engine, account.id)
    assert boards.get(engine, account.id) is None
