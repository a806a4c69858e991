"""What the bot's IMAP connections keep (mail/imap_lean.py), against the real Dovecot: the
bot holds one connection per account, so what is the same for each is shared and what
nothing reads is not kept."""

from __future__ import annotations

import imaplib

import pytest

from mail import idle_conn, imap, imap_lean, net
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.hostile import HostileProxy
from tests.plugins.hostile.stream_faults import StreamFault


@pytest.fixture
def cfg_for(dovecot, dovecot_ssl_env):
    net.reset_tls_context()

    def make(user, host=dovecot.host, port=dovecot.imaps_port):
        return ServerConfig(Protocol.IMAP, host, port, Security.TLS, user.name, user.password)

    yield make
    net.reset_tls_context()


def test_connections_to_one_server_share_their_capability_lists(dovecot, cfg_for):
    """imaplib's list (read at the greeting) and imapclient's (after login) are one tuple
    each for every connection to the server, and still answer has_capability."""
    first = imap.connect(cfg_for(dovecot.add_user()), allow_private=True)
    second = imap.connect(cfg_for(dovecot.add_user()), allow_private=True)
    try:
        assert first.capabilities() == second.capabilities()
        assert first.capabilities() is second.capabilities()
        assert first._imap.capabilities is second._imap.capabilities
        assert "IMAP4REV1" in first._imap.capabilities
        assert first.has_capability("IDLE") and second.has_capability("IDLE")
    finally:
        imap.close(first)
        imap.close(second)


def test_an_idle_connection_keeps_no_lines_of_its_session(cfg_for, mail_user):
    """In IDLE: no SELECT answers left in imaplib's table, no ring of recent lines, the
    tagged-response pattern and the logging adapter are the shared ones."""
    client = idle_conn.open_idle(cfg_for(mail_user), allow_private=True)
    assert client is not None
    try:
        imap4 = client._imap
        assert imap4.untagged_responses == {}
        assert not getattr(imap4, "_cmd_log", {})
        assert imap4.tagre is imap_lean._TAGGED
        assert "_mesg" not in vars(imap4)  # the shared logging adapter, not one of its own
        # Within CPython's shared-key layout for instance attributes (30 at most), which
        # costs about 0.3 KiB a connection instead of a 1.6 KiB dict of its own.
        assert len(vars(imap4)) < 30
    finally:
        idle_conn.leave_idle(client)
        imap.close(client)


def test_the_shared_table_is_bounded_against_servers_inventing_lists(monkeypatch):
    """A server may send a new list at every login: the table keeps the newest lists up
    to its size, a list longer than any real server's is not kept, and sharing goes on."""
    monkeypatch.setattr(imap_lean, "_shared", {})
    for n in range(imap_lean._MAX_SHARED + 50):
        invented = (f"X-INVENTED-{n}", "IMAP4REV1")
        assert imap_lean.shared_capabilities(invented) == invented
    assert len(imap_lean._shared) == imap_lean._MAX_SHARED
    assert ("X-INVENTED-0", "IMAP4REV1") not in imap_lean._shared  # the oldest went first
    huge = tuple(f"X-{n:05}-{'Y' * 100}" for n in range(100))
    assert imap_lean.shared_capabilities(huge) is huge
    assert huge not in imap_lean._shared
    real = ("IMAP4REV1", "IDLE", "QUOTA")
    again = tuple(list(real))
    assert imap_lean.shared_capabilities(real) is real
    assert imap_lean.shared_capabilities(again) is real
    assert len(imap_lean._shared) == imap_lean._MAX_SHARED


class ForeignTag(StreamFault):
    """Answer the command with a tagged completion under a tag the client never sent."""

    async def take_over(self, link, command: bytes) -> None:
        await self.push(link, b"AAAA999999 OK completed\r\n")


def test_a_tagged_answer_under_a_tag_never_sent_is_refused(
    hostile_imap: HostileProxy, mail_user, cfg_for
):
    """With one pattern for every connection, a completion under another connection's
    tag is still not taken for this one's: the session aborts."""
    client = imap.connect(cfg_for(mail_user, hostile_imap.host, hostile_imap.port), True)
    hostile_imap.set_fault(ForeignTag(rb"\bNOOP\b"))
    try:
        with pytest.raises(imaplib.IMAP4.abort, match="unexpected tagged response"):
            client.noop()
    finally:
        client.shutdown()
