"""The pytest fixture: one Courier per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.packaged import ServerError

from .server import Courier


@pytest.fixture(scope="session")
def courier() -> Iterator[Courier]:
    """A real Courier for the whole session (IMAP, IMAPS, POP3, POP3S on loopback)."""
    try:
        server = Courier()
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
    except ServerError as exc:
        server.cleanup()
        pytest.fail(f"could not start Courier: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.cleanup()
