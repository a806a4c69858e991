"""The shard locks when PostgreSQL goes away: told at once, taken back when it returns."""

import asyncio
import time

from sqlalchemy.engine import make_url

from storage.shard_locks import PING_SECONDS, ShardLocks
from storage.shards import ShardSet
from tests.plugins.mailsync import until


async def test_acquire_keeps_trying_while_the_store_is_down(pg_cluster):
    """Started while PostgreSQL is down, acquire() waits (state `store unreachable`) and
    holds the shards within a few retries of the server's return."""
    locks = ShardLocks(make_url(pg_cluster.url), ShardSet(), retry_seconds=0.2)
    await asyncio.to_thread(pg_cluster.stop)
    try:
        taking = asyncio.create_task(locks.acquire())
        await until(lambda: locks.state == "store unreachable", timeout=15)
        await asyncio.sleep(1)
        assert not taking.done() and not locks.held
        await asyncio.to_thread(pg_cluster.start)
        back = time.monotonic()
        assert await asyncio.wait_for(taking, 15)
        assert locks.held and locks.state == "held"
        assert time.monotonic() - back < 5
    finally:
        await locks.release()


async def test_a_restart_is_reported_within_a_ping_and_the_locks_come_back(pg_cluster):
    """A restart ends the lock session: on_lost is called within one ping interval (plus
    margin), the state is no longer held, and acquire() takes the shards again."""
    locks = ShardLocks(make_url(pg_cluster.url), ShardSet(), retry_seconds=0.2)
    lost = asyncio.Event()
    try:
        assert await locks.acquire()
        locks.watch(lost.set)
        await asyncio.to_thread(pg_cluster.stop)
        stopped = time.monotonic()
        await asyncio.wait_for(lost.wait(), PING_SECONDS + 10)
        assert time.monotonic() - stopped <= PING_SECONDS + 10
        assert not locks.held
        await asyncio.to_thread(pg_cluster.start)
        assert await asyncio.wait_for(locks.acquire(), 15)
        assert locks.held
    finally:
        await locks.release()
