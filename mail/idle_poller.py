"""What the IdleHub (mail/idle.py) keeps per idling connection, and how it waits for them:
readiness of raw file descriptors, epoll where there is one (its cost follows the ready
sockets, not the watched ones), else poll()."""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Hashable
from dataclasses import dataclass, field

from imapclient import IMAPClient

from mail.idle_renewal import Renewal


@dataclass(eq=False, slots=True)
class Watch:
    key: Hashable
    client: IMAPClient
    sock: socket.socket
    fd: int  # kept: a closed socket's fileno() is -1, but the poller must still forget it
    reissue_at: float
    every: float = 0.0  # this connection's renewal period (a provider may need it shorter)
    partial: bytes = field(default=b"")
    renewal: Renewal | None = None
    heard: float = 0.0  # monotonic time of the last byte from the server (or of the add)
    quiet_at: float = 0.0  # when the silence check in the timetable looks at this watch
    keepalive_at: float = 0.0  # the last "* OK" keepalive line, for the server's rhythm
    unpolled: int = 0  # bytes besides keepalives since the last poll (flood bound)


class Poller:
    def __init__(self) -> None:
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._poller = self._epoll or select.poll()
        self._scale = 1.0 if self._epoll is not None else 1000.0  # poll() counts milliseconds

    def register(self, fd: int) -> None:
        try:
            self._poller.register(fd, select.POLLIN)
        except FileExistsError:  # a closed socket's number, reused before epoll forgot it
            self.unregister(fd)
            self._poller.register(fd, select.POLLIN)

    def unregister(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._poller.unregister(fd)

    def poll(self, timeout: float) -> list[int]:
        """The ready descriptors, waiting at most `timeout` seconds."""
        return [fd for fd, _events in self._poller.poll(timeout * self._scale)]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
