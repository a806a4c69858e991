"""The IdleHub's timetable (mail/idle_timetable.py): buckets by due time, in time order."""

from mail.idle_poller import Watch
from mail.idle_timetable import Timetable


def _watch(key: int) -> Watch:
    return Watch(key, None, None, -1, 0.0)  # type: ignore[arg-type]


def test_due_buckets_come_in_time_order_each_in_the_order_added():
    timers = Timetable()
    a, b, c = _watch(1), _watch(2), _watch(3)
    timers.add(10.0, a)
    timers.add(5.0, b)
    timers.add(10.0, c)
    timers.add(5.0, a)
    assert len(timers) == 2  # one entry per distinct time, not per watch
    assert timers.next_at() == 5.0
    assert not timers.due(4.9) and timers.pop_due(4.9) is None
    assert timers.pop_due(20.0) == (5.0, [b, a])
    assert timers.pop_due(20.0) == (10.0, [a, c])
    assert timers.pop_due(20.0) is None and timers.next_at() is None


def test_a_time_added_while_its_bucket_is_being_read_comes_in_a_bucket_of_its_own():
    timers = Timetable()
    a, b = _watch(1), _watch(2)
    timers.add(5.0, a)
    at, watches = timers.pop_due(5.0)
    timers.add(at, b)  # e.g. a check re-armed for the same grid step
    assert watches == [a]
    assert timers.pop_due(5.0) == (5.0, [b])
