"""One IMAP connection going into and out of IDLE: select and IDLE, DONE and deselect,
bytes imaplib holds that a selector cannot see, and imaplib's read buffer let go while
the IdleHub reads the socket itself."""

from __future__ import annotations

import contextlib
import socket
import ssl

from imapclient import IMAPClient

from mail import imap, net
from mail.types import ServerConfig

NOT_READY = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError)


def enter_idle(client: IMAPClient, folder: str = "INBOX") -> dict | None:
    """Select `folder` read-only and start IDLE; returns the EXAMINE response (UIDNEXT,
    UIDVALIDITY ...). None when the server has no IDLE."""
    if not client.has_capability("IDLE"):
        return None
    selected = with_uidnext(client, client.select_folder(folder, readonly=True))
    # imaplib keeps the SELECT's untagged lines until the next SELECT clears them; read
    # already, they would sit beside the idle connection for its life (about 1 KiB).
    client._imap.untagged_responses.clear()
    client.idle()
    return selected


def with_uidnext(client: IMAPClient, selected: dict) -> dict:
    """A SELECT or EXAMINE response with UIDNEXT. Courier leaves it out (RFC 3501 requires
    it): then one past the newest message's UID, which shows new mail as UIDNEXT would;
    mail expunged since the poll is not counted as new."""
    exists = int(selected.get(b"EXISTS") or 0)  # type: ignore[call-overload]
    if b"UIDNEXT" in selected or not exists:
        return selected if exists else {b"UIDNEXT": 1, **selected}
    # FETCH of the last sequence number: imapclient drops the answer to UID FETCH *, and
    # Courier answers UID SEARCH UID * with nothing.
    by_uid, client.use_uid = client.use_uid, False
    try:
        newest = int(client.fetch([exists], [b"UID"]).get(exists, {}).get(b"UID", 0))
    finally:
        client.use_uid = by_uid
    return {**selected, b"UIDNEXT": newest + 1}


def open_idle(cfg: ServerConfig, allow_private: bool, folder: str = "INBOX") -> IMAPClient | None:
    """Log in, select `folder` read-only and enter IDLE. None when the server has no IDLE."""
    client = imap.connect(cfg, allow_private)
    try:
        with net.translate_errors(cfg.host, cfg.port):
            if enter_idle(client, folder) is None:
                imap.close(client)
                return None
    except BaseException:
        imap.close(client)
        raise
    return client


def leave_idle(client: IMAPClient) -> list:
    """DONE, and deselect: a session that keeps a folder selected answers STATUS for it
    from a stale view. Returns the responses that arrived during IDLE."""
    sock = client.socket()
    sock.setblocking(True)
    client._set_read_timeout()
    responses = client.idle_done()[1]
    imap.leave(client)
    return responses


def buffered(client: IMAPClient) -> bool:
    """True when imaplib already holds bytes the hub's selector cannot see: a response that
    arrived in the same read as IDLE's "+ idling" (e.g. mail delivered during the poll)."""
    sock = client.socket()
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return bool(client._imap.file.peek(1))
    except (*NOT_READY, OSError):
        return False
    finally:
        sock.settimeout(timeout)


def release_reader(client: IMAPClient) -> None:
    """Drop imaplib's read buffer (8 KiB a connection) while the hub reads the socket
    itself; reader() brings it back before imaplib reads again. Only call it when
    buffered() is False: a held byte would be lost."""
    imap4 = client._imap
    if imap4.file is not None:
        imap4.file.close()  # the socket stays open: makefile only counted a reference
        imap4.file = None


def reader(client: IMAPClient) -> IMAPClient:
    """The client with imaplib's read buffer in place again (see release_reader)."""
    imap4 = client._imap
    if imap4.file is None:
        imap4.file = imap4.sock.makefile("rb")
    return client


KEEPIDLE_S, KEEPINTVL_S, KEEPCNT = 60, 15, 4
# Unacknowledged data fails the socket after this long (TCP_USER_TIMEOUT): a write into a
# dead path errors within minutes instead of retransmitting for the kernel's ~15. Linux
# lets it override keepalive's probe count: once this has passed since the last byte
# heard, the first keepalive probe still unanswered at the next probe ends the connection.
# So it must outlast keepalive's own probing (60 s + 4 x 15 s): at 30 s, a server's
# keepalive reaching thousands of connections in the same second put their probes in the
# same second too, and the probe ACKs the kernel let through in that second were too few:
# 1,432 of 3,000 idle connections were reset at once (bench: docs/benchmarks-scale.md).
USER_TIMEOUT_MS = (KEEPIDLE_S + KEEPINTVL_S * (KEEPCNT + 2)) * 1000


def keepalive(sock: socket.socket) -> None:
    """TCP keepalive for dead paths (first probe after 60 s quiet) and a write timeout, on
    any mail socket (the hub's, and every session's after connect)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPIDLE_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPINTVL_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPCNT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
