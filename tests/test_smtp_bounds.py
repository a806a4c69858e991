"""mail/smtp.py against scripted servers (exact dialogs a real server will not produce):
an endless reply is cut at MAX_REPLY bytes, a server trickling bytes is dropped at the
deadline, and a connection lost after the final dot is an unknown outcome, not a retry.
Plus the known providers' hosts and when the Sent copy is skipped."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mail import smtp, smtp_hosts
from mail.errors import MailError


@contextlib.contextmanager
def scripted(dialog: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection server on loopback running `dialog`; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(OSError), conn:
            dialog(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(10)


def _plain(port: int) -> smtp.SmtpServer:
    # starttls would refuse without STARTTLS; these dialogs end before that matters
    return smtp.SmtpServer("127.0.0.1", port, "starttls", "u", "p")


def test_an_endless_reply_is_cut_at_max_reply(monkeypatch):
    """A greeting of endless continuation lines fails after MAX_REPLY bytes, not memory."""
    monkeypatch.setattr(smtp, "MAX_REPLY", 64 * 1024)

    def dialog(conn):
        line = b"220-" + b"x" * 1000 + b"\r\n"
        while True:
            conn.sendall(line)

    with scripted(dialog) as port, pytest.raises(MailError, match="did not answer as an SMTP"):
        smtp.check_login(_plain(port), allow_private=True)


def test_a_trickling_server_is_dropped_at_the_deadline(monkeypatch):
    """One byte a second never trips the per-read timeout; the deadline ends it."""
    monkeypatch.setattr(smtp, "DEADLINE", 2.0)

    def dialog(conn):
        for byte in b"220-" + b"y" * 100:
            conn.sendall(bytes([byte]))
            time.sleep(0.5)

    started = time.monotonic()
    with scripted(dialog) as port, pytest.raises(MailError):
        smtp.check_login(_plain(port), allow_private=True)
    assert time.monotonic() - started < 15


def test_a_connection_lost_after_the_dot_is_an_unknown_outcome(monkeypatch):
    """Every recipient accepted, DATA sent, then the line drops before the answer to the
    final dot: UnknownOutcomeError (never retried), after before_data ran once. (TLS and
    AUTH are left out of this dialog: the session is opened bare.)"""
    ran = []

    def dialog(conn):
        reader = conn.makefile("rb")
        conn.sendall(b"220 scripted\r\n")
        while line := reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                conn.sendall(b"354 go on\r\n")
                while reader.readline() not in (b".\r\n", b""):
                    pass
                return  # the message is in; the answer never comes
            conn.sendall(b"250 ok\r\n")

    @contextlib.contextmanager
    def bare_session(server, allow_private):
        client = smtp._PinnedSMTP(server, ["127.0.0.1"])
        client.connect(server.host, server.port)
        client.ehlo()
        try:
            yield client
        finally:
            client.close()

    monkeypatch.setattr(smtp, "session", bare_session)
    with scripted(dialog) as port, pytest.raises(smtp.UnknownOutcomeError):
        smtp.send(
            _plain(port),
            True,
            "a@example.com",
            ["b@example.com"],
            b"x\r\n",
            before_data=lambda: ran.append(1),
        )
    assert ran == [1]


@pytest.mark.parametrize(
    "mail_host, smtp_host, files_sent",
    [
        ("imap.gmail.com", "smtp.gmail.com", True),
        ("outlook.office365.com", "smtp.office365.com", True),
        ("imap.mail.yahoo.com", "smtp.mail.yahoo.com", False),
        ("imap.fastmail.com", "smtp.fastmail.com", False),
    ],
)
def test_known_providers_fill_in_the_host_and_who_files_sent_itself(
    mail_host, smtp_host, files_sent
):
    """The IMAP host names its SMTP server; Gmail and Microsoft 365 file Sent themselves."""
    known = smtp_hosts.for_mail_host(mail_host.upper() + ".")
    assert known is not None and known.host == smtp_host
    assert smtp_hosts.files_sent_itself(smtp_host) is files_sent
    assert smtp_hosts.for_mail_host("mail.example.net") is None
