"""The bounds and deadlines of every read from a mail server, in one place (as imapflow
keeps them in lib/handler/limits.js and go-imap in its client's deadlines).

A server may be broken or hostile: it may announce a 4 GB literal, never end a line or a
POP3 message, flood untagged responses or trickle one byte every few seconds (a per-recv
socket timeout never trips on that). The IMAP and POP3 readers (mail/net.py,
mail/pop3_reader.py) check each read against these numbers; past one, the connection is
dropped and the account gets a LimitError that names the host and the bound.

`Budget` is the per-command state both readers share: the absolute deadline of the
response being read, and how many untagged lines and bytes it has brought. The IDLE hub,
which reads its sockets itself, can use `Budget` the same way (see its docstring)."""

from __future__ import annotations

import socket
import threading
import time

from i18n import N_
from mail.errors import LimitError

MiB = 1024 * 1024
KiB = 1024

DEFAULT_MAX_MESSAGE_MB = 50  # MAILSYNC_MAX_MESSAGE_MB
# The largest literal outside a whole-message fetch: headers, 32 KiB snippets, STATUS,
# LIST, quota. The bot fetches bodies only through POP3 RETR, so for IMAP this is the cap.
SMALL_LITERAL = 1 * MiB
MAX_LINE = 1 * MiB  # one line (imaplib's own _MAXLINE is 1,000,000)
# Per command: untagged lines, and bytes (lines and literals) of its whole response. A
# FETCH of 50 snippets is ~1.7 MB, FLAGS of 100,000 messages ~4 MB.
MAX_UNTAGGED = 100_000
MAX_RESPONSE_BYTES = 32 * MiB

# Absolute deadlines, in seconds (not per recv).
CONNECT_SECONDS = 30.0  # TCP connect (every address together) and the TLS handshake
GREETING_SECONDS = 30.0  # from the connection being up to the greeting's end
RESPONSE_SECONDS = 60.0  # from a command sent to the end of its whole response
# A literal adds its transfer time at this slowest acceptable rate to its response's
# deadline: 32 KiB adds 0.1 s, a 50 MiB message 200 s.
LITERAL_RATE = 256 * KiB  # bytes per second

# A POP3 message may run past its LIST size by this much (dot-stuffing, a server that
# counts bare LF line ends) before it is abandoned.
POP3_SIZE_MARGIN = 64 * KiB

_lock = threading.Lock()
_max_message_bytes = DEFAULT_MAX_MESSAGE_MB * MiB


def configure(max_message_mb: int) -> None:
    """Set the largest message (MAILSYNC_MAX_MESSAGE_MB) for this process's connections."""
    global _max_message_bytes
    if max_message_mb < 1:
        raise ValueError("the largest message must be at least 1 MB")
    with _lock:
        _max_message_bytes = max_message_mb * MiB


def max_message_bytes() -> int:
    """The largest whole message the bot reads (a POP3 RETR, an IMAP body fetch)."""
    return _max_message_bytes


def pop3_message_allowance(listed_size: int | None) -> int:
    """How many bytes a RETR may bring before it is abandoned: the LIST size with a margin
    (twice it, for servers that count bare LF line ends), never past the largest message."""
    cap = max_message_bytes()
    if listed_size is None or listed_size < 0:
        return cap
    return min(cap, 2 * listed_size + POP3_SIZE_MARGIN)


def literal_seconds(size: int) -> float:
    """The time a literal of `size` bytes adds to its response's deadline."""
    return size / LITERAL_RATE


def describe_bytes(count: int) -> str:
    if count >= MiB:
        return f"{count / MiB:.0f} MiB"
    if count >= KiB:
        return f"{count / KiB:.0f} KiB"
    return f"{count} bytes"


class Budget:
    """What one response may still cost: an absolute deadline and counts of untagged
    lines and bytes, re-armed each time a command is sent.

    A reader calls `arm()` when it sends a command (or `arm(GREETING_SECONDS)` when the
    connection is up), `line(n, untagged)` and `literal(size)` for what it reads, and
    `recv_timeout(base)` before each blocking recv, which raises once the deadline has
    passed and otherwise returns the socket timeout to use (never past the deadline)."""

    __slots__ = ("bytes", "deadline", "host", "limit", "seconds", "untagged")

    def __init__(self, host: str, seconds: float = GREETING_SECONDS) -> None:
        self.host = host
        self.arm(seconds)

    def arm(
        self, seconds: float = RESPONSE_SECONDS, response_bytes: int = MAX_RESPONSE_BYTES
    ) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.untagged = 0
        self.bytes = 0
        self.limit = response_bytes

    def recv_timeout(self, base: float | None) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise LimitError(
                N_(
                    "`{host}` did not finish its answer within the deadline (a whole response "
                    "must arrive within {seconds} s); the connection was dropped."
                ),
                bound="deadline",
                host=self.host,
                seconds=f"{self.seconds:.0f}",
            )
        return left if base is None else min(base, left)

    def expire(self) -> None:
        """The deadline has (as good as) passed: raise its error."""
        self.deadline = time.monotonic()
        self.recv_timeout(None)

    def line(self, size: int, untagged: bool) -> None:
        if untagged:
            self.untagged += 1
            if self.untagged > MAX_UNTAGGED:
                raise LimitError(
                    N_(
                        "`{host}` sent more than {count} untagged responses to one command; "
                        "the connection was dropped."
                    ),
                    bound="untagged",
                    host=self.host,
                    count=f"{MAX_UNTAGGED:,}",
                )
        self._count(size)

    def literal(self, size: int, cap: int) -> None:
        """Before a literal is read: refuse it over `cap`, else extend the deadline."""
        if size > cap:
            raise LimitError(
                N_(
                    "`{host}` announced a {size} literal, over the {cap} the bot reads there; "
                    "the connection was dropped before reading it."
                ),
                bound="literal",
                host=self.host,
                size=describe_bytes(size),
                cap=describe_bytes(cap),
            )
        self._count(size)
        self.deadline += literal_seconds(size)

    def _count(self, size: int) -> None:
        self.bytes += size
        if self.bytes > self.limit:
            raise LimitError(
                N_(
                    "`{host}` sent more than {size} in answer to one command; the connection "
                    "was dropped."
                ),
                bound="response-bytes",
                host=self.host,
                size=describe_bytes(self.limit),
            )


def apply_timeout(sock: socket.socket, timeout: float) -> None:
    """Give the next blocking recv at most `timeout` seconds. A non-blocking socket (one a
    selector reads, like the IDLE hub's) is left alone; setting it is a syscall, so only
    a change is made."""
    current = sock.gettimeout()
    if current != 0.0 and current != timeout:
        sock.settimeout(timeout)
