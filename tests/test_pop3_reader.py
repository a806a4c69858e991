"""mail/pop3_reader.py against poplib's own reading: whatever the line ends, stuffed dots and
the sizes the socket hands the bytes over in, each body is what joining poplib's lines with
CRLF gives, and the stream stays in step from one response to the next."""

from __future__ import annotations

import io
import poplib
import socket
import ssl
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail import net, pop3
from mail.errors import ConnectError, ProtocolError
from mail.pop3_reader import Reader
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.dovecot import make_message
from tests.test_pop3 import _append_all, _cfg, _crlf, _Recorder, _tricky_message
from tests.test_pop3 import scripted as scripted  # the fixture: scripted POP3 servers
from tests.test_pop3 import tls as tls  # the fixture: trust the rig's CA

line_text = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")) | st.sampled_from(
    [b"", b".", b"..", b".x", b"\r", b"x\r", b"..\r", b"...", b". "]
)
body_lines = st.lists(st.tuples(line_text, st.sampled_from([b"\r\n", b"\n"])), max_size=12)


def _response(lines: list[tuple[bytes, bytes]], terminator: bytes) -> bytes:
    stuffed = b"".join((b"." + t if t.startswith(b".") else t) + end for t, end in lines)
    return b"+OK message follows\r\n" + stuffed + terminator


