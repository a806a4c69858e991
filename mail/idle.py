"""IMAP IDLE push for many accounts from one thread.

Each watched connection sits in IDLE on its INBOX; one hub thread waits on all their
sockets with a selector, so a thousand idle accounts cost one thread, not a thousand.
The hub only needs to know *that* something happened: it reads raw bytes, ignores the
server's "* OK" keepalives, reports anything else as activity (the caller then polls by
UID, which is exact), and reports EOF, errors and "* BYE" as a lost connection. IDLE is
re-issued on a timer (RFC 2177: servers may drop a client idle for 30 minutes), which
also proves the connection alive; TCP keepalive catches a silently dead peer sooner."""

from __future__ import annotations

import contextlib
import logging
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from imapclient import IMAPClient

from mail import imap, net
from mail.types import ServerConfig

log = logging.getLogger(__name__)

DEFAULT_REISSUE_SECONDS = 24 * 60
READ_TIMEOUT = 30.0
_NOT_READY = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError)


def open_idle(cfg: ServerConfig, allow_private: bool, folder: str = "INBOX") -> IMAPClient | None:
    """Log in, select `folder` read-only and enter IDLE. None when the server has no IDLE."""
    client = imap.connect(cfg, allow_private)
    try:
        with net.translate_errors(cfg.host, cfg.port):
            if not client.has_capability("IDLE"):
                imap.close(client)
                return None
            client.select_folder(folder, readonly=True)
            client.idle()
    except BaseException:
        imap.close(client)
        raise
    return client


def _keepalive(sock: socket.socket) -> None:
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)


@dataclass(eq=False)
class _Watch:
    key: Hashable
    client: IMAPClient
    sock: socket.socket
    reissue_at: float
    partial: bytes = field(default=b"")


class IdleHub:
    """Watches IDLE connections. Callbacks run on the hub's threads: keep them short and
    thread-safe (e.g. loop.call_soon_threadsafe)."""

    def __init__(
        self,
        on_activity: Callable[[Hashable], None],
        on_lost: Callable[[Hashable, str], None],
        reissue_seconds: float = DEFAULT_REISSUE_SECONDS,
        workers: int = 4,
    ) -> None:
        self._on_activity = on_activity
        self._on_lost = on_lost
        self._reissue_seconds = reissue_seconds
        self._selector = selectors.DefaultSelector()
        self._watches: dict[Hashable, _Watch] = {}
        self._dropped: set[Hashable] = set()  # removed keys whose renewal may still land
        self._commands: queue.SimpleQueue[tuple[str, Hashable, IMAPClient | None]] = (
            queue.SimpleQueue()
        )
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imap-idle")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="imap-idle-hub", daemon=True)

    @property
    def watched(self) -> int:
        return len(self._watches)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for watch in list(self._watches.values()):
            self._close(watch)
        self._watches.clear()
        self._wake_r.close()
        self._wake_w.close()
        self._selector.close()

    def add(self, key: Hashable, client: IMAPClient) -> None:
        """Hand over a client already in IDLE (see open_idle); the hub owns it from now on."""
        self._commands.put(("add", key, client))
        self._wake()

    def remove(self, key: Hashable) -> None:
        self._commands.put(("remove", key, None))
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        while not self._stopping.is_set():
            now = time.monotonic()
            due = min((w.reissue_at for w in self._watches.values()), default=now + 60)
            # SSL may hold decrypted bytes the kernel no longer reports as readable.
            buffered = [w for w in self._watches.values() if self._ssl_pending(w)]
            timeout = 0 if buffered else max(0.0, min(due - now, 60.0))
            ready = set(buffered)
            for key, _events in self._selector.select(timeout):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                else:
                    ready.add(key.data)
            for watch in ready:
                if watch.key in self._watches:
                    self._read(watch)
            self._apply_commands()
            now = time.monotonic()
            for watch in [w for w in self._watches.values() if w.reissue_at <= now]:
                self._detach(watch)
                self._pool.submit(self._reissue, watch)

    @staticmethod
    def _ssl_pending(watch: _Watch) -> bool:
        return isinstance(watch.sock, ssl.SSLSocket) and watch.sock.pending() > 0

    def _apply_commands(self) -> None:
        while True:
            try:
                command, key, client = self._commands.get_nowait()
            except queue.Empty:
                return
            if command == "readd" and key in self._dropped:
                if client is not None:  # removed while its IDLE was being renewed
                    with contextlib.suppress(Exception):
                        client.shutdown()
                continue
            if command == "add":
                self._dropped.discard(key)
            elif command == "remove":
                self._dropped.add(key)
            old = self._watches.get(key)
            if old is not None:
                self._detach(old)
                self._close(old)
            if command in ("add", "readd") and client is not None:
                sock = client.socket()
                _keepalive(sock)
                sock.setblocking(False)
                watch = _Watch(key, client, sock, time.monotonic() + self._reissue_seconds)
                self._watches[key] = watch
                self._selector.register(sock, selectors.EVENT_READ, watch)

    def _read(self, watch: _Watch) -> None:
        try:
            data = watch.sock.recv(65536)
        except _NOT_READY:
            return
        except OSError as exc:
            self._lose(watch, f"connection error: {exc}")
            return
        if not data:
            self._lose(watch, "the server closed the connection")
            return
        *lines, watch.partial = (watch.partial + data).split(b"\r\n")
        watch.partial = watch.partial[-8192:]
        if any(line.upper().startswith(b"* BYE") for line in lines):
            self._lose(watch, "the server ended the session")
        elif any(line and not line.upper().startswith(b"* OK") for line in lines):
            self._on_activity(watch.key)

    def _detach(self, watch: _Watch) -> None:
        self._watches.pop(watch.key, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(watch.sock)

    def _lose(self, watch: _Watch, reason: str) -> None:
        self._detach(watch)
        self._close(watch)
        self._on_lost(watch.key, reason)

    @staticmethod
    def _close(watch: _Watch) -> None:
        with contextlib.suppress(Exception):
            watch.client.shutdown()

    def _reissue(self, watch: _Watch) -> None:
        """DONE then IDLE again, on a worker thread: a round trip must not stall the hub."""
        try:
            watch.sock.setblocking(True)
            watch.sock.settimeout(READ_TIMEOUT)
            responses = watch.client.idle_done()[1]
            watch.client.idle()
        except Exception as exc:
            self._close(watch)
            self._on_lost(watch.key, f"IDLE could not be renewed: {exc}")
            return
        if self._stopping.is_set():
            self._close(watch)
            return
        self._commands.put(("readd", watch.key, watch.client))
        self._wake()
        if any(not (isinstance(r, tuple) and r and r[0] == b"OK") for r in responses or []):
            self._on_activity(watch.key)
