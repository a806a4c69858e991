"""storage/archive.py's store and header reading below the POP3 protocol: the INSERT at
the driver writes what a Core INSERT writes, many rows a statement skip what is stored,
and header fields are read once, when a reader first needs them."""

from sqlalchemy import text

from storage import archive, archive_codec, archive_headers
from tests.plugins.dovecot import make_message
from tests.test_archive import _account, _stored
from tests.test_archive import store as store  # the fixture: a migrated store


def test_many_rows_a_statement_skip_what_is_stored(store, mail_user):
    """A batch long enough for the INSERTs of many rows each (storage/archive_insert.py)
    keeps every UIDL's first bytes: those stored before, and the first of a UIDL the batch
    itself names twice."""
    from mail import pop3
    from storage.archive_insert import ROWS_PER_STATEMENT

    account_id = _account(store, mail_user)

    def item(uidl, subject):
        raw = make_message(subject=subject)
        return pop3.Downloaded(uidl, len(raw), raw)

    count = 2 * ROWS_PER_STATEMENT + 7
    archive.store(store, account_id, [item(f"u{i}", f"old {i}") for i in range(0, count, 3)])
    batch = [item(f"u{i}", f"new {i}") for i in range(count)]
    batch.insert(ROWS_PER_STATEMENT // 2, item("u1", "second u1"))
    archive.store(store, account_id, batch)
    stored, total = _stored(store, account_id)
    assert total == count
    assert set(stored) == {f"{'old' if i % 3 == 0 else 'new'} {i}" for i in range(count)}


def test_store_writes_what_the_core_insert_writes(store, mail_user, monkeypatch):
    """archive.store (on SQLite an INSERT at the driver, below SQLAlchemy's parameter
    handling) writes the very values a Core INSERT of the same rows writes: the compressed
    bytes, the download time, and header fields not read yet."""
    from datetime import UTC, datetime

    from mail import pop3

    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    monkeypatch.setattr(archive, "utcnow", lambda: at)
    items = []
    for i in range(7):
        raw = make_message(subject=f"s{i}", size=3000 + i)
        items.append(pop3.Downloaded(f"u{i}", len(raw), raw))
    driver_account = _account(store, mail_user)
    core_account = _account(store, mail_user, name="core copy")
    archive.store(store, driver_account, items)
    rows = [
        {
            **archive_headers.UNREAD,
            "account_id": core_account,
            "uidl": d.uidl,
            "size": d.size,
            "raw_compressed": archive_codec.Packer().pack(d.raw),
            "downloaded_at": at,
        }
        for d in items
    ]
    with store.begin() as conn:
        conn.execute(archive._insert_new(store), rows)

    def stored(account_id):
        with store.connect() as conn:
            return conn.execute(
                text(
                    "select uidl, message_id, sender, subject, sent_at, size, raw_compressed, "
                    "downloaded_at, announced, deleted_at, headers_read, to_addrs, cc_addrs, "
                    "in_reply_to, reference_ids from pop3_message "
                    "where account_id = :a order by uidl"
                ),
                {"a": account_id},
            ).all()

    driver, core = stored(driver_account), stored(core_account)
    assert len(driver) == 7
    assert [tuple(r) for r in driver] == [tuple(r) for r in core]
    assert not any(r.headers_read for r in driver)


def test_headers_are_read_once_when_first_needed(store, mail_user):
    """A download stores the bytes only; the header fields of a row are read when a reader
    needs them (the newest rows an announcement shows, a search, a page of the archive),
    exactly as parse_headers reads them: dates in any zone or none, long fields, no
    Message-ID."""
    from mail import pop3
    from mail.parse import parse_headers

    dates = ["Wed, 31 Dec 2025 23:59:59 +0530", "Wed, 31 Dec 2025 23:59:59 -1100", None]
    raws = []
    for i in range(30):
        head = f"From: Ann <a{i}@example.com>\r\n" if i != 4 else "From: " + "x" * 1100 + "\r\n"
        head += f"Subject: subject {i} {'x' * (1200 if i == 3 else 0)}\r\n"
        if dates[i % 3]:
            head += f"Date: {dates[i % 3]}\r\n"
        if i != 5:
            head += f"Message-ID: <m{i}@example.com{'y' * (400 if i == 6 else 0)}>\r\n"
        raws.append(head.encode() + b"To: b@example.com, C@example.com\r\n\r\nbody\r\n")
    account_id = _account(store, mail_user)
    archive.store(
        store, account_id, [pop3.Downloaded(f"u{i}", len(r), r) for i, r in enumerate(raws)]
    )

    def unread():
        with store.connect() as conn:
            return conn.execute(
                text(
                    "select count(*) from pop3_message where account_id = :a and not headers_read"
                ),
                {"a": account_id},
            ).scalar_one()

    assert unread() == 30
    rows, total = archive.unannounced(store, account_id, newest=5)
    assert total == 30 and [r.uidl for r in rows] == [f"u{i}" for i in range(25, 30)]
    assert unread() == 25  # only the five shown were read
    archive.search(store, account_id, None, limit=4)  # the newest page of the archive
    assert unread() == 25  # those were read already
    found, count = archive.search(store, account_id, "subject 1", limit=50)
    assert count == 11 and unread() == 0  # a search reads every row first
    assert {r.uidl for r in found} == {"u1", *(f"u{i}" for i in range(10, 20))}
    rows = archive.unannounced_all(store, account_id)
    by_uidl = {r.uidl: r for r in rows}
    assert len(by_uidl["u3"].subject) > 900 and len(by_uidl["u4"].sender) > 300  # cut, kept
    assert by_uidl["u5"].message_id is None and by_uidl["u2"].sent_at is None
    for row in rows:
        expected = parse_headers(raws[int(row.uidl[1:])])
        assert row.subject == expected.subject[:1000]
        assert row.sender == expected.sender[:1000]
        assert row.sent_at == expected.date
        assert row.message_id == (expected.message_id[:300] if expected.message_id else None)
        assert row.to_addrs == "b@example.com\nc@example.com"
