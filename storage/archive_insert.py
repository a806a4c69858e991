"""The SQLite INSERT of downloaded archive rows at the driver: one `executemany` of ready
tuples.

SQLAlchemy's executemany runs every parameter of every row through its own machinery
(construct_params, one processor call per typed value); for a bulk POP3 download that cost
~8 us a message, more than the INSERT itself. Here the statement is compiled once per
dialect and binds only what differs per row or batch (account, UIDL, size, bytes, download
time): the unread header fields are constants in its SQL (binding 16 values a row cost
SQLite ~2 us a message more). Each bound value goes through its column type's own bind
processor, the batch's once: the stored values are exactly what a Core INSERT of the same
rows stores (tests/test_archive.py compares both).
"""

from __future__ import annotations

import operator
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, bindparam, literal_column
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.models import ArchivedMessage

_BOUND = ("account_id", "uidl", "size", "raw_compressed", "downloaded_at")
# A row whose headers are unread (storage/archive_headers.UNREAD); other columns stay NULL.
_UNREAD_SQL = {"announced": "0", "headers_read": "0", "sender": "''", "subject": "''"}


ROWS_PER_STATEMENT = 100  # rows one INSERT names (its VALUES list repeated)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    many_sql: str  # the same INSERT with ROWS_PER_STATEMENT rows in its VALUES
    order: Callable[[tuple], tuple]  # a row in _BOUND order -> the statement's ? order
    processors: dict[str, Callable[[Any], Any]]


_compiled: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()


def _compile(dialect: Dialect) -> _Compiled:
    found = _compiled.get(dialect)
    if found is not None:
        return found
    columns = ArchivedMessage.__table__.c
    statement = (
        sqlite_insert(ArchivedMessage.__table__)
        .values(
            **{k: bindparam(k, type_=columns[k].type) for k in _BOUND},
            **{k: literal_column(v) for k, v in _UNREAD_SQL.items()},
        )
        .on_conflict_do_nothing(index_elements=["account_id", "uidl"])
    )
    compiled = statement.compile(dialect=dialect)
    order = list(compiled.positiontup or ())
    if not compiled.positional or sorted(order) != sorted(_BOUND) or compiled.returning:
        raise RuntimeError("unexpected compiled archive INSERT: " + compiled.string)
    processors = {}
    for key in _BOUND:
        process = columns[key].type.dialect_impl(dialect).bind_processor(dialect)
        processors[key] = process or (lambda value: value)
    made = _Compiled(
        sql=compiled.string,
        many_sql=_repeat_values(compiled.string, ROWS_PER_STATEMENT),
        order=operator.itemgetter(*(_BOUND.index(k) for k in order)),
        processors=processors,
    )
    _compiled[dialect] = made
    return made


def _repeat_values(sql: str, rows: int) -> str:
    """The INSERT with its one VALUES tuple repeated `rows` times."""
    found = _VALUES.search(sql)
    if found is None or found[1].count("?") != len(_BOUND):
        raise RuntimeError("unexpected compiled archive INSERT: " + sql)
    return sql[: found.start(1)] + ", ".join([found[1]] * rows) + sql[found.end(1) :]


_VALUES = re.compile(r" VALUES (\([^()]*\))")


def insert_rows(
    connection: Connection,
    account_id: int,
    downloaded_at: datetime,
    rows: Iterable[tuple[str, int, bytes]],
) -> None:
    """INSERT ... ON CONFLICT (account_id, uidl) DO NOTHING of `rows` (uidl, size,
    compressed bytes), headers unread. SQLite only."""
    compiled = _compile(connection.dialect)
    process = compiled.processors
    account = process["account_id"](account_id)
    at = process["downloaded_at"](downloaded_at)
    uidl, size, raw = process["uidl"], process["size"], process["raw_compressed"]
    order = compiled.order
    params = [order((account, uidl(u), size(s), raw(b), at)) for u, s, b in rows]
    # Many rows a statement: SQLite then does the work of a hundred rows with the GIL free
    # once, not once a row (the store runs beside the download; mail/store_behind.py).
    whole = len(params) - len(params) % ROWS_PER_STATEMENT
    if whole:
        connection.exec_driver_sql(
            compiled.many_sql,
            [
                tuple(v for row in params[i : i + ROWS_PER_STATEMENT] for v in row)
                for i in range(0, whole, ROWS_PER_STATEMENT)
            ],
        )
    if params[whole:]:
        connection.exec_driver_sql(compiled.sql, params[whole:])
