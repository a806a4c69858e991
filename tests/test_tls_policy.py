"""TLS policy: refused certificates name their problem, STARTTLS never leaks a credential,
capabilities are re-read after STARTTLS, and credentials that could inject commands are
refused. Servers are small scripted ones started here (tests/plugins/bad_certs.py) plus
the real Dovecot."""

from __future__ import annotations

import ssl

import imapclient
import pytest

from mail import imap, net, pop3
from mail.errors import AuthError, TLSError
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.bad_certs import CertSet, ScriptedServer, make_cert_set, server_context

CREDENTIAL_VERBS = {"LOGIN", "AUTHENTICATE", "USER", "PASS", "APOP", "AUTH"}

# What the user must read for each refused certificate.
REFUSALS = {
    "expired": "has expired",
    "not_yet_valid": "not valid yet",
    "wrong_host": "issued for a different host name",
    "self_signed": "self-signed",
    "unknown_issuer": "unknown certificate authority",
    "untrusted_root": "self-signed certificate the bot does not trust",
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> CertSet:
    return make_cert_set(tmp_path_factory.mktemp("bad-certs"))


@pytest.fixture
def trust_test_ca(certs, monkeypatch):
    """Trust only the bad-certs test CA; the cached context is rebuilt before and after."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_file))
    net.reset_tls_context()
    yield certs.ca_file
    net.reset_tls_context()


@pytest.fixture
def trust_dovecot(dovecot_ssl_env):
    net.reset_tls_context()
    yield dovecot_ssl_env
    net.reset_tls_context()


def _cfg(protocol: Protocol, port: int, security: Security, **kw) -> ServerConfig:
    values = {"username": "someone", "password": "Zq9-never-sent", "host": "localhost"}
    values.update(kw)
    return ServerConfig(
        protocol=protocol,
        port=port,
        security=security,
        timeout=5,
        **values,
    )


def _open(cfg: ServerConfig) -> None:
    """Connect and log in with the product code, then close."""
    if cfg.protocol is Protocol.IMAP:
        imap.close(imap.connect(cfg, allow_private=True))
    else:
        with pop3.session(cfg, allow_private=True):
            pass


def _sent_credentials(server: ScriptedServer) -> bool:
    return bool(CREDENTIAL_VERBS & set(server.verbs))


# ------------------------------------------------------------------ refused certificates


@pytest.mark.parametrize("protocol", [Protocol.IMAP, Protocol.POP3])
@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_implicit_tls_refusal_names_the_problem(certs, trust_test_ca, protocol, kind):
    """A bad certificate on an implicit-TLS port is refused with a message naming why."""
    pair = getattr(certs, kind)
    with (
        ScriptedServer(protocol.value, tls=server_context(pair), implicit_tls=True) as server,
        pytest.raises(TLSError) as caught,
    ):
        _open(_cfg(protocol, server.port, Security.TLS))
    assert REFUSALS[kind] in str(caught.value)
    assert "`localhost`" in str(caught.value)
    assert not server.lines  # nothing at all was said over the refused channel


@pytest.mark.parametrize("protocol", [Protocol.IMAP, Protocol.POP3])
@pytest.mark.parametrize("kind", ["wrong_host", "self_signed", "expired"])
def test_starttls_refusal_names_the_problem_and_sends_no_login(
    certs, trust_test_ca, protocol, kind
):
    """STARTTLS/STLS verifies the certificate like implicit TLS and sends no credential."""
    pair = getattr(certs, kind)
    with (
        ScriptedServer(
            protocol.value,
            tls=server_context(pair),
            offer_starttls=True,
            caps_before=("AUTH=PLAIN",),
        ) as server,
        pytest.raises(TLSError) as caught,
    ):
        _open(_cfg(protocol, server.port, Security.STARTTLS))
    assert REFUSALS[kind] in str(caught.value)
    assert "STARTTLS" in server.verbs or "STLS" in server.verbs
    assert not _sent_credentials(server)


@pytest.mark.parametrize("protocol", [Protocol.IMAP, Protocol.POP3])
@pytest.mark.parametrize("security", [Security.TLS, Security.STARTTLS])
def test_good_certificate_from_the_trusted_ca_is_accepted(certs, trust_test_ca, protocol, security):
    """Control: the same servers with a valid certificate connect and log in."""
    with ScriptedServer(
        protocol.value,
        tls=server_context(certs.good),
        implicit_tls=security is Security.TLS,
        offer_starttls=security is Security.STARTTLS,
        caps_after_tls=("AUTH=PLAIN",),
    ) as server:
        _open(_cfg(protocol, server.port, security))
    assert _sent_credentials(server)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (18, "self-signed"),
        (19, "self-signed certificate the bot does not trust"),
        (20, "unknown certificate authority"),
        (21, "unknown certificate authority"),
        (2, "unknown certificate authority"),
        (10, "has expired"),
        (9, "not valid yet"),
        (62, "different host name"),
        (64, "different IP address"),
        (999, "some odd reason"),
    ],
)
def test_every_verify_code_maps_to_its_sentence(code, expected):
    """translate_errors words each X509_V_ERR_* code; unknown codes keep OpenSSL's text."""
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code = code
    error.verify_message = "some odd reason"
    with pytest.raises(TLSError) as caught, net.translate_errors("mail.example.org", 993):
        raise error
    assert expected in str(caught.value)
    assert "mail.example.org" in str(caught.value)


# ------------------------------------------------------------------ STARTTLS downgrade


@pytest.mark.parametrize("protocol", [Protocol.IMAP, Protocol.POP3])
def test_starttls_not_offered_sends_no_credential(protocol):
    """security starttls against a server that does not offer it fails before any login."""
    with (
        ScriptedServer(protocol.value, offer_starttls=False, caps_before=("AUTH=PLAIN",)) as srv,
        pytest.raises(TLSError, match="does not offer"),
    ):
        _open(_cfg(protocol, srv.port, Security.STARTTLS))
    assert srv.lines  # it did talk (capabilities) ...
    assert not _sent_credentials(srv)  # ... but never sent the user name or password
    assert "Zq9-never-sent" not in "\n".join(srv.lines)


@pytest.mark.parametrize("protocol", [Protocol.IMAP, Protocol.POP3])
def test_starttls_refused_by_the_server_sends_no_credential(certs, trust_test_ca, protocol):
    """A server that offers STARTTLS but then answers NO/-ERR gets a TLSError, no login."""
    with (
        ScriptedServer(
            protocol.value, tls=server_context(certs.good), offer_starttls=True, starttls_ok=False
        ) as server,
        pytest.raises(TLSError, match="refused to start TLS"),
    ):
        _open(_cfg(protocol, server.port, Security.STARTTLS))
    assert not _sent_credentials(server)


def test_imap_capabilities_are_reread_after_starttls(certs, trust_test_ca):
    """Pre-TLS capabilities (forgeable by a network attacker) are dropped after STARTTLS."""
    with ScriptedServer(
        "imap",
        tls=server_context(certs.good),
        offer_starttls=True,
        caps_before=("LOGINDISABLED", "X-PRE-TLS"),
        caps_after_tls=("AUTH=PLAIN", "X-POST-TLS"),
        caps_after_login=("IDLE", "X-AUTHED"),
    ) as server:
        client = imap.connect(_cfg(Protocol.IMAP, server.port, Security.STARTTLS), True)
        try:
            caps = set(client.capabilities())
        finally:
            imap.close(client)
    verbs = server.verbs
    tls_at, login_at = verbs.index("STARTTLS"), verbs.index("LOGIN")
    assert "CAPABILITY" in verbs[tls_at:login_at]  # asked again over TLS, before the login
    assert b"X-AUTHED" in caps
    assert not caps & {b"X-PRE-TLS", b"STARTTLS", b"LOGINDISABLED"}


def test_pop3_capabilities_are_reread_after_stls(certs, trust_test_ca):
    """POP3: CAPA is asked again after STLS, and pre-TLS names do not survive."""
    with (
        ScriptedServer(
            "pop3",
            tls=server_context(certs.good),
            offer_starttls=True,
            caps_before=("X-PRE-TLS",),
            caps_after_tls=("X-POST-TLS",),
            caps_after_login=("X-AUTHED",),
        ) as server,
        pop3.session(_cfg(Protocol.POP3, server.port, Security.STARTTLS), True) as conn,
    ):
        names = conn.caps.names
    verbs = server.verbs
    assert "CAPA" in verbs[verbs.index("STLS") : verbs.index("USER")]
    assert "X-AUTHED" in names
    assert "X-PRE-TLS" not in names


def test_dovecot_starttls_verifies_and_rereads_capabilities(dovecot, mail_user, trust_dovecot):
    """Real Dovecot: STARTTLS verifies `localhost` and the login runs under post-TLS caps."""
    with imapclient.IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False) as plain:
        before = set(plain.capabilities())  # what anyone on the path sees before TLS
    assert b"STARTTLS" in before
    cfg = _cfg(
        Protocol.IMAP,
        dovecot.imap_port,
        Security.STARTTLS,
        username=mail_user.name,
        password=mail_user.password,
    )
    client = imap.connect(cfg, allow_private=True)
    try:
        assert isinstance(client.socket(), ssl.SSLSocket)
        assert client.socket().server_hostname == "localhost"
        at_login = {c.encode() for c in client._imap.capabilities}  # re-read over TLS
        assert "STARTTLS" not in client._imap.capabilities
        assert at_login != before
        assert not client.has_capability("STARTTLS")
        assert client.has_capability("IDLE")
    finally:
        imap.close(client)


