"""Poll slots: how many polls run at once (MAILSYNC_POLL_CONCURRENCY), and why a server
that hangs cannot take them all from the healthy accounts.

Every poll starts in one of `concurrency` slots. A poll still running after
`overtime_after` seconds (a hung or trickling server: a healthy poll takes well under a
second) moves to an overtime slot, of which there are as many again, and frees its slot
for the others; it keeps running until its deadlines end it. So up to `concurrency`
misbehaving servers at once cost the healthy accounts at most `overtime_after` of waiting,
and each poll holds one slot or one overtime slot, never both. The mail work of polls runs
on its own threads (`executor`), sized for both kinds, so hung polls never starve the
default executor that store reads and the outbox use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

OVERTIME_AFTER = 4.0  # seconds; a pushed healthy alert must arrive within 10 s
SPARE_THREADS = 8  # /mail folders, buttons and sweeps beside the polls


class _Ticket:
    __slots__ = ("overtime",)

    def __init__(self) -> None:
        self.overtime = False


class PollSlots:
    def __init__(self, concurrency: int, overtime_after: float = OVERTIME_AFTER) -> None:
        self.concurrency = concurrency
        self.overtime_after = overtime_after
        self._slots = asyncio.Semaphore(concurrency)
        self.running = 0  # polls in a regular slot now
        self.overtime = 0  # polls in an overtime slot now
        self.executor = ThreadPoolExecutor(
            max_workers=2 * concurrency + SPARE_THREADS, thread_name_prefix="mail-poll"
        )

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold a slot for the body; once it overruns, an overtime slot if one is free.
        The move is a timer on the loop, so a poll costs one call_later, no extra task."""
        await self._slots.acquire()
        self.running += 1
        ticket = _Ticket()
        timer = asyncio.get_running_loop().call_later(
            self.overtime_after, self._to_overtime, ticket
        )
        try:
            yield
        finally:
            timer.cancel()
            if ticket.overtime:
                self.overtime -= 1
            else:
                self.running -= 1
                self._slots.release()

    def _to_overtime(self, ticket: _Ticket) -> None:
        if self.overtime >= self.concurrency:
            return  # as many overruns as slots already: this one keeps its slot
        ticket.overtime = True
        self.overtime += 1
        self.running -= 1
        self._slots.release()

    async def in_thread(self, fn: Callable[..., T], *args: object) -> T:
        """Blocking mail work on the polls' threads (not the loop's default executor)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
