"""The IdleHub's timers (mail/idle.py): renewals, silence checks and renewal deadlines, in
buckets by due time.

Renewal and silence-check times are rounded up to a grid (a few seconds), so thousands of
connections share each time: a bucket per distinct time holds them in a list, and a small
heap orders the distinct times alone. Adding is an append and a due bucket is taken whole.
A heap of one entry per timer cost far more at 10,000 connections: each pop sifted through
tens of thousands of entries the hub touches once in minutes (cold in the CPU's caches),
about 80 us a pop, most of the hub's quiet CPU (bench.sweep --profile-hub, round 22).

Entries are never removed: a watch taken, lost or renewed since its entry was added is
skipped when the bucket comes due (the hub's `_current`)."""

from __future__ import annotations

import heapq

from mail.idle_poller import Watch


class Timetable:
    def __init__(self) -> None:
        self._times: list[float] = []  # heap of the distinct due times
        self._buckets: dict[float, list[Watch]] = {}

    def __len__(self) -> int:
        return len(self._times)

    def add(self, at: float, watch: Watch) -> None:
        bucket = self._buckets.get(at)
        if bucket is None:
            self._buckets[at] = [watch]
            heapq.heappush(self._times, at)
        else:
            bucket.append(watch)

    def next_at(self) -> float | None:
        return self._times[0] if self._times else None

    def due(self, now: float) -> bool:
        return bool(self._times) and self._times[0] <= now

    def pop_due(self, now: float) -> tuple[float, list[Watch]] | None:
        """The earliest bucket due by `now`, taken out (what is added meanwhile for the same
        time goes into a new bucket, taken next), or None."""
        if not self._times or self._times[0] > now:
            return None
        at = heapq.heappop(self._times)
        return at, self._buckets.pop(at)
