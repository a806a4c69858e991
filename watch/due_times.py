"""Each watched account's next due time (monotonic seconds), kept so the engine's sweep
tick costs what is due, not the number of accounts.

A dict (account -> due time) for every reader, with the times also filed in buckets of
one sweep step: the tick takes the buckets whose step has begun, and nothing else. At
10,000 accounts a tick that took the minimum of every due time and then listed the due
ones cost about 13 ms, four times a minute, most of the event loop's quiet CPU: the
10,000 float objects, each made at a different time, are scattered in memory and cold
(bench.sweep --profile-loop, round 22). Entries are never removed from a bucket: one
whose account was unscheduled or re-timed since is skipped when its bucket is taken."""

from __future__ import annotations

import heapq
import math

STEP = 15.0  # seconds: the engine's sweep tick (SWEEP_SECONDS)


class DueTimes(dict[int, float]):
    def __init__(self, step: float = STEP) -> None:
        super().__init__()
        self._step = step
        self._starts: list[float] = []  # heap of the buckets' start times
        self._buckets: dict[float, list[int]] = {}

    def __setitem__(self, account_id: int, at: float) -> None:
        super().__setitem__(account_id, at)
        self._file(account_id, at)

    def _start(self, at: float) -> float:
        return math.floor(at / self._step) * self._step

    def _file(self, account_id: int, at: float) -> None:
        start = self._start(at)
        bucket = self._buckets.get(start)
        if bucket is None:
            self._buckets[start] = [account_id]
            heapq.heappush(self._starts, start)
        elif bucket[-1] != account_id:  # a poll re-writing its time files it once
            bucket.append(account_id)

    def take_due(self, now: float) -> list[int]:
        """The accounts due by `now`, each once. They leave the buckets (not the dict): set a
        new time, or `keep` one to have it again at the next tick."""
        due: dict[int, None] = {}
        later: dict[int, None] = {}  # in a bucket that has begun, but due after `now`
        while self._starts and self._starts[0] <= now:
            start = heapq.heappop(self._starts)
            for account_id in self._buckets.pop(start):
                at = self.get(account_id)
                if at is None or self._start(at) != start:
                    continue  # unscheduled, or re-timed into another bucket since
                (due if at <= now else later)[account_id] = None
        for account_id in later:
            self._file(account_id, self[account_id])
        return list(due)

    def keep(self, account_id: int) -> None:
        """Taken but not handled (e.g. being polled): due again at the next tick."""
        at = self.get(account_id)
        if at is not None:
            self._file(account_id, at)
