"""The pytest fixtures: one IdP per session, reset before every test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import IdentityProvider


@pytest.fixture(scope="session")
def idp() -> Iterator[IdentityProvider]:
    """The identity-provider double for the whole session (Dovecot's introspection URL points
    at it). Its per-test state is cleared before each test that uses it (see `_idp_reset`)."""
    server = IdentityProvider()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _idp_reset(request: pytest.FixtureRequest) -> None:
    """Before each test that uses `idp` (directly or through `dovecot`): `idp.reset()`."""
    if "idp" in request.fixturenames:
        request.getfixturevalue("idp").reset()
