"""The engine's due times (watch/due_times.py): a dict whose tick takes only what is due."""

from watch.due_times import DueTimes


def test_a_tick_takes_what_is_due_once_and_leaves_the_rest():
    due = DueTimes(step=15.0)
    due[1] = 100.0
    due[2] = 104.0
    due[3] = 400.0
    due[1] = 101.0  # re-timed within the same step: still taken once
    assert due.take_due(99.0) == []
    assert sorted(due.take_due(102.0)) == [1]  # 2 is in a step that began, due later
    assert due.take_due(102.0) == []  # taken: not again until given a new time
    assert due.take_due(110.0) == [2]
    assert due[1] == 101.0 and set(due) == {1, 2, 3}  # the dict itself is unchanged


def test_removed_or_moved_accounts_are_skipped_and_kept_ones_come_again():
    due = DueTimes(step=15.0)
    due[1] = 10.0
    due[2] = 10.0
    due[3] = 10.0
    due.pop(2)  # unscheduled
    due[3] = 900.0  # re-timed into a later step
    assert due.take_due(20.0) == [1]
    due.keep(1)  # e.g. being polled at this tick
    assert due.take_due(35.0) == [1]
    assert due.take_due(1000.0) == [3]
    due[4] = 0.0  # due_now
    assert due.take_due(1000.0) == [4]


def test_rewriting_the_same_time_files_the_account_once():
    due = DueTimes(step=15.0)
    for _ in range(1000):  # e.g. every poll of a busy account writes min(due, ...)
        due[1] = 50.0
    due[2] = 51.0
    due[1] = 52.0  # after another account: filed again, still taken once
    assert sum(len(bucket) for bucket in due._buckets.values()) == 3
    assert sorted(due.take_due(60.0)) == [1, 2]
