"""Fixtures: a hostile proxy in front of the session's Dovecot, IMAP or POP3, with implicit
TLS towards the bot (the rig's certificate, which the harness already trusts)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.dovecot import Dovecot

from .proxy import HostileProxy


@pytest.fixture
def hostile_imap(dovecot: Dovecot) -> Iterator[HostileProxy]:
    """Passes IMAP through to Dovecot until the test sets a fault."""
    with HostileProxy(dovecot.imap_port, tls=(str(dovecot.cert_file), str(dovecot.key_file))) as p:
        yield p


@pytest.fixture
def hostile_pop3(dovecot: Dovecot) -> Iterator[HostileProxy]:
    """Passes POP3 through to Dovecot until the test sets a fault."""
    with HostileProxy(dovecot.pop3_port, tls=(str(dovecot.cert_file), str(dovecot.key_file))) as p:
        yield p
