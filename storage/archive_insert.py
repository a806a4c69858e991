"""The SQLite INSERT of archive rows at the driver: one `executemany` of ready tuples.

SQLAlchemy's executemany runs every parameter of every row through its own machinery
(construct_params, one processor call per typed value); for a bulk POP3 download that cost
~8 us a message, more than the INSERT itself. Here the statement is compiled once per
dialect, the per-batch constants (account, download time, flags) are converted once, and of
each row only the values whose column type converts them (for SQLite: the sent date, aware
-> UTC -> text, and the bytes) go through that type's own bind processor: the stored values
are exactly what the Core INSERT stores (tests/test_archive.py compares both).
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.models import ArchivedMessage

# Row keys that differ per message; the rest of a batch's row is the same for every message.
PER_MESSAGE = ("uidl", "message_id", "sender", "subject", "sent_at", "size", "raw_compressed")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    order: Callable[[Mapping[str, Any]], tuple]  # a row dict -> the statement's ? order
    per_message: tuple[tuple[str, Callable[[Any], Any]], ...]  # keys that need converting
    processors: Mapping[str, Callable[[Any], Any]]


_compiled: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()


def _compile(dialect: Dialect) -> _Compiled:
    found = _compiled.get(dialect)
    if found is not None:
        return found
    table = ArchivedMessage.__table__
    keys = [c.key for c in table.columns if not c.primary_key]
    statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=["account_id", "uidl"])
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    order = list(compiled.positiontup or ())
    if not compiled.positional or sorted(order) != sorted(keys) or compiled.returning:
        raise RuntimeError("unexpected compiled archive INSERT: " + compiled.string)
    processors = {}
    for column in table.columns:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[column.key] = process
    made = _Compiled(
        sql=compiled.string,
        order=operator.itemgetter(*order),
        per_message=tuple((k, processors[k]) for k in PER_MESSAGE if k in processors),
        processors=processors,
    )
    _compiled[dialect] = made
    return made


def insert_rows(
    connection: Connection, constant: Mapping[str, Any], rows: Iterable[dict[str, Any]]
) -> None:
    """INSERT ... ON CONFLICT (account_id, uidl) DO NOTHING of `rows` (dicts of PER_MESSAGE
    keys, changed in place), each completed with `constant` (the other keys). SQLite only."""
    compiled = _compile(connection.dialect)
    fixed = {
        k: compiled.processors[k](v) if k in compiled.processors else v for k, v in constant.items()
    }
    per_message, order = compiled.per_message, compiled.order
    params = []
    for row in rows:
        for key, process in per_message:
            row[key] = process(row[key])
        row.update(fixed)
        params.append(order(row))
    if params:
        connection.exec_driver_sql(compiled.sql, params)
