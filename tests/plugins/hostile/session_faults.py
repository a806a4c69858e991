"""Faults of a session rather than of one response: a connection that goes silent, a server
that drops every session right after login or hangs after it, and one that renumbers its
folders (a new UIDVALIDITY) at every SELECT, EXAMINE and STATUS.

They read the plaintext IMAP the proxy sees: a command line is `TAG VERB ...`, and the
server's tagged answer to LOGIN/AUTHENTICATE is `TAG OK ...`. Each keeps counts and
timestamps a test can assert bounds on."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable

from .proxy import Fault, Link

_LOGIN_VERBS = (b"LOGIN", b"AUTHENTICATE")


def _commands(data: bytes) -> list[tuple[bytes, bytes]]:
    """(tag, VERB) of each command line in a chunk from the client."""
    found = []
    for line in data.split(b"\r\n"):
        parts = line.split(b" ", 2)
        if len(parts) >= 2 and parts[0] and parts[0][:1].isalnum():
            found.append((parts[0], parts[1].upper()))
    return found


class GoSilent(Fault):
    """The given open connections stop passing bytes both ways; their sockets stay open
    (the proxy's kernel still ACKs, so TCP keepalive sees nothing). New ones pass."""

    def __init__(self, links: Iterable[Link]) -> None:
        self.silenced = {link.id for link in links if not link.closed.is_set()}
        self.dropped_to_client = 0  # bytes the server sent that the bot never got
        self.dropped_to_server = 0

    async def from_server(self, link: Link, data: bytes) -> None:
        if link.id in self.silenced:
            self.dropped_to_client += len(data)
            return
        await link.to_client(data)

    async def from_client(self, link: Link, data: bytes) -> None:
        if link.id in self.silenced:
            self.dropped_to_server += len(data)
            return
        await link.to_server(data)


class _AfterLogin(Fault):
    """Notes each connection's LOGIN/AUTHENTICATE tag; `after_login` runs when the
    server's tagged OK to it has passed to the bot."""

    def __init__(self) -> None:
        self.logins: list[float] = []  # monotonic times of the logins that passed

    async def from_client(self, link: Link, data: bytes) -> None:
        for tag, verb in _commands(data):
            if verb in _LOGIN_VERBS:
                link.state["login_tag"] = tag
        if link.state.get("after_login"):
            return await self.client_after_login(link, data)
        await link.to_server(data)

    async def from_server(self, link: Link, data: bytes) -> None:
        if link.state.get("after_login"):
            return await self.server_after_login(link, data)
        await link.to_client(data)
        tag = link.state.get("login_tag")
        if tag is not None and re.search(rb"(^|\r\n)" + re.escape(tag) + rb" OK", data):
            self.logins.append(time.monotonic())
            link.state["after_login"] = True
            await self.after_login(link)

    async def after_login(self, link: Link) -> None:
        """The login just passed."""

    async def client_after_login(self, link: Link, data: bytes) -> None:
        await link.to_server(data)

    async def server_after_login(self, link: Link, data: bytes) -> None:
        await link.to_client(data)

    def logins_within(self, seconds: float) -> int:
        """The most logins in any window of `seconds` (a sliding window over them all)."""
        times = sorted(self.logins)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] > seconds:
                start += 1
            best = max(best, end - start + 1)
        return best


class DropAfterLogin(_AfterLogin):
    """Close the connection as soon as the server's OK to the login has passed."""

    async def after_login(self, link: Link) -> None:
        link.close()


class HangAfterLogin(_AfterLogin):
    """After the login, pass nothing either way and keep the connection open."""

    def __init__(self) -> None:
        super().__init__()
        self.hung = 0  # connections hanging now or before

    async def after_login(self, link: Link) -> None:
        self.hung += 1

    async def client_after_login(self, link: Link, data: bytes) -> None:
        return

    async def server_after_login(self, link: Link, data: bytes) -> None:
        return


_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)", re.IGNORECASE)
_SELECTS = (b"SELECT", b"EXAMINE", b"STATUS")


class ChurnUidvalidity(Fault):
    """Every SELECT, EXAMINE or STATUS sees a new UIDVALIDITY: the server's number is
    rewritten to `base` plus how many such commands were sent so far."""

    def __init__(self, base: int = 7_000_000) -> None:
        self.base = base
        self.selects = 0

    async def from_client(self, link: Link, data: bytes) -> None:
        self.selects += sum(1 for _tag, verb in _commands(data) if verb in _SELECTS)
        await link.to_server(data)

    async def from_server(self, link: Link, data: bytes) -> None:
        value = str(self.base + self.selects).encode()
        await link.to_client(_UIDVALIDITY.sub(b"UIDVALIDITY " + value, data))


class FloodWhileIdling(Fault):
    """Once a connection idles (the server's "+ idling" has passed), stream untagged
    lines at it without end, as fast as it reads them."""

    LINE = b"* 1 RECENT\r\n" * 1024  # 12 KiB a write

    def __init__(self) -> None:
        self.flooded = 0  # bytes of flood sent

    async def from_server(self, link: Link, data: bytes) -> None:
        await link.to_client(data)
        if b"\r\n+ " in b"\r\n" + data and not link.state.get("flooding"):
            link.state["flooding"] = True
            while not link.closed.is_set():
                await link.to_client(self.LINE)
                self.flooded += len(self.LINE)