# ------------------------------------------------------------------ credentials


@pytest.mark.parametrize("bad", ["pw\r\nA1 DELETE INBOX", "pw\nx", "pw\0x"])
def test_imap_refuses_line_breaks_in_credentials_before_connecting(bad):
    """A password or user name with CR/LF/NUL could inject IMAP commands: refused, unsent."""
    with ScriptedServer("imap") as server:
        for cfg in (
            _cfg(Protocol.IMAP, server.port, Security.NONE, password=bad),
            _cfg(Protocol.IMAP, server.port, Security.NONE, username=bad),
        ):
            with pytest.raises(AuthError, match="line break"):
                imap.connect(cfg, allow_private=True)
    assert not server.lines


def test_imap_login_quotes_the_user_name():
    """The user name goes out as one quoted IMAP string (spaces, backslashes, quotes)."""
    with ScriptedServer("imap") as server:
        cfg = _cfg(Protocol.IMAP, server.port, Security.NONE, username='DOM\\a "b"')
        imap.close(imap.connect(cfg, allow_private=True))
    login = next(line for line in server.lines if " LOGIN " in line.upper())
    assert login.split(" ", 2)[2].startswith('"DOM\\\\a \\"b\\"" ')


def test_non_ascii_password_logs_in_with_auth_plain(dovecot, trust_dovecot):
    """A non-ASCII password (imaplib's LOGIN cannot send it) works through AUTH=PLAIN."""
    user = dovecot.add_user(password="Zq9-pässwörd-ß")
    cfg = _cfg(
        Protocol.IMAP,
        dovecot.imaps_port,
        Security.TLS,
        username=user.name,
        password=user.password,
    )
    imap.close(imap.connect(cfg, allow_private=True))
