"""The pytest fixture: one Cyrus per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.packaged import ServerError

from .server import Cyrus


@pytest.fixture(scope="session")
def cyrus() -> Iterator[Cyrus]:
    """A real Cyrus for the whole session (IMAP, IMAPS, POP3, POP3S on loopback)."""
    try:
        server = Cyrus()
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
    except ServerError as exc:
        server.cleanup()
        pytest.fail(f"could not start Cyrus: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.cleanup()
