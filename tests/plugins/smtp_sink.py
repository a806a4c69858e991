"""A local SMTP sink (aiosmtpd) that Dovecot's submission service relays to: tests read
what was really sent (envelope and bytes) and script how DATA is answered ("250", "451",
"550" ...), so temporary and permanent failures come through the real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller

from tests.plugins.dovecot.host import _free_ports


@dataclass(frozen=True)
class Received:
    """One message the sink accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope) -> str:
        return self.sink._answer(envelope)


class SmtpSink:
    """Accepts every message unless a script says otherwise; thread-safe."""

    def __init__(self) -> None:
        (self.port,) = _free_ports(1)
        self.received: list[Received] = []
        self._script: list[str] = []
        self._lock = threading.Lock()
        self.attempts = 0  # DATA commands seen, accepted or not
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def script(self, *answers: str) -> None:
        """Answer the next DATA commands with these replies, e.g. "451 4.3.0 try later";
        "250" (or running out) accepts."""
        with self._lock:
            self._script = list(answers)

    def reset(self) -> None:
        with self._lock:
            self._script = []
            self.received.clear()
            self.attempts = 0

    def _answer(self, envelope) -> str:
        with self._lock:
            self.attempts += 1
            answer = self._script.pop(0) if self._script else "250"
            if answer.startswith("250"):
                self.received.append(
                    Received(
                        envelope.mail_from,
                        tuple(envelope.rcpt_tos),
                        bytes(envelope.original_content or envelope.content),
                    )
                )
                return "250 2.0.0 OK queued"
            return answer

    def to(self, address: str) -> list[Received]:
        """Messages whose envelope includes `address`."""
        with self._lock:
            return [r for r in self.received if address in r.rcpt_tos]

    def wait_for(self, address: str, count: int = 1, timeout: float = 30.0) -> list[Received]:
        """Blocks until `count` messages to `address` arrived (for use from a thread)."""
        deadline = time.monotonic() + timeout
        while len(found := self.to(address)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} message(s) to {address} never reached the sink")
            time.sleep(0.05)
        return found


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """The sink for the whole session; Dovecot's submission relays to it."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    """The session's sink, emptied, with no script; the script is cleared after the test."""
    smtp_sink.reset()
    yield smtp_sink
    smtp_sink.script()
