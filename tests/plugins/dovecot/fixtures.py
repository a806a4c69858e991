"""The pytest fixtures: one Dovecot per session, fresh users, a trusting SSL env."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.plugins.idp import IdentityProvider

from .accounts import MailUser
from .errors import DovecotError
from .layouts import LAYOUTS
from .server import Dovecot

if TYPE_CHECKING:  # the plugin itself is registered by pytest_plugins
    from tests.plugins.smtp_sink import SmtpSink


@pytest.fixture(scope="session")
def dovecot(idp: IdentityProvider, smtp_sink: SmtpSink) -> Iterator[Dovecot]:
    """A real Dovecot for the whole session (IMAP, IMAPS, POP3, POP3S on loopback).

    Users log in with their password, or with XOAUTH2 / OAUTHBEARER and an access token of
    the `idp` double, which Dovecot asks at every login (its /introspect). SMTP submission
    (submission_port, submissions_port) relays what it accepts to the `smtp_sink`.
    """
    problem = None
    try:
        server = Dovecot(introspection_url=idp.introspection_endpoint, relay_port=smtp_sink.port)
    except DovecotError as exc:
        problem = str(exc)
    else:
        try:
            server.start()
        except DovecotError as exc:
            server.cleanup()
            problem = f"could not start Dovecot: {exc}"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    """A fresh mail user with a random password and the default 1 MiB quota."""
    return dovecot.add_user()


@pytest.fixture
def dovecot_ssl_env(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point SSL_CERT_FILE at the test CA so default SSL contexts trust Dovecot."""
    monkeypatch.setenv("SSL_CERT_FILE", dovecot.ca_file)
    return dovecot.ca_file


@pytest.fixture(scope="session")
def layout_dovecot(dovecot: Dovecot) -> Iterator[Callable[[str], Dovecot]]:
    """`layout_dovecot("gmail")`: a Dovecot of its own laid out like that provider (see
    layouts.py), started on first use, with the session Dovecot's certificate."""
    started: dict[str, Dovecot] = {}

    def get(name: str) -> Dovecot:
        if name not in started:
            server = Dovecot(layout=LAYOUTS[name], tls_from=dovecot)
            try:
                server.start()
            except DovecotError as exc:
                server.cleanup()
                pytest.fail(f"could not start the {name} Dovecot: {exc}", pytrace=False)
            started[name] = server
        return started[name]

    try:
        yield get
    finally:
        for server in started.values():
            server.cleanup()
