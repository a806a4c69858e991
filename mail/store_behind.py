"""A download's store() run one batch behind it, on a thread of its own.

While a batch is compressed and committed, the next one is read from the server: the store
spends most of its time where the GIL is free (zstd, SQLite's own work, the commit's fsync),
and the reading thread mostly waits on the server, so the two overlap on 2 cores instead of
taking turns. One batch at a time, in order: `put` waits for the batch before, so a failed
store stops the download at the next batch, and `drain` returns only once every batch is
committed, which is what lets the caller DELE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Batch = TypeVar("Batch")


class StoreBehind(Generic[Batch]):
    def __init__(self, store: Callable[[Batch], None]) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pop3-store")
        self._pending: Future[None] | None = None

    def put(self, batch: Batch) -> None:
        """Store `batch` behind the caller, once the batch before it is stored (its error,
        if any, is raised here instead)."""
        self.drain()
        self._pending = self._pool.submit(self._store, batch)

    def drain(self) -> None:
        """Wait until every batch put is stored; raises the store's error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> StoreBehind[Batch]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # Never return with a store still writing, even when the download failed.
        try:
            if kind is not None and self._pending is not None:
                failed = self._pending.exception()
                if failed is not None:
                    log.warning("a store behind a failed download failed too: %r", failed)
        finally:
            self._pool.shutdown(wait=True)
