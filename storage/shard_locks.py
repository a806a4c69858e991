"""PostgreSQL advisory locks: one per shard a process runs, so that two processes never
watch the same accounts.

The locks live on a connection of their own, opened at start and kept for the process's
life (session-level locks are released when that session ends: a clean stop, a crash, a
SIGKILL). A process whose shards are held elsewhere waits and takes over once they free.
Server-side TCP keepalives on that connection make PostgreSQL notice a holder whose
machine vanished without closing the socket (within about a minute), and the holder pings
the connection every few seconds: if the locks are gone (PostgreSQL restarted or failed
over, the network broke) it is told at once, stops watching rather than watch next to a
successor, and calls `acquire()` again, which keeps trying until the store answers and
then either holds the shards again or waits as a standby while another process does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import URL, Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from storage.shards import ShardSet

log = logging.getLogger(__name__)

# The first int4 key of Mailsync's advisory locks (the second is the shard id, or the
# shard count): unlikely to collide with another application's locks in the database.
SHARD_KEY = 0x4D530001
COUNT_KEY = 0x4D530003
RETRY_SECONDS = 1.0  # a waiting process tries again this often (one cheap query)
PING_SECONDS = 3.0  # a lost lock is noticed within this (one `SELECT 1`)
CONNECT_TIMEOUT = 5  # seconds: a vanished server fails a try instead of hanging it
# A lost connection or a store that does not answer (a restart, a failover, a network
# break): what `acquire()` retries and the pinger reads as "the locks are gone".
STORE_DOWN = (DBAPIError, OSError)
# The server drops a silent client (and its locks) after 30 + 3 * 10 s.
SERVER_KEEPALIVES = (
    "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
)


class ShardCountMismatchError(Exception):
    """Another process on this database runs a different MAILSYNC_SHARD_COUNT."""


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class ShardLocks:
    def __init__(self, url: URL, shards: ShardSet, retry_seconds: float = RETRY_SECONDS) -> None:
        self.shards = shards
        self.retry_seconds = retry_seconds
        self._engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "application_name": "mailsync shard locks",
                "connect_timeout": CONNECT_TIMEOUT,
                "options": SERVER_KEEPALIVES,
                "keepalives": 1,  # and the client notices a vanished server
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
            },
        )
        self._conn: Connection | None = None
        self._stopped = asyncio.Event()
        self._pinger: asyncio.Task[None] | None = None
        self.held = False
        self.waiting: tuple[int, ...] = ()  # shards held by another process right now
        # For /healthz: held | waiting (a standby) | store unreachable | connecting
        self.state = "connecting"

    async def acquire(self) -> bool:
        """Hold every shard of this process; waits while another process holds any (all
        or none, so two waiting processes cannot each sit on half), and keeps trying while
        the store does not answer. False if stopped."""
        waited = unreachable = False
        while not self._stopped.is_set():
            try:
                if self._conn is None:
                    self._conn = await asyncio.to_thread(self._engine.connect)
                    await asyncio.to_thread(self._check_count)
                busy = await asyncio.to_thread(self._try_all)
            except STORE_DOWN as exc:
                await self._drop_connection()
                if not unreachable:
                    log.warning(
                        "the store does not answer (%s); trying to take %s again every %g s",
                        type(exc).__name__,
                        self.shards.describe(),
                        self.retry_seconds,
                    )
                unreachable, self.state, self.waiting = True, "store unreachable", ()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), self.retry_seconds)
                continue
            if not busy:
                self.held, self.waiting, self.state = True, (), "held"
                if waited:
                    log.warning("took over %s: their holder stopped", self.shards.describe())
                else:
                    log.info("holding %s", self.shards.describe())
                return True
            if busy != self.waiting:
                log.warning(
                    "shard(s) %s held by another process; waiting to take over "
                    "(this process watches nothing until then)",
                    ",".join(map(str, busy)),
                )
            self.waiting, waited, self.state = busy, True, "waiting"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.retry_seconds)
        return False

    def _sql(self, query: str, **params: int):
        if self._conn is None:
            raise RuntimeError("the shard lock connection is not open")
        return self._conn.execute(text(query), params)

    def _check_count(self) -> None:
        count = self.shards.count
        self._sql("SELECT pg_advisory_lock_shared(:k, :c)", k=COUNT_KEY, c=count)
        others = self._sql(
            "SELECT DISTINCT objid::bigint FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid = :k AND objsubid = 2 AND objid <> :c",
            k=COUNT_KEY,
            c=count,
        ).scalars()
        found = sorted(others)
        if found:
            raise ShardCountMismatchError(
                f"MAILSYNC_SHARD_COUNT is {count} here but {found[0]} in another running "
                "process on this database; every process must use the same count (stop them "
                "all to change it)."
            )

    def _try_all(self) -> tuple[int, ...]:
        """Try every shard's lock; on any miss release the ones taken. Returns the misses."""
        taken, busy = [], []
        for shard in self.shards.ids:
            got = self._sql("SELECT pg_try_advisory_lock(:k, :s)", k=SHARD_KEY, s=shard).scalar()
            (taken if got else busy).append(shard)
        if busy:
            for shard in taken:
                self._sql("SELECT pg_advisory_unlock(:k, :s)", k=SHARD_KEY, s=shard)
        return tuple(busy)

    def watch(self, on_lost: Callable[[], None]) -> None:
        """Ping the lock connection; if it is gone, so are the locks: call `on_lost` (which
        stops watching and calls `acquire()` again)."""

        async def ping() -> None:
            while not self._stopped.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), PING_SECONDS)
                if self._stopped.is_set():
                    return
                try:
                    await asyncio.to_thread(self._ping)
                except Exception as exc:  # any failure means the session may be gone
                    log.error(
                        "lost the connection that holds %s (%s); watching stops until this "
                        "process holds them again",
                        self.shards.describe(),
                        type(exc).__name__,
                    )
                    await self._drop_connection()
                    on_lost()
                    return

        self._pinger = asyncio.create_task(ping(), name="mailsync-shard-locks")

    def _ping(self) -> None:
        self._sql("SELECT 1")

    async def _drop_connection(self) -> None:
        """Forget the lock session (its locks went with it, or end with it now)."""
        conn, self._conn = self._conn, None
        self.held, self.state = False, "connecting"
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(conn.close)

    async def lost(self) -> None:
        """Give the shards up after a failure of this process's own (e.g. watching could not
        restart); `acquire()` takes them again."""
        await self._drop_connection()

    async def release(self) -> None:
        """Stop waiting or pinging and end the session, which frees every lock at once."""
        self._stopped.set()
        if self._pinger is not None:
            await asyncio.gather(self._pinger, return_exceptions=True)
        await self._drop_connection()
        await asyncio.to_thread(self._engine.dispose)
