"""The receive side of a POP3 connection: one buffer filled by large socket reads, from which
status lines and whole multi-line bodies are cut.

poplib reads through a BufferedReader of 8 KB, a line per call; the bulk download read
bodies through its peek() (a copy of the buffered bytes each call). Here a read takes up to
256 KB at once, the end of a body is found by one regex search over what is buffered, and
each body is copied out once: a download's reading cost less than half as much per message.
"""

from __future__ import annotations

import re
import socket
import time

from i18n import N_, Msg
from mail import limits
from mail.errors import ConnectError, LimitError, ProtocolError

ONE_ANSWER = Msg(N_("one answer"))  # what a reply is called in a "too long" error
_READ = 256 * 1024  # bytes asked of the socket per read (a TLS read returns one record)
_MIN_ROOM = 64 * 1024  # below this much free space, make room before reading
# The end of a multi-line response: a line holding only "." (CRLF, or a bare LF as poplib
# also accepts), searched from the LF that ends the line before it.
_TERMINATOR = re.compile(rb"\n\.\r?\n")
_BARE_LF = re.compile(rb"(?<!\r)\n")
# The same end (group 1), or the first line that needs work: a stuffed dot or a bare LF.
_SCAN = re.compile(rb"\n(?:(\.\r?\n)|\.\.|(?<!\r\n))")
_SLACK = 0.1  # a recv given the time left may wake a little before the deadline


