"""mail/limits.py and the readers that use it: the budget's arithmetic, the setting, and
the bounds on real sockets (a scripted trickling server on a socket pair or loopback,
the real Dovecot for a literal over the cap)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest

from mail import imap, limits, net, pop3
from mail.errors import LimitError
from mail.imap_bounded import body_fetch
from mail.pop3_reader import Reader
from mail.types import Protocol, Security, ServerConfig
from settings import ConfigError, Settings
from tests.plugins.dovecot import make_message

MiB = limits.MiB


@pytest.fixture(autouse=True)
def _default_largest_message():
    yield
    limits.configure(limits.DEFAULT_MAX_MESSAGE_MB)


# ---------------------------------------------------------------- the budget


def test_a_literal_over_the_cap_is_refused_naming_host_and_sizes():
    """The announced size alone refuses a literal; the error names the host and both sizes."""
    budget = limits.Budget("mail.example")
    with pytest.raises(LimitError) as caught:
        budget.literal(4_000_000_000, limits.SMALL_LITERAL)
    assert caught.value.bound == "literal" and caught.value.kind == "limit"
    assert "`mail.example`" in str(caught.value)
    assert "3815 MiB" in str(caught.value) and "1 MiB" in str(caught.value)


def test_a_literal_extends_the_deadline_by_its_transfer_time():
    """A 50 MiB literal adds 200 s to its response's deadline; a snippet adds almost none."""
    budget = limits.Budget("h")
    budget.arm(limits.RESPONSE_SECONDS, response_bytes=100 * MiB)
    before = budget.deadline
    budget.literal(50 * MiB, 50 * MiB)
    assert budget.deadline - before == pytest.approx(200.0)
    budget.literal(32 * 1024, limits.SMALL_LITERAL)
    assert budget.deadline - before == pytest.approx(200.125)


def test_untagged_lines_past_the_count_abort():
    """MAX_UNTAGGED untagged lines per command pass; one more raises; a new command re-arms."""
    budget = limits.Budget("h")
    budget.arm()
    for _ in range(limits.MAX_UNTAGGED):
        budget.line(12, untagged=True)
    with pytest.raises(LimitError, match="untagged"):
        budget.line(12, untagged=True)
    budget.arm()
    budget.line(12, untagged=True)  # counts start again with the next command


