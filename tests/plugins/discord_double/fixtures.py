"""The pytest fixtures: a started, patched-in double per test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from .double import DiscordDouble


@contextlib.asynccontextmanager
async def _serving(double: DiscordDouble) -> AsyncIterator[DiscordDouble]:
    await double.start()
    try:
        with double.patched():
            yield double
    finally:
        await double.stop()


@pytest_asyncio.fixture
async def discord_double() -> AsyncIterator[DiscordDouble]:
    """A started double with one default guild; discord.py points at it for the test."""
    async with _serving(DiscordDouble()) as double:
        yield double


@pytest_asyncio.fixture
async def make_discord_double() -> AsyncIterator[Callable[..., Any]]:
    """An async factory: ``double = await make_discord_double(guilds=[GuildSpec(...)])``.

    Only one double can be patched in at a time; a second call raises.
    """
    stack = contextlib.AsyncExitStack()
    made: list[DiscordDouble] = []

    async def make(*args: Any, **kwargs: Any) -> DiscordDouble:
        if made:
            raise RuntimeError("make_discord_double supports one double per test")
        double = await stack.enter_async_context(_serving(DiscordDouble(*args, **kwargs)))
        made.append(double)
        return double

    async with stack:
        yield make
