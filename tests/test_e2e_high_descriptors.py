"""End to end with every new descriptor above 1023, as in a process watching thousands of
accounts: Python's select() cannot wait on those (FD_SETSIZE), so any code path still
using it would fail here. The IMAP account over TLS found through DNS (localhost), IDLE
push through the hub, a POP3 check, the SQLite store, the web endpoint and discord.py's
HTTP all work."""

from __future__ import annotations

import dataclasses
import os
import resource
import socket

import aiohttp
import pytest

from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import until

ABOVE = 1100


@pytest.fixture
def high_descriptors():
    """Fill descriptors up to ABOVE, so everything opened afterwards gets a larger one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    fillers = []
    while not fillers or fillers[-1] < ABOVE:
        fillers.append(os.open(os.devnull, os.O_RDONLY))
    try:
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_everything_works_with_descriptors_above_1023(
    high_descriptors, harness, dovecot, mail_user
):
    """IMAP over TLS via DNS with IDLE push, POP3, SQLite, the web endpoint and Discord:
    an alert from each account arrives and /healthz answers, all on descriptors > 1023."""
    port = _free_port()
    harness.settings = dataclasses.replace(harness.settings, http_port=port)
    pop_user = dovecot.add_user()
    async with harness.running():
        _, reply = await harness.add_account(mail_user, name="imap", host="localhost")
        assert "Watching" in reply, reply
        account = harness.account_id("imap")
        client = await until(lambda: harness.idle_client(account), timeout=30)
        assert client.socket().fileno() > 1023  # the test means what it says
        dovecot.append(mail_user, make_message(subject="pushed past 1023"))
        assert "pushed past 1023" in await harness.titles(1)

        options = {"protocol": "pop3", "port": dovecot.pop3s_port, "host": "localhost"}
        _, reply = await harness.add_account(pop_user, name="pop", **options)
        assert "Watching" in reply, reply
        dovecot.append(pop_user, make_message(subject="popped past 1023"))
        await harness.reply_text(await harness.command("mail check", {"account": "pop"}))
        assert "popped past 1023" in await harness.titles(2)

        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
            assert (await response.json())["store"] == "ok"