def test_a_response_past_its_bytes_aborts():
    """Lines and literals of one response count together against MAX_RESPONSE_BYTES."""
    budget = limits.Budget("h")
    budget.arm()
    budget.literal(limits.SMALL_LITERAL, limits.SMALL_LITERAL)
    with pytest.raises(LimitError, match="in answer to one command"):
        for _ in range(limits.MAX_RESPONSE_BYTES // limits.MAX_LINE):
            budget.line(limits.MAX_LINE, untagged=False)


def test_recv_timeout_never_reaches_past_the_deadline():
    """Each recv gets the per-recv timeout, or less once the deadline is nearer; none after."""
    budget = limits.Budget("h")
    budget.arm(30.0)
    assert budget.recv_timeout(20.0) == 20.0
    budget.arm(5.0)
    assert 4.0 < budget.recv_timeout(20.0) <= 5.0
    budget.deadline = time.monotonic() - 0.01
    with pytest.raises(LimitError, match="within 5 s") as caught:
        budget.recv_timeout(20.0)
    assert caught.value.bound == "deadline"


def test_pop3_allowance_is_the_list_size_with_a_margin_under_the_cap():
    """Twice the LIST size plus 64 KiB, never past the largest message; no size: the cap."""
    limits.configure(4)
    assert limits.pop3_message_allowance(1000) == 2000 + 64 * 1024
    assert limits.pop3_message_allowance(3 * MiB) == 4 * MiB
    assert limits.pop3_message_allowance(None) == 4 * MiB


@pytest.mark.parametrize("value", ["0", "-3", "abc", "1.5", "1025"])
def test_a_bad_largest_message_setting_is_one_clear_line(value):
    """MAILSYNC_MAX_MESSAGE_MB outside 1..1024 or not a number stops the start with its name."""
    env = {"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": "k", "MAILSYNC_MAX_MESSAGE_MB": value}
    with pytest.raises(ConfigError, match="MAILSYNC_MAX_MESSAGE_MB"):
        Settings.from_env(env)


def test_the_largest_message_setting_is_read_with_its_default():
    """Unset: 50 MB; set: the number given."""
    env = {"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": "k"}
    assert Settings.from_env(env).max_message_mb == 50
    assert Settings.from_env({**env, "MAILSYNC_MAX_MESSAGE_MB": "8"}).max_message_mb == 8


# ---------------------------------------------------------------- readers on real sockets


@contextlib.contextmanager
def _trickler(first: bytes, then: bytes, interval: float):
    """A loopback server that sends `first` at once, then `then` one byte per interval."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(first)
            for byte in then:
                if stop.wait(interval):
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(bytes([byte]))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        thread.join(5)


def test_pop3_reader_cuts_off_a_trickle_at_its_deadline():
    """A status line trickled a byte every 0.2 s with a 1 s deadline: LimitError in ~1 s,
    though no single recv ever waits past its 5 s timeout."""
    with _trickler(b"", b"+OK this line takes far longer than a second\r\n", 0.2) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        with sock:
            budget = limits.Budget("slow.example", seconds=1.0)
            reader = Reader(sock, "slow.example", limits.MAX_LINE, budget)
            started = time.monotonic()
            with pytest.raises(LimitError, match="deadline"):
                reader.readline()
            assert time.monotonic() - started < 2.5


def test_pop3_body_past_its_limit_stops_reading():
    """A body that keeps coming is refused once it passes its limit, having read little more."""
    left, right = socket.socketpair()
    with left, right:
        right.sendall(b"x" * 70 + b"\r\n")

        def write() -> None:
            with contextlib.suppress(OSError):
                right.sendall((b"y" * 78 + b"\r\n") * 5000)  # 400 KB, never a "." line

        writer = threading.Thread(target=write)
        writer.start()
        reader = Reader(left, "h", limits.MAX_LINE, limits.Budget("h", seconds=10))
        with pytest.raises(LimitError, match="more than 100 KiB for message 7"):
            reader.body(100 * 1024, "message 7")
        assert reader.end - reader.start < 100 * 1024 + 256 * 1024 + 64 * 1024
        left.close()
        writer.join(5)


def test_imap_greeting_trickled_past_its_deadline_drops_the_connection(monkeypatch):
    """An IMAP server trickling its greeting (deadline lowered to 1 s here; the e2e test
    holds the real one) is dropped with the deadline's LimitError."""
    monkeypatch.setattr(limits, "GREETING_SECONDS", 1.0)
    cfg = ServerConfig(Protocol.IMAP, "127.0.0.1", 0, Security.NONE, "u", "p", timeout=5)
    with _trickler(b"* OK", b" IMAP4rev1 ready, very slowly\r\n", 0.2) as port:
        started = time.monotonic()
        with pytest.raises(LimitError, match="deadline"):
            imap.connect(ServerConfig(**{**cfg.__dict__, "port": port}), allow_private=True)
        assert time.monotonic() - started < 3.0


def test_imap_body_literal_over_the_small_cap_is_refused_and_the_session_is_dead(
    dovecot, mail_user, dovecot_ssl_env
):
    """A 2 MiB BODY[] on the real Dovecot is refused (cap 1 MiB) and the connection is dead
    at once; within body_fetch (largest message 50 MiB) the same fetch reads it whole."""
    big = make_message(subject="big", size=2 * MiB)
    user = dovecot.add_user(quota_kib=8 * 1024)
    dovecot.append(user, big)
    net.reset_tls_context()
    cfg = ServerConfig(
        Protocol.IMAP, dovecot.host, dovecot.imaps_port, Security.TLS, user.name, user.password
    )
    client = imap.connect(cfg, allow_private=True)
    try:
        client.select_folder("INBOX", readonly=True)
        with pytest.raises(LimitError, match="1 MiB"):
            client.fetch([1], [b"BODY.PEEK[]"])
        with pytest.raises(LimitError):
            client.noop()  # nothing more is read from a dropped connection
    finally:
        imap.close(client)
    client = imap.connect(cfg, allow_private=True)
    try:
        client.select_folder("INBOX", readonly=True)
        with body_fetch(client._imap):
            fetched = client.fetch([1], [b"BODY.PEEK[]"])
        assert len(fetched[1][b"BODY[]"]) >= 2 * MiB
        client.fetch([1], [b"BODY.PEEK[]<0.32768>"])  # the small cap applies again, and fits
    finally:
        imap.close(client)
        net.reset_tls_context()


def test_pop3_list_sizes_asked_one_by_one_match_the_whole_listing(
    dovecot, mail_user, dovecot_ssl_env
):
    """`LIST n` for a few new messages gives the sizes the whole LIST gives (the bound of
    each RETR); a message number the server does not have is left out."""
    for i in range(3):
        dovecot.append(mail_user, make_message(subject=f"m{i}", body="x" * (100 * i + 1)))
    net.reset_tls_context()
    cfg = ServerConfig(
        Protocol.POP3, dovecot.host, dovecot.pop3s_port, Security.TLS, mail_user.name,
        mail_user.password,
    )  # fmt: skip
    try:
        with pop3.session(cfg, allow_private=True) as conn:
            whole = pop3.list_sizes(conn)
            each = pop3.list_sizes(conn, [1, 3, 9])
    finally:
        net.reset_tls_context()
    assert sorted(whole) == [1, 2, 3] and len(set(whole.values())) == 3
    assert each == {1: whole[1], 3: whole[3]}
