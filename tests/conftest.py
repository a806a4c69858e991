"""Shared fixtures: a real mail server (Dovecot unless MAILSYNC_TEST_IMAP_SERVER names Cyrus
or Courier), a local identity provider and a double of Discord's API."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported at run time only once the plugins below are (assert rewriting)
    from tests.plugins.mailserver import MailServer, MailUser

pytest_plugins = [
    "tests.plugins.idp",
    "tests.plugins.dovecot",
    "tests.plugins.cyrus",
    "tests.plugins.courier",
    "tests.plugins.discord_double",
    "tests.plugins.mailsync",
    "tests.plugins.database",
    "tests.plugins.hostile",
    "tests.plugins.pg_restart",
    "tests.plugins.smtp_sink",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from tests.plugins.mailserver import deselect_for_server

    deselect_for_server(config, items)


def pytest_report_header(config: pytest.Config) -> str:
    from tests.plugins.mailserver import selected_server

    return f"mail server for any_server tests: {selected_server()}"


@pytest.fixture(scope="session")
def mail_server(request: pytest.FixtureRequest) -> MailServer:
    """The server MAILSYNC_TEST_IMAP_SERVER selects (dovecot, cyrus or courier)."""
    from tests.plugins.mailserver import selected_server

    return request.getfixturevalue(selected_server())


@pytest.fixture
def mail_user(mail_server: MailServer) -> MailUser:
    """A fresh mail user on the selected server, with a random password and a 1 MiB quota."""
    return mail_server.add_user()