class Reader:
    """Buffered reads of one socket. `buf[start:end]` holds what was received and not yet
    consumed; nothing else reads the socket while this is in use.

    Every recv is bounded by `budget` (mail/limits.py): it gets at most the time left
    before the response's absolute deadline, which the connection arms as it sends each
    command, so a server trickling bytes is cut off however slowly it sends."""

    def __init__(
        self, sock: socket.socket, host: str, max_line: int, budget: limits.Budget | None = None
    ) -> None:
        self.sock, self.host, self.max_line = sock, host, max_line
        self.budget = budget
        # The per-recv timeout the deadline caps.
        self.recv_timeout = sock.gettimeout() if budget is not None else None
        self.buf = bytearray(_READ + _MIN_ROOM)
        self.start = self.end = 0

    def pending(self) -> int:
        """Bytes received and not yet consumed."""
        return self.end - self.start

    def _fill(self) -> None:
        """One socket read appended to the buffer; the consumed prefix is dropped, and the
        buffer grows, only when too little room is left behind what is pending."""
        buf = self.buf
        if self.start == self.end:
            self.start = self.end = 0
        elif len(buf) - self.end < _MIN_ROOM:
            pending = self.end - self.start
            if self.start:
                buf[:pending] = buf[self.start : self.end]
                self.start, self.end = 0, pending
            if len(buf) - self.end < _MIN_ROOM:
                buf.extend(bytes(len(buf)))  # one response larger than the buffer
        budget = self.budget
        if budget is not None:
            limits.apply_timeout(self.sock, budget.recv_timeout(self.recv_timeout))
        try:
            with memoryview(buf) as view:
                got = self.sock.recv_into(view[self.end : self.end + _READ])
        except TimeoutError:
            # Given only the time left: past the deadline (or as good as) that is its error.
            if budget is not None and budget.deadline - time.monotonic() < _SLACK:
                budget.expire()
            raise
        if not got:
            raise ConnectError(N_("`{host}` closed the connection."), host=self.host)
        self.end += got

    def readline(self) -> bytes:
        """One line with its line end (LF or CRLF), as BufferedReader.readline gives it.
        A line longer than max_line raises ProtocolError."""
        seen = 0  # pending bytes already searched (a read may move them in the buffer)
        while True:
            lf = self.buf.find(b"\n", self.start + seen, self.end)
            if lf >= 0:
                break
            if self.end - self.start > self.max_line:
                raise ProtocolError(
                    N_("`{host}` sent a line longer than {max_line} bytes."),
                    host=self.host,
                    max_line=self.max_line,
                )
            seen = self.end - self.start
            self._fill()
        if lf + 1 - self.start > self.max_line:
            raise ProtocolError(
                N_("`{host}` sent a line longer than {max_line} bytes."),
                host=self.host,
                max_line=self.max_line,
            )
        line = bytes(self.buf[self.start : lf + 1])
        self.start = lf + 1
        return line

    def _need(self, count: int) -> None:
        while self.end - self.start < count:
            self._fill()

    def _empty_body(self) -> bool:
        """Consumes a "." line that follows the status line at once. (The terminator search
        below starts at the LF before a line, which a read may have dropped from here.)
        Asks for no byte beyond the response: it may be the last the server sends."""
        self._need(2)
        if self.buf[self.start] != 0x2E:
            return False
        if self.buf[self.start + 1] == 0x0A:
            self.start += 2
            return True
        if self.buf[self.start + 1] != 0x0D:
            return False
        self._need(3)
        if self.buf[self.start + 2] != 0x0A:
            return False
        self.start += 3
        return True

    def body(self, limit: int = limits.MAX_RESPONSE_BYTES, what: Msg = ONE_ANSWER) -> bytes:
        """The body of a multi-line response whose status line was read: up to the "."
        line, dot-unstuffed, every line ending in CRLF (bare LF endings become CRLF), the
        same bytes as poplib's lines joined with CRLF. Reads exactly this response: what
        follows it stays buffered. Lines longer than max_line raise ProtocolError; a body
        past `limit` bytes on the wire raises LimitError before more of it is read."""
        if self._empty_body():
            return b""
        buf = self.buf
        # Most bodies need no work beyond the copy: one search finds their end. The first
        # stuffed dot or bare LF switches to the plain search for the end and the fixes.
        plain = buf[self.start : self.start + 2] != b".."
        seen = line = 0  # offsets in the pending bytes: searched so far, the open line's start
        while True:
            if plain:
                found = _SCAN.search(buf, self.start + seen, self.end)
                if found is not None:
                    at = found.start()
                    if found.lastindex == 1 and at > self.start and buf[at - 1] == 0x0D:
                        break  # the end, every line before it CRLF and none dot-stuffed
                    plain, seen = False, at - self.start
                    continue
            else:
                found = _TERMINATOR.search(buf, self.start + seen, self.end)
                if found is not None:
                    break
            last_lf = buf.rfind(b"\n", self.start + seen, self.end)
            if last_lf >= 0:
                line = last_lf + 1 - self.start
            if self.end - self.start - line > self.max_line:
                raise ProtocolError(
                    N_("`{host}` sent a line longer than {max_line} bytes."),
                    host=self.host,
                    max_line=self.max_line,
                )
            if self.end - self.start > limit + 3:  # all pending is this body (no end yet)
                raise self._too_long(limit, what)
            # Search the last 3 bytes again: a terminator may straddle two reads.
            seen = max(0, self.end - self.start - 3)
            self._fill()  # may move the pending bytes to the buffer's front
            buf = self.buf
        stop = found.start() + 1  # the body keeps its last line's end
        if stop - self.start > limit:
            raise self._too_long(limit, what)
        with memoryview(buf) as view:
            body = bytes(view[self.start : stop])
        self.start = found.end()
        if len(body) > self.max_line and max(map(len, body.split(b"\n"))) > self.max_line:
            raise ProtocolError(
                N_("`{host}` sent a line longer than {max_line} bytes."),
                host=self.host,
                max_line=self.max_line,
            )
        if plain:
            return body
        if body[:2] == b"..":
            body = body[1:]
        body = body.replace(b"\n..", b"\n.")  # RFC 1939 dot-stuffing undone
        if body.count(b"\n") != body.count(b"\r\n"):
            body = _BARE_LF.sub(b"\r\n", body)
        return body

    def _too_long(self, limit: int, what: Msg) -> LimitError:
        return LimitError(
            N_("`{host}` sent more than {size} for {what}; the connection was dropped."),
            bound="message",
            host=self.host,
            size=limits.describe_bytes(limit),
            what=what,
        )
