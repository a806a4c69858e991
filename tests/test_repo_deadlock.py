"""storage/repo.py: a removal PostgreSQL picked as a deadlock's victim (the account's rows
cascading into a poll's concurrent health write) is run again; other errors are not."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from storage import repo


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing(sqlstate: str, times: int):
    calls = []

    def delete() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("DELETE FROM account", {}, _Orig(sqlstate))
        return "deleted"

    return delete, calls


def test_a_deadlock_victim_is_deleted_on_the_next_try():
    delete, calls = _failing("40P01", times=2)
    assert repo._retrying_deadlocks(delete) == "deleted"
    assert len(calls) == 3


def test_other_errors_and_a_lasting_deadlock_are_raised():
    delete, calls = _failing("08006", times=1)  # connection failure: not retried
    with pytest.raises(OperationalError):
        repo._retrying_deadlocks(delete)
    assert len(calls) == 1
    delete, calls = _failing("40P01", times=5)
    with pytest.raises(OperationalError):
        repo._retrying_deadlocks(delete, attempts=3)
    assert len(calls) == 3
