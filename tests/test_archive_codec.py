"""storage/archive_codec.py: new archive rows are zstd frames, and rows written before it
(zlib) still read, through the same calls the bot uses."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert

from storage import archive, archive_codec, repo
from storage.models import ArchivedMessage
from tests.plugins.dovecot import make_message
from tests.store_helpers import new_account


@given(st.binary(max_size=20_000))
def test_packed_bytes_unpack_to_the_same_bytes(raw):
    packed = archive_codec.Packer().pack(raw)
    assert packed[:4] == b"\x28\xb5\x2f\xfd"  # a zstd frame
    assert archive_codec.unpack(packed) == raw


@given(st.binary(max_size=20_000), st.sampled_from([1, 6, 9]))
def test_zlib_bytes_of_older_rows_unpack(raw, level):
    assert archive_codec.unpack(zlib.compress(raw, level)) == raw


def test_one_packer_packs_a_batch_each_message_on_its_own():
    packer = archive_codec.Packer()
    messages = [make_message(subject=f"m{i}", size=3500 + i) for i in range(20)]
    packed = [packer.pack(m) for m in messages]
    assert [archive_codec.unpack(p) for p in packed] == messages
    assert all(len(p) < len(m) / 2 for p, m in zip(packed, messages, strict=True))


def test_a_zlib_row_and_a_zstd_row_both_read_as_the_bot_reads_them(engine):
    """A row written by an earlier version (zlib) next to one written now: the archive's
    bytes, the alert's text parsed from them and the search all work for both."""
    account = repo.create_account(engine, new_account(protocol="pop3", port=995)).id
    old = make_message(subject="Written before", body="Old body text.\n", size=3000)
    new = make_message(subject="Written now", body="New body text.\n", size=3000)
    with engine.begin() as conn:
        conn.execute(
            insert(ArchivedMessage.__table__),
            [
                {
                    "account_id": account,
                    "uidl": "old-1",
                    "sender": "a@example.com",
                    "subject": "Written before",
                    "size": len(old),
                    "raw_compressed": zlib.compress(old, 1),
                    "announced": False,
                },
                {
                    "account_id": account,
                    "uidl": "new-1",
                    "sender": "a@example.com",
                    "subject": "Written now",
                    "size": len(new),
                    "raw_compressed": archive_codec.Packer().pack(new),
                    "announced": False,
                },
            ],
        )
    rows, total = archive.search(engine, account, None, 10)
    assert total == 2
    by_subject = {r.subject: r for r in rows}
    assert archive.raw_message(engine, by_subject["Written before"].id) == old
    assert archive.raw_message(engine, by_subject["Written now"].id) == new
    alerts = archive.new_messages(engine, sorted(rows, key=lambda r: r.id), with_body=True)
    assert [a.snippet.split(" ")[0] for a in alerts] == ["Old", "New"]
