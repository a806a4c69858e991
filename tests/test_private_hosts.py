"""The private-host guard (SPEC §5): which addresses are internal, that every resolved
address is checked at every connect, and that IMAP/POP3 connect to the very address that
was checked while TLS still verifies the certificate against the host name."""

from __future__ import annotations

import socket

import pytest

from mail import imap, net, pop3
from mail.errors import DNSError, PrivateHostError, TLSError
from mail.types import Protocol, Security, ServerConfig

INTERNAL = [
    # IPv4
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT (shared address space)
    "0.0.0.0",  # noqa: S104
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "233.252.0.1",  # multicast that ipaddress calls global
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    # IPv6
    "::1",
    "::",
    "fe80::1",
    "fe80::1%1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",  # deprecated site-local
    "ff02::1",
    "ff0e::1",  # global-scope multicast
    "2001:db8::1",
    "100::1",
    # IPv6 forms that carry an internal IPv4 address
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0:0",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::8.8.8.8",  # IPv4-compatible is refused whatever it embeds
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::808:808",  # local-use NAT64: operator-defined, refused
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.32.0.1",  # just outside 172.16/12
    "100.128.0.1",  # just outside 100.64/10
    "2606:4700:4700::1111",
    "2a00:1450:4001:82b::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8 (IPv6-only networks reach IPv4 hosts so)
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses_are_private(address):
    """Each internal form, v4 or v6 or v4-in-v6, is classified private."""
    assert net.is_private_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_not_private(address):
    """Public unicast hosts, also behind NAT64/6to4/mapped forms, are allowed."""
    assert not net.is_private_address(address)


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.1", "2130706433", "0x7f.1", "017700000001", "0", "::1", "::ffff:7f00:1"],
)
def test_check_host_refuses_numeric_spellings_of_loopback(host):
    """Decimal, hex, octal and short spellings resolve to loopback and are refused."""
    with pytest.raises(PrivateHostError):
        net.check_host(host, 993, allow_private=False)
    assert net.check_host(host, 993, allow_private=True)


def _fake_resolver(monkeypatch, answers: dict[str, list[list[str]]]):
    """Patch the OS resolver: each listed name answers the next address list per lookup
    (the last one repeats); other names, and numeric-only calls (AI_NUMERICHOST, which
    never consult DNS), go to the real resolver. Returns the per-name lookup counts."""
    real = socket.getaddrinfo
    counts: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        key = host.decode() if isinstance(host, bytes) else host
        flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
        if key not in answers or flags & socket.AI_NUMERICHOST:
            return real(host, port, *args, **kwargs)
        n = counts.get(key, 0)
        counts[key] = n + 1
        addresses = answers[key][min(n, len(answers[key]) - 1)]
        out = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return counts


def test_every_resolved_address_is_checked(monkeypatch):
    """One internal address among public ones is enough to refuse the host."""
    _fake_resolver(monkeypatch, {"mixed.example.test": [["8.8.8.8", "2606:4700::1", "10.0.0.7"]]})
    with pytest.raises(PrivateHostError, match=r"mixed\.example\.test"):
        net.check_host("mixed.example.test", 993, allow_private=False)


def test_check_host_keeps_the_resolver_order_without_repeats(monkeypatch):
    """The addresses come back in the resolver's order of preference, each once."""
    _fake_resolver(monkeypatch, {"two.example.test": [["8.8.4.4", "8.8.8.8", "8.8.4.4"]]})
    assert net.check_host("two.example.test", 993, False) == ["8.8.4.4", "8.8.8.8"]


def test_unresolvable_host_is_a_dns_error():
    """A name that does not resolve is a DNSError, not a crash."""
    with pytest.raises(DNSError):
        net.check_host("no-such-host.invalid", 993, allow_private=False)


def test_connect_checked_never_resolves_a_name(monkeypatch):
    """connect_checked only takes numeric addresses: a name is not looked up."""
    counts = _fake_resolver(monkeypatch, {"evil.example.test": [["127.0.0.1"]]})
    with pytest.raises(OSError):
        net.connect_checked(["evil.example.test"], 9, timeout=1)
    assert counts == {}


# ------------------------------------------------------------------ real connections


@pytest.fixture
def trust_dovecot(dovecot_ssl_env):
    net.reset_tls_context()
    yield dovecot_ssl_env
    net.reset_tls_context()


def _imap_cfg(dovecot, user, host="localhost", security=Security.TLS) -> ServerConfig:
    port = dovecot.imaps_port if security is Security.TLS else dovecot.imap_port
    return ServerConfig(Protocol.IMAP, host, port, security, user.name, user.password, timeout=5)


