"""What /healthz says of the store: the outbox backlog of this process's shards, and the
store's current fault (storage/store_faults.py): a read that fails now, or a write refused
lately (SQLite locked or its disk full)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from storage import outbox
from storage.shards import ShardSet
from storage.store_faults import TEXTS, UNREACHABLE, faults_of


def backlog_and_fault(
    engine: Engine, shards: ShardSet
) -> tuple[int, datetime | None, dict[str, Any] | None]:
    """(alerts waiting, the oldest one's time, the fault to report or None). Blocking."""
    faults = faults_of(engine)
    try:
        count, oldest = outbox.backlog(engine, shards)
    except Exception as exc:  # any store failure is what the endpoint reports
        fault = faults.record(exc)
        kind = UNREACHABLE if fault is None else fault.kind
        return 0, None, {"kind": kind, "error": TEXTS[kind], "accounts": []}
    if faults.current is not None and faults.current.kind == UNREACHABLE:
        faults.cleared()  # the server answers again
    return count, oldest, faults.describe()
