"""A long POP3 download stores its batches behind itself, on a thread of its own: in order,
each committed before the next is handed over, all before any DELE; each message is handed
to `prepare` as it arrives, on the downloading thread."""

from __future__ import annotations

import threading
import time

import pytest

from mail import pop3
from tests.plugins.dovecot import make_message
from tests.test_pop3 import _append_all, _cfg, _crlf, _Recorder, _server_uidls
from tests.test_pop3 import tls as tls  # the fixture: trust the rig's CA

pytestmark = pytest.mark.usefixtures("tls")


class _Timed(_Recorder):
    """Stores slowly, noting the thread, and notes how much was stored when DELE was asked."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.store_threads: set[int] = set()
        self.stored_when_asked: list[int] = []

    def store(self, batch):
        self.store_threads.add(threading.get_ident())
        time.sleep(0.05)  # the download runs ahead meanwhile
        super().store(batch)

    def deletable(self, current):
        self.stored_when_asked.append(len(self.stored))
        return super().deletable(current)


def test_batches_are_stored_behind_the_download_in_order_before_any_dele(dovecot, mail_user):
    raws = [make_message(subject=f"b{i}") for i in range(7)]
    _append_all(dovecot, mail_user, raws)
    rec = _Timed(delete=lambda current: set(current))
    result = rec.poll(_cfg(dovecot, mail_user), batch_size=3)
    assert [d.raw for d in rec.stored] == [_crlf(r) for r in raws]
    assert [len(b) for b in rec.batches] == [3, 3, 1]
    assert threading.get_ident() not in rec.store_threads  # stored behind the download
    assert rec.stored_when_asked == [7]  # every batch committed before DELE was considered
    assert len(result.deleted) == 7 and len(result.new) == 7


def test_one_batch_is_stored_on_the_downloading_thread(dovecot, mail_user):
    _append_all(dovecot, mail_user, [make_message(subject=f"o{i}") for i in range(3)])
    rec = _Timed()
    rec.poll(_cfg(dovecot, mail_user), batch_size=10)
    assert rec.store_threads == {threading.get_ident()}
    assert len(rec.stored) == 3


def test_prepare_sees_each_message_on_the_downloading_thread(dovecot, mail_user):
    raws = [make_message(subject=f"p{i}") for i in range(5)]
    _append_all(dovecot, mail_user, raws)
    prepared_on: set[int] = set()
    batches: list[list[tuple[str, int]]] = []

    def prepare(uidl: str, raw: bytes) -> tuple[str, int]:
        prepared_on.add(threading.get_ident())
        return uidl, len(raw)

    result = pop3.poll(
        _cfg(dovecot, mail_user),
        known_uidls=lambda uidls: set(),
        store=batches.append,
        deletable=lambda current: set(),
        allow_private=True,
        batch_size=2,
        prepare=prepare,
    )
    assert prepared_on == {threading.get_ident()}
    assert [len(b) for b in batches] == [2, 2, 1]
    flat = [item for b in batches for item in b]
    assert flat == [(n.uidl, n.size) for n in result.new]
    assert [size for _, size in flat] == [len(_crlf(r)) for r in raws]


def test_a_failed_last_batch_raises_and_deletes_nothing(dovecot, mail_user):
    """The last batch is stored behind the download too: its failure still reaches the
    caller before DELE is considered, and the server keeps everything."""
    _append_all(dovecot, mail_user, [make_message(subject=f"f{i}") for i in range(5)])
    rec = _Timed(delete=lambda current: set(current), fail_on_batch=3)
    with pytest.raises(RuntimeError, match="database is down"):
        rec.poll(_cfg(dovecot, mail_user), batch_size=2)
    assert [len(b) for b in rec.batches] == [2, 2]
    assert rec.stored_when_asked == []
    with pop3.session(_cfg(dovecot, mail_user), allow_private=True) as conn:
        assert pop3.stat(conn)[0] == 5


def test_failed_store_stops_later_batches_and_deletes_nothing(dovecot, mail_user):
    """After a failed store() no later batch is stored, the error reaches the caller,
    deletable is never asked and the server keeps everything."""
    _append_all(dovecot, mail_user, [make_message(subject=f"m{i}") for i in range(10)])
    rec = _Recorder(delete=lambda current: set(current), fail_on_batch=2)
    with pytest.raises(RuntimeError, match="database is down"):
        rec.poll(_cfg(dovecot, mail_user), batch_size=2)
    assert [b"Subject: m0\r\n" in d.raw for d in rec.stored] == [True, False]
    assert [b"Subject: m1\r\n" in d.raw for d in rec.stored] == [False, True]
    assert rec.deletable_calls == 0
    assert len(_server_uidls(dovecot, mail_user)) == 10
