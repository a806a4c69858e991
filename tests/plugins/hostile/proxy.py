"""A man-in-the-middle in front of a real mail server, for fault tests.

The bot connects to the proxy (implicit TLS with the rig's certificate, so it checks the
certificate as it would any server's); the proxy opens a plain connection to the real
server and passes bytes through both ways. A `Fault` decides what happens to each chunk:
by default it is forwarded as is. Faults see plaintext, so they can count logins, rewrite
responses or take the stream over. The proxy runs its own event loop on a thread, so a
test's loop and the bot's worker threads never wait on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
CHUNK = 65536


class Link:
    """One proxied connection: the bot's side (`client`) and the real server's side."""

    _ids = itertools.count(1)

    def __init__(
        self,
        proxy: HostileProxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.id = next(self._ids)
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.server_reader, self.server_writer = server
        self.state: dict[str, Any] = {}  # a fault's notes about this connection
        self.closed = asyncio.Event()

    async def to_client(self, data: bytes) -> None:
        """Send bytes to the bot (waits while its socket is full, as a real server would).
        Once the bot has gone this raises, so a fault that streams without end stops (a
        closing transport would otherwise take writes, log each one and never block)."""
        if self.closed.is_set() or self.client_writer.is_closing():
            self.close()
            raise ConnectionResetError("the bot closed the connection")
        self.client_writer.write(data)
        self.proxy.bytes_to_client += len(data)
        await self.client_writer.drain()
        # drain() returns without suspending while the buffer is below its high-water
        # mark, so a fault writing in a loop would never let the loop see the bot's side
        # close (it would write into a dead socket forever): yield once per write.
        await asyncio.sleep(0)

    async def to_server(self, data: bytes) -> None:
        if self.closed.is_set():
            return
        self.server_writer.write(data)
        await self.server_writer.drain()

    def close(self) -> None:
        """Drop both sides (FIN to the bot)."""
        if self.closed.is_set():
            return
        self.closed.set()
        for writer in (self.client_writer, self.server_writer):
            with contextlib.suppress(Exception):
                writer.close()


class Fault:
    """Pass-through. Subclasses override what they change; each hook runs on the proxy's
    loop and may await (sleep, stream, never return until the link closes)."""

    async def on_connect(self, link: Link) -> None:
        """A new connection, before any byte passes."""

    async def from_server(self, link: Link, data: bytes) -> None:
        await link.to_client(data)

    async def from_client(self, link: Link, data: bytes) -> None:
        await link.to_server(data)


PASS = Fault()


class HostileProxy:
    """Listen on a free loopback port; forward each connection to `upstream_port`.

    `tls=(cert_file, key_file)` terminates implicit TLS towards the bot (the upstream side is
    plain). `set_fault` applies to chunks from then on, on new and open connections alike."""

    host = "127.0.0.1"

    def __init__(
        self,
        upstream_port: int,
        upstream_host: str = "127.0.0.1",
        *,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._tls: ssl.SSLContext | None = None
        if tls is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(*tls)
        self.fault: Fault = PASS
        self.links: list[Link] = []
        self.accepted = 0  # connections the bot opened, ever
        self.bytes_to_client = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> HostileProxy:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            sock = socket.create_server((self.host, 0))
            self.port = sock.getsockname()[1]
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, sock=sock, ssl=self._tls)
            )
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="hostile-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for link in list(self.links):
                link.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.call(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        if self._thread is None or not self._thread.is_alive():
            self._loop.close()  # a loop still running (a stuck fault) is left to its daemon thread
        self._loop = None

    def __enter__(self) -> HostileProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control

    def set_fault(self, fault: Fault | None) -> None:
        self.fault = fault or PASS

    def call(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        """Run a coroutine on the proxy's loop from another thread and wait for it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def on_loop(self, fn: Callable[[], object]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(fn)

    @property
    def open_links(self) -> int:
        return sum(1 for link in self.links if not link.closed.is_set())

    # ------------------------------------------------------------------ the forwarding

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        link = Link(self, (reader, writer), upstream)
        self.links.append(link)
        try:
            await self.fault.on_connect(link)
            pumps = [
                asyncio.ensure_future(self._pump(link, link.server_reader, from_server=True)),
                asyncio.ensure_future(self._pump(link, link.client_reader, from_server=False)),
            ]
            closed = asyncio.ensure_future(link.closed.wait())
            await asyncio.wait([*pumps, closed], return_when=asyncio.FIRST_COMPLETED)
            for task in (*pumps, closed):
                task.cancel()
            await asyncio.gather(*pumps, closed, return_exceptions=True)
        finally:
            link.close()

    async def _pump(self, link: Link, reader: asyncio.StreamReader, *, from_server: bool) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
            while not link.closed.is_set():
                data = await reader.read(CHUNK)
                if not data:
                    return
                fault = self.fault
                if from_server:
                    await fault.from_server(link, data)
                else:
                    await fault.from_client(link, data)
