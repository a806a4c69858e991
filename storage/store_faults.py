"""What the store last refused, in words an operator can act on: SQLite's "database is
locked" and a full disk, PostgreSQL gone (a restart, a failover, a broken network).

Every error the engine raises passes through `handle_error`; the fault stays current until
a Session's commit on that engine goes through (or a minute passes without another). /healthz
shows it (503), the log says it once per fault, and a poll that could not commit names its
account (watch/engine.py). Nothing is lost meanwhile: a poll's mail state advances only in
the transaction that queues its alerts, so a refused commit leaves the mail to be found
again by the next poll."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass, field

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

LOCKED = "locked"
DISK_FULL = "disk full"
DISK_ERROR = "disk error"
UNREACHABLE = "unreachable"
ERROR = "error"

TEXTS = {
    LOCKED: (
        "the SQLite database is locked: another program holds a write lock on the file (a "
        "second bot on the same file, a backup or a shell with an open transaction?); "
        "writes wait and are retried, nothing is lost"
    ),
    DISK_FULL: (
        "the disk of the SQLite database is full: free space next to the database file; "
        "writes are refused and retried, nothing is lost"
    ),
    DISK_ERROR: (
        "the disk of the SQLite database refused a write (disk I/O error): check that disk "
        "and its free space; writes are retried, nothing is lost"
    ),
    UNREACHABLE: (
        "the database server does not answer (restarting, failing over, or the network is "
        "down); watching waits and resumes from the stored state when it is back"
    ),
    ERROR: "the database refused a write; see the log",
}


def classify(exc: BaseException) -> str:
    """LOCKED, DISK_FULL, UNREACHABLE or ERROR for an exception from the store."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(orig).lower()
    if "database is locked" in text or "database table is locked" in text:
        return LOCKED
    if "database or disk is full" in text or "no space left" in text:
        return DISK_FULL
    if "disk i/o error" in text:  # some writes report a full disk this way too
        return DISK_ERROR
    module = type(orig).__module__ or ""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return UNREACHABLE
    if module.startswith("psycopg") and type(orig).__name__ in (
        "OperationalError",
        "InterfaceError",
    ):
        return UNREACHABLE
    if isinstance(orig, OSError):
        return UNREACHABLE
    return ERROR


def store_problem(exc: BaseException) -> str:
    """The operator's line for a store failure (for /healthz and the logs)."""
    return TEXTS[classify(exc)]


# A fault nobody ran into again for this long is over: a quiet bot may not write for
# minutes, and a read does not show a lock or a full disk.
STALE_SECONDS = 60.0


@dataclass
class Fault:
    kind: str
    since: float  # monotonic
    detail: str
    last: float = 0.0  # monotonic: the latest refusal
    accounts: set[int] = field(default_factory=set)  # polls it kept from committing


class StoreFaults:
    """The current fault of one engine (None when the last commit went through)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # errors come from worker threads
        self.current: Fault | None = None

    def record(self, exc: BaseException) -> Fault | None:
        kind = classify(exc)
        if kind == ERROR:  # a constraint or a bug: not a fault of the store
            return None
        with self._lock:
            now = time.monotonic()
            fresh = self.current is None or self.current.kind != kind
            if fresh:
                self.current = Fault(kind, now, str(exc).splitlines()[0][:300])
            fault = self.current
            fault.last = now
        if fresh:
            log.error("store: %s (%s)", TEXTS[kind], fault.detail)
        return fault

    def on_account(self, account_id: int, exc: BaseException) -> None:
        """A poll of this account could not commit (its mail is polled again)."""
        fault = self.record(exc)
        if fault is None:
            first = str(exc).splitlines()[0][:300]  # not the SQL's parameters (mail text)
            log.error("account %s: poll not saved: %s", account_id, first)
            return
        with self._lock:
            new = account_id not in fault.accounts
            fault.accounts.add(account_id)
        if new:  # once per account and fault, not at every retry
            log.error(
                "account %s: poll not saved, %s; its mail is found again by the next poll",
                account_id,
                TEXTS[fault.kind],
            )

    def cleared(self) -> None:
        with self._lock:
            fault, self.current = self.current, None
        if fault is not None:
            log.warning(
                "store: writes go through again after %.1f s (%s)",
                time.monotonic() - fault.since,
                fault.kind,
            )

    def describe(self) -> dict[str, object] | None:
        """The current fault for /healthz, or None (none, or none for STALE_SECONDS)."""
        fault = self.current
        if fault is not None and time.monotonic() - fault.last > STALE_SECONDS:
            with self._lock:
                self.current = fault = None  # not seen again: over, as far as anyone knows
        if fault is None:
            return None
        return {
            "kind": fault.kind,
            "error": TEXTS[fault.kind],
            "for_s": round(time.monotonic() - fault.since, 1),
            "accounts": sorted(fault.accounts),
        }


_faults: weakref.WeakKeyDictionary[Engine, StoreFaults] = weakref.WeakKeyDictionary()


def faults_of(engine: Engine) -> StoreFaults:
    found = _faults.get(engine)
    if found is None:
        found = _faults[engine] = StoreFaults()
    return found


def track(engine: Engine) -> None:
    """Record the engine's store errors; its next good commit clears them."""
    faults = faults_of(engine)

    @event.listens_for(engine, "handle_error")
    def _error(context: ExceptionContext) -> None:
        faults.record(context.original_exception)

    if not event.contains(Session, "after_commit", _session_committed):
        event.listen(Session, "after_commit", _session_committed)


def _session_committed(session: Session) -> None:
    """After a commit went through (every repo function commits through a Session)."""
    bind = session.get_bind()
    faults = _faults.get(bind) if isinstance(bind, Engine) else None
    if faults is not None and faults.current is not None:
        faults.cleared()
