"""Shared by the benchmarks: the test rig's real Dovecot and Discord double, outside pytest."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from cryptography.fernet import Fernet

import bot as bot_module
from mail import net
from tests.plugins.discord_double import DiscordDouble
from tests.plugins.dovecot import Dovecot
from tests.plugins.mailsync import Harness


@contextlib.contextmanager
def dovecot_server() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@contextlib.asynccontextmanager
async def bot_harness(dovecot: Dovecot, **settings_overrides: object) -> AsyncIterator[Harness]:
    """A started double, patched in, and a Harness whose bot uses a temp SQLite store."""
    os.environ["SSL_CERT_FILE"] = dovecot.ca_file
    net.reset_tls_context()
    double = DiscordDouble()
    await double.start()
    with tempfile.TemporaryDirectory() as tmp, double.patched():
        settings = bot_module.Settings(
            discord_token="fake-token",
            secret_key=Fernet.generate_key().decode(),
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            guild_id=double.guild_id,
            allow_private_hosts=True,
            **settings_overrides,  # type: ignore[arg-type]
        )
        try:
            yield Harness(double, dovecot, settings)
        finally:
            await double.stop()
