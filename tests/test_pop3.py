"""mail.pop3 against the real Dovecot, plus tiny scripted POP3 servers for exact dialogs."""

import poplib
import socketserver
import ssl
import threading

import pytest

from mail import net, pop3
from mail.errors import AuthError, PrivateHostError, ProtocolError, TLSError
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.dovecot import make_message


@pytest.fixture
def tls(dovecot_ssl_env):
    """Trust the test CA; the shared context is cached, so rebuild it around the test."""
    net.reset_tls_context()
    yield
    net.reset_tls_context()


@pytest.fixture
def untrusted(monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    net.reset_tls_context()
    yield
    net.reset_tls_context()


def _cfg(dovecot, user, security=Security.TLS, port=None, password=None):
    if port is None:
        port = dovecot.pop3s_port if security is Security.TLS else dovecot.pop3_port
    return ServerConfig(
        protocol=Protocol.POP3,
        host=dovecot.host,
        port=port,
        security=security,
        username=user.name,
        password=password if password is not None else user.password,
        timeout=10,
    )


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _append_all(dovecot, user, raws):
    with dovecot.imap(user) as client:
        for raw in raws:
            client.append("INBOX", raw)


def _server_uidls(dovecot, user):
    return pop3.baseline(_cfg(dovecot, user, Security.NONE), allow_private=True).uidls


class _Recorder:
    """Callbacks for poll() that remember what they were given."""

    def __init__(self, known=(), delete=lambda current: set(), fail_on_batch=None):
        self.known, self.delete, self.fail_on_batch = set(known), delete, fail_on_batch
        self.batches: list[list[pop3.Downloaded]] = []
        self.deletable_calls = 0

    def known_uidls(self, uidls):
        return self.known & set(uidls)

    def store(self, batch):
        if self.fail_on_batch == len(self.batches) + 1:
            raise RuntimeError("database is down")
        self.batches.append(list(batch))
        self.known.update(d.uidl for d in batch)

    def deletable(self, current):
        self.deletable_calls += 1
        return self.delete(current)

    def poll(self, cfg, **kwargs):
        return pop3.poll(
            cfg, self.known_uidls, self.store, self.deletable, allow_private=True, **kwargs
        )

    @property
    def stored(self):
        return [d for batch in self.batches for d in batch]


# ---------------------------------------------------------------- scripted servers


class _Scripted(socketserver.ThreadingTCPServer):
    """A POP3 server that answers from a script and records every command it receives."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, capa=("USER", "UIDL"), uidl=None, messages=None, refuse_retr=(), bare_lf=False
    ):
        self.capa, self.uidl, self.refuse_retr = capa, uidl, set(refuse_retr)
        self.eol = "\n" if bare_lf else "\r\n"  # line end of multi-line responses
        self.messages = messages or {}
        self.commands: list[str] = []
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def config(self, security=Security.NONE):
        host, port = self.server_address
        return ServerConfig(Protocol.POP3, host, port, security, "alice", "secret", timeout=5)


class _ScriptedHandler(socketserver.StreamRequestHandler):
    def handle(self):
        server: _Scripted = self.server
        self.wfile.write(b"+OK scripted\r\n")
        for raw in self.rfile:
            line = raw.decode().strip()
            server.commands.append(line)
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "CAPA" and server.capa is not None:
                self._multi(server.capa)
            elif verb in ("USER", "PASS", "NOOP") or (verb == "DELE" and arg):
                self.wfile.write(b"+OK\r\n")
            elif verb == "STAT":
                size = sum(len(m) for m in server.messages.values())
                self.wfile.write(f"+OK {len(server.messages)} {size}\r\n".encode())
            elif verb == "UIDL" and server.uidl is not None:
                self._multi(server.uidl)
            elif verb == "RETR" and int(arg) in server.messages and arg not in server.refuse_retr:
                self._multi(server.messages[int(arg)].decode().split("\r\n")[:-1])
            elif verb == "QUIT":
                self.wfile.write(b"+OK bye\r\n")
                return
            else:
                self.wfile.write(b"-ERR no\r\n")

    def _multi(self, lines):
        eol = self.server.eol
        body = "".join(("." + x if x.startswith(".") else x) + eol for x in lines)
        self.wfile.write(f"+OK\r\n{body}.{eol}".encode())


@pytest.fixture
def scripted():
    servers = []

    def start(**kwargs):
        servers.append(_Scripted(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- connecting


def test_pop3s_login_verifies_certificate(dovecot, mail_user, tls):
    """POP3S logs in over a verified TLS socket and reads UIDL/PIPELINING from CAPA."""
    with pop3.session(_cfg(dovecot, mail_user), allow_private=True) as conn:
        assert isinstance(conn.sock, ssl.SSLSocket)
        assert conn.sock.getpeercert()["subjectAltName"]
        assert conn.caps.uidl and conn.caps.pipelining and conn.caps.top
        assert pop3.stat(conn) == (0, 0)


def test_untrusted_certificate_is_refused(dovecot, mail_user, untrusted):
    """Without the test CA the self-signed certificate fails verification: a TLSError."""
    with pytest.raises(TLSError, match="certificate"):
        pop3.baseline(_cfg(dovecot, mail_user), allow_private=True)


def test_starttls_on_plain_port(dovecot, mail_user, tls):
    """`starttls` upgrades the plain port with STLS before logging in."""
    cfg = _cfg(dovecot, mail_user, Security.STARTTLS)
    with pop3.session(cfg, allow_private=True) as conn:
        assert isinstance(conn.sock, ssl.SSLSocket)
        assert not conn.caps.stls
        assert pop3.stat(conn) == (0, 0)


def test_starttls_untrusted_is_refused(dovecot, mail_user, untrusted):
    """STLS verifies the certificate with the shared context too (poplib's default does not)."""
    with pytest.raises(TLSError):
        pop3.baseline(_cfg(dovecot, mail_user, Security.STARTTLS), allow_private=True)


@pytest.mark.parametrize("capa", [("USER", "UIDL"), None], ids=["no-stls", "no-capa"])
def test_starttls_without_stls_refused_before_credentials(scripted, capa):
    """A server that does not offer STLS gets a TLSError and never sees USER or PASS."""
    server = scripted(capa=capa, uidl=[])
    with pytest.raises(TLSError, match="STLS"):
        pop3.baseline(server.config(Security.STARTTLS), allow_private=True)
    assert not [c for c in server.commands if c.split()[0] in ("USER", "PASS", "STLS")]


def test_wrong_password_is_auth_error(dovecot, mail_user, tls):
    """A refused PASS becomes AuthError with the user-facing sentence."""
    cfg = _cfg(dovecot, mail_user, password="wrong")
    with pytest.raises(AuthError, match="check the user name and password"):
        pop3.baseline(cfg, allow_private=True)


def test_private_host_refused_by_default(dovecot, mail_user, tls):
    """Loopback is refused unless the caller allows private hosts."""
    with pytest.raises(PrivateHostError):
        pop3.baseline(_cfg(dovecot, mail_user), allow_private=False)


def test_server_without_uidl(scripted):
    """No UIDL: ProtocolError; a read-only caller gets STAT only and nothing is RETR/DELE'd."""
    server = scripted(capa=("USER", "TOP"), messages={1: b"Subject: a\r\n\r\nx\r\n"})
    with pytest.raises(ProtocolError, match="UIDL"):
        pop3.baseline(server.config(), allow_private=True)
    rec = _Recorder(delete=lambda current: set(current))
    result = rec.poll(server.config(), require_uidl=False)
    assert not result.uidl_supported and result.new == () and result.count == 1
    assert rec.deletable_calls == 0 and rec.stored == []
    assert not [c for c in server.commands if c.split()[0] in ("RETR", "DELE")]
    no_capa = scripted(capa=None, messages={})
    with pytest.raises(ProtocolError, match="UIDL"):
        pop3.baseline(no_capa.config(), allow_private=True)


def test_uidl_probed_when_capa_omits_it(scripted):
    """A server whose CAPA forgets UIDL but answers it is accepted (UIDL is tried)."""
    server = scripted(capa=("USER",), uidl=["1 only"], messages={1: b"Subject: a\r\n\r\nx\r\n"})
    assert pop3.baseline(server.config(), allow_private=True).uidls == {"only"}


@pytest.mark.parametrize(
    "lines",
    [
        ["1 aaa", "2 bbb", "3 aaa", "garbage", "x ddd", "4 ccc", "5 e\x01e", "6 fff", "6 ggg"],
        ["1 aaa", "2 bbb", "3 aaa", "4 ccc", "6 fff", "6 ggg"],  # all well formed
        ["4  ccc ", "2 bbb", "1 aaa", "3 aaa"],  # blanks around, out of order
    ],
    ids=["malformed", "well-formed", "blanks"],
)
def test_uidl_map_skips_malformed_and_ambiguous(scripted, lines):
    """uidl_map keys on the token and drops malformed lines and duplicated tokens/numbers."""
    server = scripted(uidl=lines)
    with pop3.session(server.config(), allow_private=True) as conn:
        assert pop3.uidl_map(conn) == {"bbb": 2, "ccc": 4}
        assert list(pop3.uidl_map(conn).values()) == [2, 4]  # in message-number order


def test_refused_retr_is_never_stored_or_deleted(scripted):
    """A message the server will not RETR is reported failed and not DELE'd even if asked."""
    messages = {1: b"Subject: one\r\n\r\n.dot\r\n", 2: b"Subject: two\r\n\r\nbody\r\n"}
    server = scripted(uidl=["1 u1", "2 u2"], messages=messages, refuse_retr={"1"})
    rec = _Recorder(delete=lambda current: set(current))
    result = rec.poll(server.config())
    assert [d.raw for d in rec.stored] == [messages[2]]
    assert result.failed == ("u1",) and result.deleted == ("u2",)
    assert [c for c in server.commands if c.startswith("DELE")] == ["DELE 2"]
    assert server.commands[-1] == "QUIT"


# ---------------------------------------------------------------- baseline and poll


def test_baseline_sees_existing_mail_and_leaves_it(dovecot, mail_user, tls):
    """baseline reports the UIDLs, count and size already there and downloads/deletes nothing."""
    _append_all(dovecot, mail_user, [make_message(subject=f"old {i}") for i in range(3)])
    base = pop3.baseline(_cfg(dovecot, mail_user), allow_private=True)
    assert len(base.uidls) == 3 and base.count == 3 and base.size_bytes > 0
    assert pop3.baseline(_cfg(dovecot, mail_user), allow_private=True) == base


def test_poll_downloads_only_new_mail_byte_exact_in_order(dovecot, mail_user, tls):
    """Only mail after the baseline is stored, in order, with the appended bytes (CRLF)."""
    _append_all(dovecot, mail_user, [make_message(subject="old")])
    cfg = _cfg(dovecot, mail_user)
    base = pop3.baseline(cfg, allow_private=True)
    raws = [make_message(subject=f"new {i}", body=f"Body {i}\n.leading dot\n") for i in range(3)]
    _append_all(dovecot, mail_user, raws)
    rec = _Recorder(known=base.uidls)
    result = rec.poll(cfg)
    assert [d.raw for d in rec.stored] == [_crlf(r) for r in raws]
    assert [n.uidl for n in result.new] == [d.uidl for d in rec.stored]
    assert [n.size for n in result.new] == [len(d.raw) for d in rec.stored]
    assert result.deleted == () and result.count == 4 and rec.deletable_calls == 1
    again = rec.poll(cfg)
    assert again.new == () and len(rec.batches) == 1


def test_store_failure_deletes_nothing(dovecot, mail_user, tls):
    """If store() raises, the error propagates, deletable is never asked and all mail stays."""
    _append_all(dovecot, mail_user, [make_message(subject=f"m{i}") for i in range(5)])
    rec = _Recorder(delete=lambda current: set(current), fail_on_batch=2)
    with pytest.raises(RuntimeError, match="database is down"):
        rec.poll(_cfg(dovecot, mail_user), batch_size=2)
    assert len(rec.stored) == 2 and rec.deletable_calls == 0
    assert len(_server_uidls(dovecot, mail_user)) == 5


def test_deletable_uidls_removed_after_quit_others_kept(dovecot, mail_user, tls):
    """Exactly the UIDLs deletable() names (and that exist) are deleted; the rest stay."""
    _append_all(dovecot, mail_user, [make_message(subject=f"m{i}") for i in range(4)])
    doomed: set[str] = set()

    def choose(current):
        doomed.update(list(current)[1:3])
        return {*doomed, "not-on-server"}

    rec = _Recorder(delete=choose)
    result = rec.poll(_cfg(dovecot, mail_user))
    assert len(rec.stored) == 4 and set(result.deleted) == doomed and len(doomed) == 2
    assert result.count == 2
    remaining = _server_uidls(dovecot, mail_user)
    assert remaining == {d.uidl for d in rec.stored} - doomed


def test_dropped_connection_after_dele_keeps_mail(dovecot, mail_user, tls):
    """DELE without QUIT (an exception inside the session) is rolled back by the server."""
    _append_all(dovecot, mail_user, [make_message(subject=f"m{i}") for i in range(3)])
    with pytest.raises(RuntimeError), pop3.session(_cfg(dovecot, mail_user), True) as conn:
        current = pop3.uidl_map(conn)
        assert pop3.delete(conn, list(current.values()), pipelined=True) == [1, 2, 3]
        assert pop3.stat(conn)[0] == 0
        raise RuntimeError("connection lost")
    assert len(_server_uidls(dovecot, mail_user)) == 3


def test_poll_without_confirmed_quit_reports_nothing_deleted(dovecot, mail_user, tls, monkeypatch):
    """If the connection drops between DELE and QUIT, poll reports no deletion and none happens."""
    _append_all(dovecot, mail_user, [make_message(subject=f"m{i}") for i in range(2)])

    def drop(conn):
        pop3._close(conn)
        return False

    monkeypatch.setattr(pop3, "_quit", drop)
    rec = _Recorder(delete=lambda current: set(current))
    result = rec.poll(_cfg(dovecot, mail_user))
    assert len(result.new) == 2 and result.deleted == ()
    assert len(_server_uidls(dovecot, mail_user)) == 2


def _tricky_message(i: int) -> bytes:
    body = [f"Message {i}", ".", "..", ".leading dot", "...three", "x" * 3000, "end."]
    head = [f"From: a{i}@example.com", f"Subject: tricky {i}", f"Message-ID: <{i}@example.com>"]
    return "\r\n".join([*head, "", *body]).encode() + b"\r\n"


class _CountingSock:
    """Wraps the socket to count writes: a pipelined batch is one write, not one per RETR."""

    def __init__(self, sock):
        self.sock, self.writes = sock, 0

    def sendall(self, data):
        self.writes += 1
        return self.sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def test_pipelined_and_plain_retrieval_identical(dovecot, mail_user, tls):
    """60 messages with dot-stuffed and >2048-byte lines come back byte-identical either way."""
    raws = [_tricky_message(i) for i in range(60)]
    _append_all(dovecot, mail_user, raws)
    with pop3.session(_cfg(dovecot, mail_user), allow_private=True) as conn:
        numbers = list(pop3.uidl_map(conn).values())
        real = conn.sock
        conn.sock = counting = _CountingSock(real)
        piped = list(pop3.retrieve(conn, numbers, pipelined=True))
        piped_writes = counting.writes
        plain = list(pop3.retrieve(conn, numbers, pipelined=False))
        assert piped_writes <= 3 and counting.writes - piped_writes == 60
        conn.sock = real
    assert piped == plain
    assert [raw for _, raw in piped] == raws
    assert poplib._MAXLINE == 2048  # our limit is per connection, not poplib's global
