"""When to bring a pushed IMAP account's connection back after it was lost.

The connection itself is the account's one session (mail/sessions.py): a poll opens it,
catches up by UID, and leaves it idling in the IdleHub. So reconnecting *is* polling:
after a loss this schedules a poll with exponential backoff plus jitter (1 s, 2 s, 4 s
... capped at an hour); the backoff starts over only once a connection has lived a
minute, so a server or NAT that drops every connection at once is not hammered."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 3600.0
STABLE_AFTER = 60.0  # seconds a connection must live before its backoff resets


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """1, 2, 4 ... seconds (capped at an hour), each scaled by a jitter in [0.5, 1)."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(attempt, 20)) * (0.5 + rng() / 2)


class Reconnects:
    def __init__(self, request_poll: Callable[[int], None]) -> None:
        self._request_poll = request_poll
        self._loop = asyncio.get_running_loop()
        self._attempts: dict[int, int] = {}
        self._connected_at: dict[int, float] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def connected(self, account_id: int) -> None:
        """The account's connection idles (again); its stability clock starts now."""
        self._connected_at.setdefault(account_id, time.monotonic())

    def is_connected(self, account_id: int) -> bool:
        return account_id in self._connected_at

    def lost(self, account_id: int, reason: str, at_least: float = 0.0) -> float:
        """Schedule the reconnecting poll, `at_least` seconds away; returns its delay."""
        since = self._connected_at.pop(account_id, None)
        if since is not None and time.monotonic() - since > STABLE_AFTER:
            self._attempts.pop(account_id, None)  # it had been fine for a while: start over
        attempt = self._attempts.get(account_id, 0)
        self._attempts[account_id] = attempt + 1
        delay = max(backoff_delay(attempt), at_least)
        old = self._timers.pop(account_id, None)
        if old is not None:
            old.cancel()
        self._timers[account_id] = self._loop.call_later(delay, self._fire, account_id)
        log.info("IDLE of account %s lost (%s); reconnect in %.1fs", account_id, reason, delay)
        return delay

    def _fire(self, account_id: int) -> None:
        self._timers.pop(account_id, None)
        self._request_poll(account_id)

    def forget(self, account_id: int) -> None:
        timer = self._timers.pop(account_id, None)
        if timer is not None:
            timer.cancel()
        self._attempts.pop(account_id, None)
        self._connected_at.pop(account_id, None)

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
