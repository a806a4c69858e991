"""cogs/_sender.py without Discord: the outbox loop stops when asked."""

import asyncio
from types import SimpleNamespace

from cogs import _sender
from cogs._sender import OutboxSender


async def test_stop_right_after_a_poke_ends_the_loop(monkeypatch):
    """A poke that lands just before stop() (a poll finishing while the bot closes) must not
    swallow the cancellation: on Python 3.11 asyncio.wait_for returned the already-set
    event instead of raising, the loop went round again and stop() waited forever."""
    monkeypatch.setattr(_sender.outbox, "any_unsent", lambda engine: True)
    monkeypatch.setattr(_sender.outbox, "due", lambda engine, now, limit, shards, skip: [])
    monkeypatch.setattr(_sender.outbox, "next_due_at", lambda engine, shards: None)

    async def ready() -> None:
        return None

    http = SimpleNamespace(request=None)
    sender = OutboxSender(SimpleNamespace(engine=None, wait_until_ready=ready, http=http))
    sender.start()
    async with asyncio.timeout(5):
        while not sender._wake._waiters:  # until the loop waits for a wake-up
            await asyncio.sleep(0.01)
    sender.poke()
    await asyncio.sleep(0)  # the event's waiter finished; the loop has not resumed yet
    stopping = asyncio.create_task(sender.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    if not done:  # end the stray loop so that the test itself can finish
        sender._task.cancel()
        await stopping
    assert done, "OutboxSender.stop() did not return: the loop lost its cancellation"
