"""Provider profiles (docs/providers.md): recognised by host name or by what the server
itself says, against real Dovecots laid out like Gmail and like Exchange Online."""

from __future__ import annotations

import time

import pytest

from mail import actions, imap, imap_quota, providers
from mail.types import Protocol, Security, ServerConfig


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("imap.gmail.com", "gmail"),
        ("IMAP.GMAIL.COM.", "gmail"),
        ("imap.googlemail.com", "gmail"),
        ("outlook.office365.com", "microsoft"),
        ("imap-mail.outlook.com", "microsoft"),
        ("imap.mail.yahoo.com", "yahoo"),
        ("imap.aol.com", "aol"),
        ("imap.mail.me.com", "icloud"),
        ("imap.fastmail.com", "fastmail"),
        ("imappro.zoho.com", "zoho"),
        ("imap.gmx.net", "gmx"),
        ("imap.web.de", "gmx"),
    ],
)
def test_a_provider_is_recognised_by_its_host_name(host, key):
    """Each provider's documented IMAP host (any case, trailing dot) maps to its profile."""
    found = providers.detect(host)
    assert found is not None and found.key == key


def test_lookalike_hosts_are_not_recognised():
    """A host that only ends in a provider's name, or contains it, is no provider."""
    for host in (
        "evilgmail.com",
        "imap.gmail.com.example.net",
        "notoutlook.com",
        "mail.example.org",
    ):
        assert providers.detect(host) is None, host


def test_a_provider_is_recognised_by_its_capability_or_greeting():
    """Gmail by X-GM-EXT-1 and Microsoft by its greeting, whatever the host is called."""
    assert providers.detect("mx.example.org", [b"IMAP4rev1", b"X-GM-EXT-1"]).key == "gmail"
    greeting = b"* OK The Microsoft Exchange IMAP4 service is ready. [xyz]"
    assert providers.detect("mail.corp.example", [b"IMAP4rev1"], greeting).key == "microsoft"
    assert providers.detect("mail.corp.example", [b"IMAP4rev1", b"IDLE"], b"* OK Dovecot") is None


def _config(server, user) -> ServerConfig:
    return ServerConfig(
        Protocol.IMAP, server.host, server.imaps_port, Security.TLS, user.name, user.password
    )


def test_gmail_layout_archive_means_the_all_folder(layout_dovecot, dovecot_ssl_env):
    """On a server that says it is Gmail, Archive is the folder marked \\All (there is no
    Archive folder); Trash is still found by its SPECIAL-USE flag."""
    gmail = layout_dovecot("gmail")
    user = gmail.add_user()
    with imap.session(_config(gmail, user), allow_private=True) as client:
        assert client.has_capability("X-GM-EXT-1")
        assert providers.of_client(client) is providers.GMAIL
        assert actions.find_destination(client, actions.Action.ARCHIVE) == "[Gmail]/All Mail"
        assert actions.find_destination(client, actions.Action.TRASH) == "[Gmail]/Trash"


def test_exchange_layout_finds_unflagged_folders_by_microsofts_names(
    layout_dovecot, dovecot_ssl_env
):
    """Exchange lists no SPECIAL-USE flags: Trash is "Deleted Items", Archive "Archive"."""
    exchange = layout_dovecot("exchange")
    user = exchange.add_user()
    with imap.session(_config(exchange, user), allow_private=True) as client:
        assert not client.has_capability("SPECIAL-USE")
        assert providers.of_client(client) is providers.MICROSOFT
        assert actions.find_destination(client, actions.Action.TRASH) == "Deleted Items"
        assert actions.find_destination(client, actions.Action.ARCHIVE) == "Archive"


def test_exchange_layout_without_quota_says_so_plainly(layout_dovecot, dovecot_ssl_env):
    """No QUOTA advertised: the report is unsupported and carries Microsoft's sentence."""
    exchange = layout_dovecot("exchange")
    user = exchange.add_user()
    with imap.session(_config(exchange, user), allow_private=True) as client:
        assert not client.has_capability("QUOTA")
        report = imap_quota.quota(client)
    assert report.supported is False
    assert report.note is not None and "Microsoft 365" in report.note


def test_an_unknown_server_keeps_the_standard_names(dovecot, mail_user, dovecot_ssl_env):
    """The session's plain Dovecot is no provider: Archive by SPECIAL-USE, as before."""
    with imap.session(_config(dovecot, mail_user), allow_private=True) as client:
        assert providers.of_client(client) is None
        assert actions.find_destination(client, actions.Action.ARCHIVE) == "Archives"


def test_a_microsoft_connection_renews_idle_sooner_than_the_others(
    layout_dovecot, dovecot, mail_user, dovecot_ssl_env
):
    """In one hub renewing every 24 minutes, the connection to the Exchange-like server is
    due for renewal within Microsoft's 9 minutes; the plain Dovecot's keeps 24."""
    from mail.idle import IdleHub
    from mail.idle_conn import open_idle

    exchange = layout_dovecot("exchange")
    user = exchange.add_user()
    hub = IdleHub(lambda key: None, lambda key, why: None, reissue_seconds=24 * 60)
    hub.start()
    try:
        for key, (server, who) in {"ms": (exchange, user), "plain": (dovecot, mail_user)}.items():
            client = open_idle(_config(server, who), allow_private=True)
            assert client is not None
            hub.add(key, client)
        deadline = time.monotonic() + 10
        while len(hub._watches) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        now = time.monotonic()
        ms_due = hub._watches["ms"].reissue_at - now
        plain_due = hub._watches["plain"].reissue_at - now
    finally:
        hub.stop()
    assert 8 * 60 < ms_due <= 9 * 60 + 5, ms_due
    assert 23 * 60 < plain_due <= 24 * 60 + 5, plain_due
