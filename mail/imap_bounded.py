"""Every byte imaplib reads for us, bounded (mail/limits.py).

imaplib reads a response a line at a time (`readline`) and a literal `{N}` with one
`read(N)`, both from `self.file`, a BufferedReader over the socket. This mixin replaces
those two methods for our IMAP4 classes (mail/net.py):
- a literal over the cap is refused from its announced size, before a byte of it is read;
- a line over MAX_LINE, more than MAX_UNTAGGED untagged lines or MAX_RESPONSE_BYTES for
  one command abort;
- each command's whole response has an absolute deadline (armed when the command is
  sent, extended by each literal's transfer time): every blocking recv gets at most the
  time left, so a server trickling a byte every few seconds is cut off too.
Past a bound the socket is shut at once (not drained) and every later read or write on
the connection fails; the caller gets the LimitError.

The buffer stays imaplib's own `self.file` (peek, then read what is buffered), so the
IDLE hub's checks of it (mail/idle_conn.py) see every byte that arrived."""

from __future__ import annotations

import contextlib
import socket
import time

from i18n import N_
from mail import limits
from mail.errors import LimitError

_READ = 256 * 1024  # bytes asked for at once while reading a literal
_SLACK = 0.1  # a recv given the time left may wake a little before the deadline


class BoundedReads:
    """Mixin for imaplib.IMAP4 subclasses; needs `self.sock`, `self.file`, `self.host`
    and `self._timeout` (the per-recv timeout, as imapclient's IMAP4 classes keep it)."""

    _budget: limits.Budget | None = None
    _tripped: LimitError | None = None
    # Raised for a whole-message fetch (see body_fetch); headers and snippets need far less.
    literal_cap: int = limits.SMALL_LITERAL

    def open(self, host: str = "", port: int = 143, timeout: float | None = None) -> None:
        super().open(host, port, timeout)  # type: ignore[misc]
        self._budget = limits.Budget(self.host, limits.GREETING_SECONDS)  # type: ignore[attr-defined]

    def send(self, data: bytes) -> None:
        self._check()
        if self._budget is not None:
            self._budget.arm(limits.RESPONSE_SECONDS, self._response_bytes())
            if self._timeout is not None:  # type: ignore[attr-defined]
                # A read near the last deadline shortened it: writes get the full timeout.
                limits.apply_timeout(self.sock, self._timeout)  # type: ignore[attr-defined]
        super().send(data)  # type: ignore[misc]

    def _response_bytes(self) -> int:
        if self.literal_cap > limits.SMALL_LITERAL:
            return limits.MAX_RESPONSE_BYTES + self.literal_cap
        return limits.MAX_RESPONSE_BYTES

    def readline(self) -> bytes:
        self._check()
        budget = self._budget
        file = self.file  # type: ignore[attr-defined]
        parts: list[bytes] = []
        total = 0
        while True:
            self._before_recv()
            try:
                buffered = file.peek(1)  # what is buffered, or one recv if nothing is
            except TimeoutError as exc:
                self._timed_out(exc)
            if not buffered:
                break  # EOF: imaplib reports it
            newline = buffered.find(b"\n")
            take = len(buffered) if newline < 0 else newline + 1
            total += take
            if total > limits.MAX_LINE:
                self._trip(
                    LimitError(
                        N_("`{host}` sent a line longer than {size}; the connection was dropped."),
                        bound="line",
                        host=self.host,  # type: ignore[attr-defined]
                        size=limits.describe_bytes(limits.MAX_LINE),
                    )
                )
            parts.append(file.read(take))  # from the buffer: no recv
            if newline >= 0:
                break
        line = parts[0] if len(parts) == 1 else b"".join(parts)
        if budget is not None and line:
            self._guard(budget.line, len(line), line[:1] == b"*")
        return line

    def read(self, size: int) -> bytes:
        self._check()
        if self._budget is not None:  # open() set it: always, once connected
            self._guard(self._budget.literal, size, self.literal_cap)
        file = self.file  # type: ignore[attr-defined]
        chunks = []
        left = size
        while left:
            self._before_recv()
            try:
                chunk = file.read1(min(left, _READ))  # at most one recv
            except TimeoutError as exc:
                self._timed_out(exc)
            if not chunk:
                break  # EOF: imaplib's next readline reports it
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    # ------------------------------------------------------------------ the bookkeeping

    def _before_recv(self) -> None:
        """Give the next recv no more than the response's time left."""
        budget = self._budget
        if budget is None:
            return
        try:
            timeout = budget.recv_timeout(self._timeout)  # type: ignore[attr-defined]
        except LimitError as exc:
            self._trip(exc)
        limits.apply_timeout(self.sock, timeout)  # type: ignore[attr-defined]

    def _timed_out(self, exc: TimeoutError) -> None:
        """A recv timed out: past the deadline that is the deadline's error (the recv was
        given only the time left), otherwise the plain per-recv timeout."""
        budget = self._budget
        if budget is not None and budget.deadline - time.monotonic() < _SLACK:
            self._guard(budget.expire)  # past it, or as good as
        raise exc

    def _guard(self, check, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            check(*args)
        except LimitError as exc:
            self._trip(exc)

    def _trip(self, exc: LimitError) -> None:
        """Shut the socket now: what the server still sends is never read. Raises."""
        self._tripped = exc
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
        raise exc

    def _check(self) -> None:
        if self._tripped is not None:
            raise LimitError(self._tripped.message, bound=self._tripped.bound)


@contextlib.contextmanager
def body_fetch(imap4: BoundedReads):
    """Allow literals up to the largest message (MAILSYNC_MAX_MESSAGE_MB) on this
    connection for a whole-message fetch; the small cap applies again afterwards."""
    imap4.literal_cap = limits.max_message_bytes()
    try:
        yield
    finally:
        imap4.literal_cap = limits.SMALL_LITERAL