def _pop3_cfg(dovecot, user, host="localhost") -> ServerConfig:
    return ServerConfig(
        Protocol.POP3, host, dovecot.pop3s_port, Security.TLS, user.name, user.password, timeout=5
    )


def test_imap_connect_refuses_localhost_unless_allowed(dovecot, mail_user, trust_dovecot):
    """IMAP to `localhost` is refused unless private hosts are allowed; then it logs in."""
    with pytest.raises(PrivateHostError):
        imap.connect(_imap_cfg(dovecot, mail_user), allow_private=False)
    client = imap.connect(_imap_cfg(dovecot, mail_user), allow_private=True)
    try:
        assert client.socket().getpeername()[0] == "127.0.0.1"
        assert client.socket().server_hostname == "localhost"
    finally:
        imap.close(client)


def test_pop3_session_refuses_localhost_unless_allowed(dovecot, mail_user, trust_dovecot):
    """The same rule for POP3."""
    with pytest.raises(PrivateHostError), pop3.session(_pop3_cfg(dovecot, mail_user), False):
        pass
    with pop3.session(_pop3_cfg(dovecot, mail_user), True) as conn:
        assert conn.sock.getpeername()[0] == "127.0.0.1"


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
def test_imap_connects_to_the_checked_address_not_a_second_lookup(
    dovecot, mail_user, trust_dovecot, monkeypatch, security
):
    """A rebinding resolver cannot move IMAP: one lookup, socket to the checked address."""
    # 127.0.0.9: loopback too, but Dovecot does not listen there, so a second lookup
    # would end in a refused connection.
    counts = _fake_resolver(monkeypatch, {"localhost": [["127.0.0.1"], ["127.0.0.9"]]})
    client = imap.connect(_imap_cfg(dovecot, mail_user, security=security), allow_private=True)
    try:
        assert client.socket().getpeername()[0] == "127.0.0.1"
    finally:
        imap.close(client)
    assert counts == {"localhost": 1}


def test_pop3_connects_to_the_checked_address_not_a_second_lookup(
    dovecot, mail_user, trust_dovecot, monkeypatch
):
    """The same pinning for POP3."""
    counts = _fake_resolver(monkeypatch, {"localhost": [["127.0.0.1"], ["127.0.0.9"]]})
    with pop3.session(_pop3_cfg(dovecot, mail_user), True) as conn:
        assert conn.sock.getpeername()[0] == "127.0.0.1"
    assert counts == {"localhost": 1}


def test_the_guard_runs_at_every_connect(dovecot, mail_user, trust_dovecot, monkeypatch):
    """Each connect resolves and checks the name again: two connects, two lookups."""
    counts = _fake_resolver(monkeypatch, {"rebind.example.test": [["127.0.0.1"]]})
    cfg = _imap_cfg(dovecot, mail_user, host="rebind.example.test")
    for _ in range(2):
        with pytest.raises(PrivateHostError):
            imap.connect(cfg, allow_private=False)
    assert counts == {"rebind.example.test": 2}


@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
def test_tls_verifies_the_host_name_not_the_pinned_address(
    dovecot, mail_user, trust_dovecot, monkeypatch, security
):
    """TLS to the pinned 127.0.0.1 is verified for the name, so a name off the cert fails."""
    _fake_resolver(monkeypatch, {"other.example.test": [["127.0.0.1"]]})
    cfg = _imap_cfg(dovecot, mail_user, host="other.example.test", security=security)
    with pytest.raises(TLSError, match="different host name"):
        imap.connect(cfg, allow_private=True)


def test_pop3_tls_verifies_the_host_name_not_the_pinned_address(
    dovecot, mail_user, trust_dovecot, monkeypatch
):
    """The same for POP3 over TLS."""
    _fake_resolver(monkeypatch, {"other.example.test": [["127.0.0.1"]]})
    cfg = _pop3_cfg(dovecot, mail_user, host="other.example.test")
    with pytest.raises(TLSError, match="different host name"), pop3.session(cfg, True):
        pass


def test_imap_tries_the_next_checked_address(dovecot, mail_user, trust_dovecot, monkeypatch):
    """When the first checked address refuses, the next checked one is used (127.0.0.9:
    nothing listens there; the Dovecot fixture serves .1 to .3)."""
    counts = _fake_resolver(monkeypatch, {"localhost": [["127.0.0.9", "127.0.0.1"]]})
    client = imap.connect(_imap_cfg(dovecot, mail_user), allow_private=True)
    try:
        assert client.socket().getpeername()[0] == "127.0.0.1"
    finally:
        imap.close(client)
    assert counts == {"localhost": 1}
