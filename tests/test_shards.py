"""Shard settings, the store's shard filters (SQLite and PostgreSQL) and the PostgreSQL
advisory locks that keep two processes off the same shard (SPEC section 10)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import bot as bot_module
from storage import boards, digest, outbox, repo
from storage.db import make_engine, migrate
from storage.outbox import Alert
from storage.shard_locks import ShardCountMismatchError, ShardLocks
from storage.shards import ShardSet, shard_of
from tests.plugins.database import backend
from tests.plugins.discord_double import snowflake_on_shard
from tests.store_helpers import new_account

ROOT = Path(__file__).resolve().parent.parent
ENV = {"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": Fernet.generate_key().decode()}
needs_postgresql = pytest.mark.skipif(
    backend() != "postgresql",
    reason="advisory locks are PostgreSQL's; set MAILSYNC_TEST_DATABASE_URL to run this",
)


@pytest.mark.parametrize(
    ("count", "ids", "expected"),
    [
        (None, None, (1, (0,))),
        ("4", "", (4, (0, 1, 2, 3))),
        ("4", "0-3", (4, (0, 1, 2, 3))),
        ("4", "0,2", (4, (0, 2))),
        ("8", " 1-2, 5 ,2", (8, (1, 2, 5))),
    ],
)
def test_shard_ids_parse(count, ids, expected):
    """Ranges, lists and both mixed; empty means every shard."""
    shards = ShardSet.parse(count, ids)
    assert (shards.count, shards.ids) == expected


@pytest.mark.parametrize(
    ("count", "ids", "says"),
    [("0", "", "1 or more"), ("x", "", "a number"), ("2", "2", "0 to 1"), ("4", "3-1", "`0-3`")],
)
def test_bad_shard_settings_say_what_is_wrong(count, ids, says):
    """A bad count or id list stops the start with a line naming the setting."""
    env = {**ENV, "MAILSYNC_SHARD_COUNT": count, "MAILSYNC_SHARD_IDS": ids}
    with pytest.raises(bot_module.ConfigError, match="MAILSYNC_SHARD") as caught:
        bot_module.Settings.from_env(env)
    assert says in str(caught.value)


def test_owns_follows_discords_shard_formula():
    """(guild_id >> 22) % shard_count, as Discord assigns guilds to shards."""
    shards = ShardSet.parse("3", "1")
    for shard in range(3):
        guild = snowflake_on_shard(shard, 3)
        assert shard_of(guild, 3) == shard
        assert shards.owns(guild) is (shard == 1)


def test_sqlite_with_every_shard_is_allowed():
    """One process running every shard may use SQLite."""
    env = {**ENV, "DATABASE_URL": "sqlite:///x.db", "MAILSYNC_SHARD_COUNT": "2"}
    assert bot_module.Settings.from_env(env).shards.complete


def test_sqlite_with_part_of_the_shards_is_refused_at_start(tmp_path):
    """python bot.py with SQLite and a partial shard set: exit 2 and one line, before any
    connection to Discord (the token is not even tried)."""
    env = {
        **os.environ,
        **ENV,
        "DATABASE_URL": f"sqlite:///{tmp_path}/m.db",
        "MAILSYNC_SHARD_COUNT": "2",
        "MAILSYNC_SHARD_IDS": "1",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "bot.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
    )
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2
    assert len(lines) == 1, lines
    assert "SQLite" in lines[0] and "shard(s) 1 of 2" in lines[0]
    assert not (tmp_path / "m.db").exists()


def _new_account(guild_id: int, name: str) -> repo.NewAccount:
    return new_account(guild_id=guild_id, channel_id=guild_id + 1, name=name)


def test_store_filters_accounts_and_alerts_by_shard(database_url):
    """Accounts to watch, the outbox rows to send and the backlog: only those of guilds on
    the process's shards (the SQL works on SQLite and PostgreSQL alike)."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        ids = {}
        for shard in range(4):
            stored = repo.create_account(engine, _new_account(snowflake_on_shard(shard, 4), "a"))
            ids[shard] = stored.id
            outbox.enqueue(engine, stored, [Alert({"title": f"t{shard}"})])
        mine = ShardSet.parse("4", "1,3")
        watched = {a.id for a in repo.active_accounts(engine, mine)}
        assert watched == {ids[1], ids[3]}
        assert len(repo.active_accounts(engine)) == 4
        due = outbox.due(engine, outbox.utcnow(), shards=mine)
        assert {row.account_id for row in due} == {ids[1], ids[3]}
        assert outbox.next_due_at(engine, mine) is not None
        assert outbox.backlog(engine, mine)[0] == 2
        assert outbox.backlog(engine)[0] == 4
        # Digest jobs and status boards too: only the shard's process schedules them, so
        # two processes never post one digest or edit one board.
        for shard in range(4):
            repo.update_account(engine, ids[shard], {"delivery": "daily"})
            boards.start(engine, ids[shard], snowflake_on_shard(shard, 4) + 1)
        assert {a.id for a in digest.digest_accounts(engine, mine)} == {ids[1], ids[3]}
        assert len(digest.digest_accounts(engine)) == 4
        assert set(boards.live(engine, mine)) == {ids[1], ids[3]}
        assert len(boards.live(engine)) == 4
    finally:
        engine.dispose()


@needs_postgresql
async def test_a_second_process_waits_for_a_held_shard_and_takes_over(database_url):
    """The first holder keeps shard 1; a second waits (saying which shard) and takes it
    once the first releases; a third with another shard count is refused."""
    engine = make_engine(database_url)
    first = ShardLocks(engine.url, ShardSet.parse("2", "1"), retry_seconds=0.05)
    second = ShardLocks(engine.url, ShardSet.parse("2", "0-1"), retry_seconds=0.05)
    other = ShardLocks(engine.url, ShardSet.parse("3", "2"))
    try:
        assert await first.acquire()
        waiting = asyncio.create_task(second.acquire())
        async with asyncio.timeout(10):
            while second.waiting != (1,):
                await asyncio.sleep(0.02)
        assert not waiting.done()
        with pytest.raises(ShardCountMismatchError, match="MAILSYNC_SHARD_COUNT is 3"):
            await other.acquire()
        await first.release()
        async with asyncio.timeout(10):
            assert await waiting
        assert second.held and second.waiting == ()
    finally:
        for locks in (first, second, other):
            await locks.release()
        engine.dispose()
