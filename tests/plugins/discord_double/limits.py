"""Discord's rate limits and latency, off until a test or bench sets them.

- ``latency``: every REST answer leaves this many seconds after its request arrived.
- the global limit: at most ``global_per_second`` requests in any second (by arrival),
  else a 429 with ``X-RateLimit-Global: true`` and ``retry_after`` (Discord allows a bot
  50). Interaction callbacks and webhooks are exempt, as on Discord.
- per-route buckets: ``POST /channels/{id}/messages`` allows ``channel_messages`` posts
  per ``channel_window`` seconds per channel (thread or channel), a window that starts
  with its first post, as Discord's buckets do (about 5 per 5 s). Every answer on that
  route carries the bucket's X-RateLimit-* headers, so discord.py plans per route as it
  does against Discord; a post past the limit gets a route 429 (``X-RateLimit-Scope: user``).

Requests answered 429 by these limits are not served and do not count towards the window;
they are kept in ``rate_limited`` (with the scope) for tests and benches to count.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from .records import RecordedRequest
from .wire import _json

_CHANNEL_POST = re.compile(r"/channels/(\d+)/messages")
_EXEMPT = re.compile(r"/(interactions|webhooks)/")


@dataclass
class _Bucket:
    started: float
    used: int = 0


@dataclass
class RateLimits:
    latency: float = 0.0
    global_per_second: int | None = None
    channel_messages: int | None = None
    channel_window: float = 5.0
    arrivals: deque[float] = field(default_factory=deque)  # served, within the last second
    buckets: dict[int, _Bucket] = field(default_factory=dict)


class LimitsMixin:
    """Latency and rate limits of `DiscordDouble`."""

    limits: RateLimits
    #: (request, "global" | "user") for every 429 the limits answered.
    rate_limited: list[tuple[RecordedRequest, str]]

    def set_limits(
        self,
        *,
        latency: float = 0.0,
        global_per_second: int | None = 50,
        channel_messages: int | None = 5,
        channel_window: float = 5.0,
    ) -> None:
        """Behave like Discord: the defaults are its global and per-channel limits. Pass
        None to lift one; ``latency`` is per request, in seconds."""
        self.limits = RateLimits(latency, global_per_second, channel_messages, channel_window)

    def global_429s(self) -> list[RecordedRequest]:
        return [r for r, scope in self.rate_limited if scope == "global"]

    def route_429s(self) -> list[RecordedRequest]:
        return [r for r, scope in self.rate_limited if scope == "user"]

    def _limited(self, r: RecordedRequest) -> web.Response | None:
        """A 429 for a request over a limit, at its arrival; None lets it through (and
        counts it)."""
        limits, now = self.limits, r.monotonic
        if limits.global_per_second is not None and not _EXEMPT.match(r.path):
            while limits.arrivals and now - limits.arrivals[0] >= 1.0:
                limits.arrivals.popleft()
            if len(limits.arrivals) >= limits.global_per_second:
                retry = limits.arrivals[0] + 1.0 - now
                return self._too_many(r, retry, "global", limits.global_per_second)
        bucket = self._bucket(r)
        if bucket is not None and bucket.used >= (limits.channel_messages or 0):
            retry = bucket.started + limits.channel_window - now
            return self._too_many(r, retry, "user", limits.channel_messages or 0)
        if limits.global_per_second is not None and not _EXEMPT.match(r.path):
            limits.arrivals.append(now)
        if bucket is not None:
            bucket.used += 1
        return None

    def _bucket(self, r: RecordedRequest) -> _Bucket | None:
        limits = self.limits
        m = _CHANNEL_POST.fullmatch(r.path)
        if limits.channel_messages is None or r.method != "POST" or m is None:
            return None
        channel = int(m.group(1))
        bucket = limits.buckets.get(channel)
        if bucket is None or r.monotonic - bucket.started >= limits.channel_window:
            bucket = limits.buckets[channel] = _Bucket(r.monotonic)
        return bucket

    def _bucket_headers(self, r: RecordedRequest, response: web.StreamResponse) -> None:
        """X-RateLimit-* of a channel post's bucket, on every answer of that route."""
        limits = self.limits
        m = _CHANNEL_POST.fullmatch(r.path)
        if limits.channel_messages is None or r.method != "POST" or m is None:
            return
        bucket = limits.buckets.get(int(m.group(1)))
        if bucket is None:
            return
        reset_after = max(0.0, bucket.started + limits.channel_window - time.monotonic())
        response.headers.update(
            {
                "X-RateLimit-Limit": str(limits.channel_messages),
                "X-RateLimit-Remaining": str(max(0, limits.channel_messages - bucket.used)),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Bucket": f"channel-messages-{m.group(1)}",
            }
        )

    def _too_many(self, r: RecordedRequest, retry: float, scope: str, limit: int) -> web.Response:
        self.rate_limited.append((r, scope))
        retry = max(0.001, retry)
        is_global = scope == "global"
        body = {"message": "You are being rate limited.", "retry_after": retry, "global": is_global}
        headers = {
            "Retry-After": str(max(1, round(retry))),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry:.3f}",
            "X-RateLimit-Scope": scope,
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        return _json(body, status=429, headers=headers)

    async def _answer_later(self, r: RecordedRequest) -> None:
        """The latency: the answer leaves `latency` after the request arrived."""
        wait = r.monotonic + self.limits.latency - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
