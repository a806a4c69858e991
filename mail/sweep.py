"""One STATUS round over many logged-in IMAP connections at once.

A poll with nothing new should cost one STATUS per watched folder. Done one connection at
a time, a thousand accounts pay a thousand round trips and imapclient's parsing; here the
commands for every connection go out first and the answers are read as they come, from
one thread with a selector. Only connections that are idle between commands are swept
(imaplib's buffered reader is then empty), and every byte up to the tagged reply is
consumed, so imapclient can go on using the connection afterwards. The round has an
absolute deadline, and each connection's answers are bounded in bytes and line length
(mail/limits.py): past a bound the connection is given up (SweepError), as on a timeout."""

from __future__ import annotations

import re
import selectors
import ssl
import time
from collections.abc import Container, Hashable, Iterable
from dataclasses import dataclass, field

from imapclient import IMAPClient

from mail import limits
from mail.types import FolderState

_STATUS_LIST = re.compile(rb"\(([^()]*)\)\s*$")
_ITEMS = b" (UIDVALIDITY UIDNEXT MESSAGES UNSEEN)\r\n"
_ITEMS_MODSEQ = b" (UIDVALIDITY UIDNEXT MESSAGES UNSEEN HIGHESTMODSEQ)\r\n"
_NOT_READY = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError)


class SweepError(Exception):
    """A connection that could not be swept; the caller falls back to a full poll."""


@dataclass(frozen=True)
class FolderCounts:
    state: FolderState  # highest_uid is UIDNEXT - 1
    messages: int
    # Shown on status boards; not compared: mail read elsewhere needs no poll.
    unseen: int | None = field(default=None, compare=False)
    # HIGHESTMODSEQ, asked only for accounts with live alerts (watch/two_way.py), which
    # compares it itself: any flag change moves it.
    modseq: int | None = field(default=None, compare=False)


@dataclass(eq=False)
class _Pending:
    key: Hashable
    client: IMAPClient
    sock: object
    tags: dict[bytes, str]  # tag -> folder
    buffer: bytes = b""
    received: int = 0  # bytes and lines of this round's answers (mail/limits.py bounds)
    lines: int = 0
    result: dict[str, FolderCounts] = field(default_factory=dict)
    status_lines: list[bytes] = field(default_factory=list)


def _parse_status(line: bytes) -> tuple[int, int, int, int | None, int | None] | None:
    found = _STATUS_LIST.search(line)
    if not found:
        return None
    items = found.group(1).split()
    values = {items[i].upper(): items[i + 1] for i in range(0, len(items) - 1, 2)}
    try:
        return (
            int(values[b"UIDVALIDITY"]),
            int(values[b"UIDNEXT"]),
            int(values.get(b"MESSAGES", b"0")),
            int(values[b"UNSEEN"]) if b"UNSEEN" in values else None,
            int(values[b"HIGHESTMODSEQ"]) if b"HIGHESTMODSEQ" in values else None,
        )
    except (KeyError, ValueError):
        return None


def status_many(
    targets: Iterable[tuple[Hashable, IMAPClient, Iterable[str]]],
    timeout: float = 20.0,
    modseq_for: Container[Hashable] = (),
) -> dict[Hashable, dict[str, FolderCounts] | SweepError]:
    """STATUS (UIDVALIDITY UIDNEXT MESSAGES UNSEEN) for each target's folders, at once;
    with HIGHESTMODSEQ too for the keys in `modseq_for` whose server offers CONDSTORE."""
    selector = selectors.DefaultSelector()
    pending: dict[Hashable, _Pending] = {}
    out: dict[Hashable, dict[str, FolderCounts] | SweepError] = {}
    for key, client, folders in targets:
        try:
            imap = client._imap
            lines, tags = [], {}
            items = _ITEMS
            if key in modseq_for and client.has_capability("CONDSTORE"):
                items = _ITEMS_MODSEQ
            for folder in folders:
                tag = imap._new_tag()
                tags[tag] = folder
                name = client._normalise_folder(folder)
                lines.append(tag + b" STATUS " + name + items)
            sock = client.socket()
            sock.settimeout(timeout)
            sock.sendall(b"".join(lines))
            sock.setblocking(False)
        except Exception as exc:
            out[key] = SweepError(f"send failed: {exc}")
            continue
        entry = _Pending(key, client, sock, tags)
        pending[key] = entry
        selector.register(sock, selectors.EVENT_READ, entry)
    deadline = time.monotonic() + timeout
    try:
        while pending:
            ready = [e for e in pending.values() if _ssl_pending(e.sock)]
            wait = 0.0 if ready else deadline - time.monotonic()
            if not ready and wait <= 0:
                break
            ready.extend(key.data for key, _ in selector.select(max(0.0, wait)))
            for entry in ready:
                if entry.key in pending and _read(entry, out):
                    del pending[entry.key]
                    selector.unregister(entry.sock)
    finally:
        for entry in pending.values():
            out[entry.key] = SweepError("no answer in time")
        selector.close()
    return out


def _ssl_pending(sock: object) -> bool:
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _read(entry: _Pending, out: dict) -> bool:
    """Consume what arrived; True when this connection is finished. On any SweepError the
    connection is in an unknown state and the caller must close it."""
    try:
        data = entry.sock.recv(65536)  # type: ignore[attr-defined]
    except _NOT_READY:
        return False
    except OSError as exc:
        out[entry.key] = SweepError(f"connection error: {exc}")
        return True
    if not data:
        out[entry.key] = SweepError("the server closed the connection")
        return True
    entry.received += len(data)
    if entry.received > limits.MAX_RESPONSE_BYTES:
        out[entry.key] = SweepError("the answers ran past the response bound")
        return True
    entry.buffer += data
    *lines, entry.buffer = entry.buffer.split(b"\r\n")
    entry.lines += len(lines)
    if len(entry.buffer) > limits.MAX_LINE or entry.lines > limits.MAX_UNTAGGED:
        out[entry.key] = SweepError("a line, or the count of lines, ran past its bound")
        return True
    for line in lines:
        if line.startswith(b"* "):
            if line[2:].upper().startswith(b"BYE"):
                out[entry.key] = SweepError("the server ended the session")
                return True
            if line[2:].upper().startswith(b"STATUS"):
                if len(entry.status_lines) >= len(entry.tags):  # more than were asked for
                    out[entry.key] = SweepError("unasked STATUS answers")
                    return True
                entry.status_lines.append(line)
            continue
        tag, _, rest = line.partition(b" ")
        folder = entry.tags.pop(tag, None)
        entry.client._imap.tagged_commands.pop(tag, None)  # _new_tag() registered it
        if folder is None:
            continue
        if not rest.upper().startswith(b"OK"):
            out[entry.key] = SweepError(f"STATUS {folder} refused")
            return True
        parsed = _parse_status(entry.status_lines.pop(0)) if entry.status_lines else None
        if parsed is None:
            out[entry.key] = SweepError(f"STATUS {folder} unreadable")
            return True
        uidvalidity, uidnext, messages, unseen, modseq = parsed
        state = FolderState(uidvalidity, uidnext - 1)
        entry.result[folder] = FolderCounts(state, messages, unseen, modseq)
    if entry.tags:
        return False
    entry.sock.setblocking(True)  # type: ignore[attr-defined]
    entry.client._set_read_timeout()
    out[entry.key] = entry.result
    return True
