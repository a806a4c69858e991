"""The pytest fixture: one Cyrus per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.packaged import session_server

from .server import Cyrus


@pytest.fixture(scope="session")
def cyrus() -> Iterator[Cyrus]:
    """A real Cyrus for the whole session (IMAP, IMAPS, POP3, POP3S on loopback)."""
    yield from session_server(Cyrus, "Cyrus")