class _LinePop3(poplib.POP3):
    """poplib's multi-line reading, a line at a time from a file, with the line ends as the
    bot has always read them: CRLF or LF cut (poplib alone also drops a CR that starts a
    line ending in a bare LF)."""

    def _getline(self) -> tuple[bytes, int]:
        line = self.file.readline()
        return (line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")), len(line)


def _poplib_bodies(stream: bytes, count: int) -> list[bytes]:
    conn = object.__new__(_LinePop3)  # reading a file, no socket
    conn.file, conn._debugging = io.BytesIO(stream), 0
    bodies = []
    for _ in range(count):
        _status, lines, _octets = conn._getlongresp()
        bodies.append(b"".join(line + b"\r\n" for line in lines))
    return bodies


class _ChunkedSocket:
    """Hands the stream over in the given chunk sizes (then what is left), as TCP may."""

    def __init__(self, stream: bytes, sizes: list[int]) -> None:
        self.stream, self.sizes, self.pos = stream, list(sizes), 0

    def recv_into(self, view: memoryview) -> int:
        size = self.sizes.pop(0) if self.sizes else len(self.stream)
        chunk = self.stream[self.pos : self.pos + min(size, len(view))]
        view[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


@settings(max_examples=400)
@given(
    st.lists(st.tuples(body_lines, st.sampled_from([b".\r\n", b".\n"])), min_size=1, max_size=6),
    st.lists(st.integers(1, 70), max_size=40),
)
def test_bodies_are_what_poplib_lines_give_in_any_chunking(responses, sizes):
    stream = b"".join(_response(lines, end) for lines, end in responses)
    reader = Reader(_ChunkedSocket(stream, sizes), "mail.example.com", max_line=4096)
    got = []
    for _ in responses:
        assert reader.readline() == b"+OK message follows\r\n"
        got.append(reader.body())
    assert got == _poplib_bodies(stream, len(responses))
    assert reader.pending() == 0


def test_a_body_larger_than_the_buffer_and_the_response_after_it():
    big = b"".join(b"line %d " % i + b"y" * 100 + b"\r\n" for i in range(10_000))  # ~1.1 MB
    stream = b"+OK\r\n" + big + b".\r\n+OK next\r\n"
    reader = Reader(_ChunkedSocket(stream, [7, 65_536] * 40), "h", max_line=4096)
    reader.readline()
    assert reader.body() == big
    assert reader.readline() == b"+OK next\r\n"


def test_overlong_lines_and_a_closed_connection_are_errors():
    with pytest.raises(ProtocolError, match="longer than 100"):
        Reader(_ChunkedSocket(b"x" * 300 + b"\r\n", [50] * 10), "h", 100).readline()
    reader = Reader(_ChunkedSocket(b"+OK\r\n" + b"y" * 300 + b"\r\n.\r\n", []), "h", 100)
    reader.readline()
    with pytest.raises(ProtocolError, match="longer than 100"):
        reader.body()
    reader = Reader(_ChunkedSocket(b"+OK\r\nhalf a body\r\n", []), "h", 100)
    reader.readline()
    with pytest.raises(ConnectError, match="closed the connection"):
        reader.body()


def _stls_server(dovecot, inject: bytes) -> tuple[socket.socket, list[bytes]]:
    """A POP3 server on loopback that offers STLS, answers it with `inject` behind the +OK
    (as someone on the path could), then speaks TLS with the test certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(dovecot.cert_file, dovecot.key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    commands: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        stream = conn.makefile("rwb", buffering=0)
        stream.write(b"+OK ready\r\n")
        while line := stream.readline():
            commands.append(line.strip())
            verb = line.split()[0].upper()
            if verb == b"CAPA":
                stream.write(b"+OK\r\nSTLS\r\nUSER\r\nUIDL\r\n.\r\n")
            elif verb == b"STLS":
                stream.write(b"+OK begin TLS\r\n" + inject)
                conn = context.wrap_socket(conn, server_side=True)
                stream = conn.makefile("rwb", buffering=0)
            elif verb == b"QUIT":
                stream.write(b"+OK bye\r\n")
                break
            else:
                stream.write(b"+OK\r\n")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, commands


@pytest.mark.parametrize("inject", [b"", b"+OK forged\r\n"], ids=["clean", "injected"])
def test_bytes_behind_the_stls_answer_are_refused(dovecot, dovecot_ssl_env, inject):
    """Whatever arrives in the clear behind STLS's +OK, before the handshake, was never
    protected: the session stops there and no credentials are sent (poplib alone would drop
    those bytes with its buffer, or read them as the server's)."""
    net.reset_tls_context()
    listener, commands = _stls_server(dovecot, inject)
    cfg = ServerConfig(
        Protocol.POP3,
        "127.0.0.1",
        listener.getsockname()[1],
        Security.STARTTLS,
        "alice",
        "secret",
        timeout=5,
    )
    try:
        if inject:
            with (
                pytest.raises(ProtocolError, match="after STLS"),
                pop3.session(cfg, allow_private=True),
            ):
                pass
            assert not [c for c in commands if c.startswith((b"USER", b"PASS"))]
        else:
            with pop3.session(cfg, allow_private=True) as conn:
                assert isinstance(conn.sock, ssl.SSLSocket)
            assert b"USER alice" in commands
    finally:
        listener.close()
        net.reset_tls_context()


# Against Dovecot and scripted servers, through mail.pop3.retrieve and poll.


@pytest.mark.usefixtures("tls")
def test_large_and_odd_messages_read_byte_exact(dovecot):
    """read_multiline reads whole buffered chunks: a message much larger than the buffer,
    an empty-bodied one, one of dot lines only and one whose line ends exactly where a read
    might, pipelined between others, each come back exactly as appended."""
    big = make_message(subject="big", body=".x\n" * 20 + "y" * 70 + "\n", size=600_000)
    dots = b"Subject: dots\r\n\r\n" + b".\r\n..\r\n...\r\n" * 500
    empty = b"Subject: empty\r\n\r\n"
    raws = [big, _tricky_message(1), dots, empty, _tricky_message(2), big]
    mail_user = dovecot.add_user(quota_kib=8 * 1024)
    _append_all(dovecot, mail_user, raws)
    with pop3.session(_cfg(dovecot, mail_user), allow_private=True) as conn:
        numbers = list(pop3.uidl_map(conn).values())
        got = [raw for _, raw in pop3.retrieve(conn, numbers, pipelined=True)]
        assert pop3.stat(conn)[0] == len(raws)  # the stream is still in step afterwards
    assert got == [_crlf(r) for r in raws]


def test_bare_lf_and_refused_retr_in_a_pipeline(scripted):
    """A server that ends lines with a bare LF gets them back as CRLF (as poplib's lines
    joined with CRLF would be), dot-stuffing is undone, and a -ERR between two messages
    keeps the stream in step."""
    server = scripted(
        capa=("USER", "UIDL", "PIPELINING"),
        uidl=["1 a", "2 b", "3 c"],
        messages={1: b"S: 1\r\n\r\n..x\r\n", 2: b"S: 2\r\n\r\nno\r\n", 3: b"S: 3\r\n\r\ny\r\n"},
        refuse_retr={"2"},
        bare_lf=True,
    )
    rec = _Recorder()
    result = rec.poll(server.config())
    assert [d.raw for d in rec.stored] == [b"S: 1\r\n\r\n..x\r\n", b"S: 3\r\n\r\ny\r\n"]
    assert result.failed == ("b",)


def test_overlong_line_is_a_protocol_error(scripted):
    """A line longer than MAX_LINE is refused as before, whether it ends mid-stream or in
    the last chunk of the response."""
    for size in (pop3.MAX_LINE + 10, pop3.MAX_LINE * 2):
        line = b"x" * size
        server = scripted(uidl=["1 a"], messages={1: b"S: 1\r\n\r\n" + line + b"\r\n"})
        with pytest.raises(ProtocolError, match="longer than"):
            _Recorder().poll(server.config())
