"""The global pacer (cogs/_pacing.py): requests a gate refuses take no turn."""

from __future__ import annotations

import asyncio

import pytest

from cogs._pacing import GlobalPacer


class _Refused(Exception):
    pass


async def test_requests_refused_while_queued_leave_without_a_turn():
    """100 requests queue at 10 a second; the gate starts refusing after the first has
    left (an outage began). Of the 99 still queued, only the one already waiting for its
    turn takes it; the other 98 leave at once without one (at the pace they would have
    trickled out over 9.9 s, holding the outage's probe behind them)."""
    pacer = GlobalPacer(rate=10.0)
    down = False

    def gate() -> None:
        if down:
            raise _Refused

    async def request() -> str:
        try:
            await pacer.slot(gate)
        except _Refused:
            return "refused"
        return "sent"

    tasks = [asyncio.create_task(request()) for _ in range(100)]
    first = await tasks[0]
    due_after_first = pacer._due
    down = True
    results = await asyncio.gather(*tasks[1:])
    assert first == "sent"
    assert results == ["refused"] * 99
    # One turn more (the request waiting when the gate closed), not 99; one wait.
    assert pacer._due - due_after_first <= pacer.interval * 1.01
    assert pacer.waited < pacer.interval


async def test_a_request_whose_gate_closes_during_its_wait_does_not_leave():
    """The gate is asked again once the turn has come: an outage that began during the
    wait still keeps the request back."""
    pacer = GlobalPacer(rate=10.0)
    await pacer.slot()  # the next turn is 0.1 s away
    calls = 0

    def gate() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise _Refused

    with pytest.raises(_Refused):
        await pacer.slot(gate)
    assert calls == 2
