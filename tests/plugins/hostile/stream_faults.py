"""Faults that misuse the stream itself: a huge literal, a trickle, a flood of untagged
lines, a POP3 message that never ends. Each passes bytes through until the bot sends a
command matching `trigger`, then takes that connection over. Each records, per fault,
when it started, when the bot's side went away and how many bytes it pushed, so a test
can state its bound in seconds and bytes.

The streams run as tasks of their own, so the proxy's pumps keep reading the bot's side
and notice at once when the bot drops the connection."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from .proxy import Fault, Link

CHUNK = 64 * 1024


class StreamFault(Fault):
    """Pass-through until a command from the bot matches `trigger` (a bytes regex); that
    command is not forwarded, and `take_over(link, command)` answers it instead."""

    def __init__(self, trigger: bytes) -> None:
        self.trigger = re.compile(trigger, re.IGNORECASE | re.MULTILINE)
        self.started: float | None = None  # time.monotonic() when the fault began
        self.dropped: float | None = None  # when the bot's side of that connection closed
        self.pushed = 0  # bytes the fault sent towards the bot
        self._link: Link | None = None

    async def from_client(self, link: Link, data: bytes) -> None:
        if self._link is link or (self._link is None and self.trigger.search(data)):
            if self._link is None:
                self._link = link
                self.started = time.monotonic()
                asyncio.ensure_future(self._run(link, data))  # noqa: RUF006 (ends with the link)
            return  # the server never sees it (nor anything after it)
        await link.to_server(data)

    async def from_server(self, link: Link, data: bytes) -> None:
        if self._link is link:
            return  # the real server's answers no longer reach the bot
        await link.to_client(data)

    async def _run(self, link: Link, command: bytes) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self.take_over(link, command)
        await link.closed.wait()  # the proxy closes it when the bot's side ends
        self.dropped = time.monotonic()

    async def take_over(self, link: Link, command: bytes) -> None:
        raise NotImplementedError

    async def push(self, link: Link, data: bytes) -> bool:
        """Send to the bot; False once its side is gone. (A transport that lost its
        connection drops writes without an error: is_closing() says so.)"""
        if link.closed.is_set() or link.client_writer.is_closing():
            return False
        await link.to_client(data)
        self.pushed += len(data)
        await asyncio.sleep(0)  # let the pumps see the bot's side close
        return not link.closed.is_set()

    # ------------------------------------------------------------------ for the test

    @property
    def seconds_to_drop(self) -> float | None:
        if self.started is None or self.dropped is None:
            return None
        return self.dropped - self.started


def _tag(command: bytes) -> bytes:
    return command.split(b" ", 1)[0]


class HugeLiteral(StreamFault):
    """Answer a FETCH with `* 1 FETCH (BODY[] {size}` and stream the literal's bytes."""

    def __init__(self, size: int = 4_000_000_000, trigger: bytes = rb"\bFETCH\b") -> None:
        super().__init__(trigger)
        self.size = size

    async def take_over(self, link: Link, command: bytes) -> None:
        head = b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % self.size
        if not await self.push(link, head):
            return
        block = b"x" * CHUNK
        left = self.size
        while left > 0 and await self.push(link, block[: min(left, CHUNK)]):
            left -= CHUNK


class Trickle(StreamFault):
    """Answer the matching command with a real-looking response, one byte every
    `interval` seconds: each recv gets a byte well within any per-recv timeout. The
    default answers an IMAP STATUS; `answer` replaces it (e.g. a POP3 RETR's)."""

    def __init__(
        self,
        interval: float = 2.0,
        trigger: bytes = rb"\bSTATUS\b",
        answer: bytes | None = None,
    ) -> None:
        super().__init__(trigger)
        self.interval = interval
        self.answer = answer

    async def take_over(self, link: Link, command: bytes) -> None:
        answer = self.answer
        if answer is None:
            answer = b'* STATUS "INBOX" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1 UNSEEN 1)\r\n'
            answer += _tag(command) + b" OK done\r\n"
        for byte in answer:
            if not await self.push(link, bytes([byte])):
                return
            await asyncio.sleep(self.interval)


class UntaggedFlood(StreamFault):
    """Answer the matching command with untagged lines, as fast as the bot takes them."""

    def __init__(self, line: bytes = b"* OK flood\r\n", trigger: bytes = rb"\bSTATUS\b") -> None:
        super().__init__(trigger)
        self.block = line * (CHUNK // len(line))

    async def take_over(self, link: Link, command: bytes) -> None:
        while await self.push(link, self.block):
            pass


POP3_RETR_ANSWER = b"+OK message follows\r\nSubject: slow\r\n\r\nA body, sent slowly.\r\n.\r\n"


class EndlessPop3Message(StreamFault):
    """POP3: answer RETR with +OK and message lines that never reach the "." line.
    With `list_size`, LIST answers claim that size for every message (a server whose
    LIST does not match what it sends)."""

    def __init__(self, list_size: int | None = None, trigger: bytes = rb"^RETR ") -> None:
        super().__init__(trigger)
        self.list_size = list_size
        self._listing: set[Link] = set()

    async def from_client(self, link: Link, data: bytes) -> None:
        if self.list_size is not None and re.match(rb"LIST( \d+)?\r\n", data, re.IGNORECASE):
            self._listing.add(link)
        await super().from_client(link, data)

    async def from_server(self, link: Link, data: bytes) -> None:
        if link in self._listing:  # a LIST answer is short: one chunk from Dovecot
            self._listing.discard(link)
            size = b"%d" % self.list_size
            data = re.sub(rb"(?m)^(\d+) \d+\r$", rb"\1 " + size + rb"\r", data)  # LIST
            data = re.sub(rb"(?m)^\+OK (\d+) \d+", rb"+OK \1 " + size, data)  # LIST n
        await super().from_server(link, data)

    async def take_over(self, link: Link, command: bytes) -> None:
        line = b"Subject: never ends\r\n" + b"y" * 76 + b"\r\n"
        block = b"+OK message follows\r\n" + line * (CHUNK // len(line))
        body = line * (CHUNK // len(line))
        if not await self.push(link, block):
            return
        while await self.push(link, body):
            pass
