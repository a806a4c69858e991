"""The pytest fixture: one Courier per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.packaged import session_server

from .server import Courier


@pytest.fixture(scope="session")
def courier() -> Iterator[Courier]:
    """A real Courier for the whole session (IMAP, IMAPS, POP3, POP3S on loopback)."""
    yield from session_server(Courier, "Courier")
