"""What tests read back: recorded requests, and waiting for them from any thread or loop."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from .records import RecordedRequest
from .wire import DEVICE_GRANT

POLL_SECONDS = 0.01


class InspectionMixin:
    """Queries and waits of `IdentityProvider`. The server runs on its own thread, so waits
    poll rather than block on a condition of another loop."""

    def mark(self) -> int:
        """The current number of recorded requests, to pass as ``after=``."""
        with self._lock:
            return len(self.requests)

    def summary(self, last: int = 15) -> str:
        with self._lock:
            lines = [
                f"{r.method} {r.path} {r.grant_type or ''} -> {r.status} {r.error or ''}".strip()
                for r in self.requests[-last:]
            ]
        return "; ".join(lines) or "no requests"

    def find(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        status: int | None = None,
        grant_type: str | None = None,
        after: int = 0,
    ) -> list[RecordedRequest]:
        """Recorded requests by method, path regex (searched), status and form grant_type."""
        with self._lock:
            return [
                r
                for r in self.requests[after:]
                if _matches(r, method, path, status, grant_type, None)
            ]

    def device_polls(self, device_code: str | None = None) -> list[RecordedRequest]:
        """The device-code polls of POST /token (of one device_code if given), in order;
        ``[b.monotonic - a.monotonic for a, b in pairwise(polls)]`` is their spacing."""
        return [
            r
            for r in self.find("POST", r"^/token$", grant_type=DEVICE_GRANT)
            if device_code is None or r.form.get("device_code") == device_code
        ]

    async def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        grant_type: str | None = None,
        after: int = 0,
        timeout: float = 10.0,
    ) -> RecordedRequest:
        """The first request in ``requests[after:]`` matching every given filter, waiting for
        it on the caller's event loop. Already recorded requests count."""
        deadline = time.monotonic() + timeout
        while (found := self._first(predicate, method, path, status, grant_type, after)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(method, path, status, timeout))
            await asyncio.sleep(POLL_SECONDS)
        return found

    def wait_for_blocking(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        grant_type: str | None = None,
        after: int = 0,
        timeout: float = 10.0,
    ) -> RecordedRequest:
        """`wait_for` for synchronous tests (blocks the calling thread)."""
        deadline = time.monotonic() + timeout
        while (found := self._first(predicate, method, path, status, grant_type, after)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(method, path, status, timeout))
            time.sleep(POLL_SECONDS)
        return found

    def _first(
        self,
        predicate: Callable[[RecordedRequest], bool] | None,
        method: str | None,
        path: str | None,
        status: int | None,
        grant_type: str | None,
        after: int,
    ) -> RecordedRequest | None:
        with self._lock:
            for r in self.requests[after:]:
                if _matches(r, method, path, status, grant_type, predicate):
                    return r
        return None

    def _timeout_message(
        self, method: str | None, path: str | None, status: int | None, timeout: float
    ) -> str:
        return f"no request {method} {path} status={status} within {timeout}s; seen: " + (
            self.summary()
        )


def _matches(
    r: RecordedRequest,
    method: str | None,
    path: str | None,
    status: int | None,
    grant_type: str | None,
    predicate: Callable[[RecordedRequest], bool] | None,
) -> bool:
    return (
        (method is None or r.method == method.upper())
        and (path is None or re.search(path, r.path) is not None)
        and (status is None or r.status == status)
        and (grant_type is None or r.grant_type == grant_type)
        and (predicate is None or predicate(r))
    )
