"""At most 100 new connections a second to one server (address and port), paced at
PER_SECOND.

A start with thousands of accounts on one provider would otherwise open connections as
fast as the workers can: a burst that providers answer with throttling or a temporary
ban, and that costs our own CPU in TLS handshakes all at once. Connections are spaced
evenly; a caller (always a worker thread, never the event loop) sleeps until its turn.
"""

from __future__ import annotations

import threading
import time

# The promise is 100 a second; the pace is 10 % under it. Starts are spaced exactly, but
# what a server counts (accepts, logins) comes after thread scheduling and the TLS
# handshake, which bunch: at 100 a second Dovecot logged up to 107 logins in one second
# (bench.sweep, 10,000 accounts). The same reasoning as Discord's 47 of 50 (cogs/_pacing.py).
PER_SECOND = 90.0
_PRUNE_ABOVE = 1024  # servers remembered before forgetting those idle for a while

_lock = threading.Lock()
_next_turn: dict[tuple[str, int], float] = {}


def wait_turn(address: str, port: int) -> float:
    """Block until a new connection to (address, port) may start; returns the wait."""
    key = (address, port)
    with _lock:
        now = time.monotonic()
        turn = max(now, _next_turn.get(key, 0.0))
        _next_turn[key] = turn + 1.0 / PER_SECOND
        if len(_next_turn) > _PRUNE_ABOVE:
            for stale in [k for k, t in _next_turn.items() if t < now - 60]:
                del _next_turn[stale]
    wait = turn - now
    if wait > 0:
        time.sleep(wait)
    return max(0.0, wait)
