"""Discord's limits, planned for rather than discovered through 429s.

discord.py plans each route's bucket from the X-RateLimit headers, but it meets the global
limit (50 requests a second per bot) only by being refused. Here:
- `GlobalPacer` spaces every REST request the bot makes, whoever makes it, evenly at
  `GLOBAL_PER_SECOND`, a little under Discord's 50: even spacing, not bursts of 50, so
  that requests that leave a few milliseconds late (a busy event loop) never put 51 into
  one of Discord's seconds. Interaction replies are exempt, as on Discord: a slash command
  never waits behind a backlog of alerts.
- `ChannelPacer` keeps the sender at about 5 messages per 5 s per channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

GLOBAL_PER_SECOND = 47.0  # 3 a second under Discord's 50: room for 40 ms of jitter
PER_CHANNEL = 5
PER_CHANNEL_WINDOW = 5.0
EXEMPT_PREFIXES = ("/interactions/", "/webhooks/")  # not bound by the global limit


class GlobalPacer:
    """Requests leave one at a time, `interval` apart as they actually leave (the generic
    cell rate algorithm, with half an interval of tolerance so that a sleep that wakes a
    little late costs no rate). Spacing is kept from real departures, not reserved
    ahead: after the event loop stalls, the requests queued meanwhile do not leave in a
    burst, which Discord would count against the next second."""

    def __init__(self, rate: float = GLOBAL_PER_SECOND) -> None:
        self.interval = 1.0 / rate
        self.tolerance = self.interval / 2
        self._due = 0.0  # monotonic time the next request may leave (theoretical)
        self._turn = asyncio.Lock()  # first come, first served
        self.waited = 0.0  # seconds requests spent waiting here, for benches

    async def slot(self, gate: Callable[[], None] = lambda: None) -> None:
        """Wait for this request's turn. `gate` may raise to keep it from leaving; it is
        asked when the turn begins too, so a request refused already (the sender's lanes
        queued here when an outage began) leaves the queue at once without taking a turn,
        instead of the queue trickling out at the pace before the outage's probe."""
        async with self._turn:
            gate()
            wait = self._due - self.tolerance - time.monotonic()
            if wait > 0:
                self.waited += wait
                await asyncio.sleep(wait)
            self._due = max(self._due, time.monotonic()) + self.interval
        gate()


def pace_requests(http: Any, pacer: GlobalPacer, gate: Callable[[], None]) -> None:
    """Route every REST request of discord.py's HTTP client through `pacer` (once per
    client; the wrapper is an instance attribute, discord.py's class is untouched).
    `gate` runs when a request's slot comes and may raise to keep it from leaving."""
    if getattr(http, "mailsync_pacer", None) is not None:
        return
    request = http.request

    async def paced(route: Any, **kwargs: Any) -> Any:
        if not route.path.startswith(EXEMPT_PREFIXES):
            await pacer.slot(gate)
        return await request(route, **kwargs)

    http.request = paced
    http.mailsync_pacer = pacer


class ChannelPacer:
    """At most PER_CHANNEL sends in any PER_CHANNEL_WINDOW seconds per channel. Callers
    send one at a time per channel (the sender's lanes), so no lock is needed."""

    def __init__(self) -> None:
        self._sent_at: defaultdict[int, deque[float]] = defaultdict(deque)

    async def pace(self, channel_id: int) -> None:
        recent = self._sent_at[channel_id]
        while True:
            now = time.monotonic()
            while recent and now - recent[0] > PER_CHANNEL_WINDOW:
                recent.popleft()
            if len(recent) < PER_CHANNEL:
                recent.append(now)
                return
            await asyncio.sleep(recent[0] + PER_CHANNEL_WINDOW - now)

    def unpace(self, channel_id: int) -> None:
        """The last paced send did not reach Discord: it does not count."""
        with contextlib.suppress(IndexError):
            self._sent_at[channel_id].pop()

    def forget_idle(self) -> None:
        """Drop channels with nothing in their window (a long-running bot sees many)."""
        now = time.monotonic()
        for channel_id in [
            c for c, d in self._sent_at.items() if not d or now - d[-1] > PER_CHANNEL_WINDOW
        ]:
            del self._sent_at[channel_id]
