"""The hostile proxy itself: with no fault set it is a faithful pipe to the real Dovecot."""

from __future__ import annotations

import asyncio

from imapclient import IMAPClient

from tests.plugins.hostile import Fault, HostileProxy, Link


def test_with_no_fault_a_real_client_logs_in_and_reads_through_the_proxy(
    hostile_imap: HostileProxy, mail_user, dovecot_ssl_env
):
    """imapclient over TLS to the proxy reaches Dovecot: login, select, and a real answer."""
    with IMAPClient(hostile_imap.host, port=hostile_imap.port, ssl=True, timeout=10) as client:
        client.login(mail_user.name, mail_user.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    assert hostile_imap.accepted == 1
    assert hostile_imap.bytes_to_client > 0


def test_a_fault_sees_plaintext_and_can_drop_the_connection(
    hostile_imap: HostileProxy, mail_user, dovecot_ssl_env
):
    """A fault gets the server's plaintext lines and closing the link reaches the client."""
    seen: list[bytes] = []

    class DropAfterGreeting(Fault):
        async def from_server(self, link: Link, data: bytes) -> None:
            seen.append(data)
            await link.to_client(data)
            await asyncio.sleep(0)
            link.close()

    hostile_imap.set_fault(DropAfterGreeting())
    failed = None
    try:
        with IMAPClient(hostile_imap.host, port=hostile_imap.port, ssl=True, timeout=10) as c:
            c.login(mail_user.name, mail_user.password)
    except Exception as exc:  # imaplib's abort: the proxy closed after the greeting
        failed = exc
    assert failed is not None and "EOF" in str(failed)
    assert seen and seen[0].startswith(b"* OK")
