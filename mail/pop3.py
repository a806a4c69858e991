"""POP3 over poplib: log in, list by UIDL, download into the caller's store, delete by policy.

Safety rests on RFC 1939's UPDATE state: DELE only marks a message, and the server removes
it when QUIT succeeds. So a session QUITs only on a clean exit and otherwise just drops the
socket, which rolls back every pending DELE. `poll` sends DELE only after every `store()`
call has returned, and only for the UIDLs the caller names.

Without UIDL there is no stable way to tell new mail from old. Such a server is refused
(ProtocolError) unless the caller passes `require_uidl=False` (a read-only `keep` account);
then STAT still works (counts, sizes, mailbox-limit warnings), but `baseline` records no
UIDLs and `poll` downloads, announces and deletes nothing (`uidl_supported=False`).

The connection itself (poplib classes, capabilities, error mapping, `session`) is in
mail/pop3_conn.py; its names are re-exported here. `baseline` and `poll` look up `session`,
`stat`, `uidl_map`, `retrieve`, `delete` and `_quit` in this module, so patching them on
`mail.pop3` takes effect.
"""

from __future__ import annotations

import logging
import poplib
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from i18n import N_, Msg
from mail import limits
from mail.errors import ProtocolError
from mail.parse import parse_headers
from mail.pop3_conn import MAX_LINE as MAX_LINE
from mail.pop3_conn import Capabilities as Capabilities
from mail.pop3_conn import _close as _close
from mail.pop3_conn import _errors, _quit, _server_said, read_multiline, session
from mail.pop3_conn import read_capabilities as read_capabilities
from mail.pop3_reader import ONE_ANSWER
from mail.store_behind import StoreBehind
from mail.types import ServerConfig

log = logging.getLogger(__name__)

PIPELINE_WINDOW = 50  # RETR/DELE commands in flight at once when PIPELINING is offered
# Messages per store() call: one commit, so one fsync (synchronous=FULL), each. On this
# project's 2-core machine under load a commit cost 5-6 ms: 12 of them were a sixth of a
# 3,000-message download. A crash loses at most one batch's work, never mail.
BATCH_SIZE = 1000
BATCH_BYTES = 32 * 1024 * 1024  # also hand a batch to store() once it holds this much
# Up to this many new messages, LIST asks for each (a few bytes each) instead of the whole
# mailbox's listing, which is as long as UIDL's.
LIST_EACH_UP_TO = 100
_MAX_UIDL = 512  # RFC 1939 says 70; be lenient, but bound what reaches the store
_UIDL_TOKEN = re.compile("[!-~]+")  # printable ASCII, no space
_UIDL_LINE = re.compile(rf"^([0-9]+) ([!-~]{{1,{_MAX_UIDL}}})\r$", re.MULTILINE | re.ASCII)


@dataclass(frozen=True)
class Downloaded:
    """One retrieved message, handed to `store()`: `raw` is the message with CRLF endings.
    Nothing is parsed here: the store decides when it reads the headers."""

    uidl: str
    size: int
    raw: bytes = field(repr=False)


@dataclass(frozen=True)
class Pop3New:
    """A stored new message, as `poll` reports it (without the bytes, which are stored)."""

    uidl: str
    size: int


@dataclass(frozen=True)
class Pop3Poll:
    """`count`/`size_bytes` describe the mailbox after this poll's deletions. `failed` are
    new UIDLs the server would not RETR; they stay new and are retried next poll."""

    new: tuple[Pop3New, ...]
    deleted: tuple[str, ...]
    count: int
    size_bytes: int
    failed: tuple[str, ...] = ()
    uidl_supported: bool = True


@dataclass(frozen=True)
class Pop3Baseline:
    uidls: frozenset[str]
    count: int
    size_bytes: int
    uidl_supported: bool = True
    newest: tuple[str, str] | None = None  # (sender, subject) of the last message


def uidl_map(conn: poplib.POP3) -> dict[str, int]:
    """UIDL token -> message number, in message-number order. Malformed lines are skipped;
    a token (or number) that appears twice is dropped entirely, since acting on an ambiguous
    token could delete a message that was never downloaded."""
    try:
        conn._putcmd("UIDL")
        conn._getresp()
        body = read_multiline(conn)
    except poplib.error_proto as exc:
        raise ProtocolError(N_("`{host}` refused the UIDL command."), host=conn.host) from exc
    # Every line "N TOKEN" as servers write them: read by one regex, no loop per line.
    found = _UIDL_LINE.findall(body.decode("latin-1"))
    if len(found) == body.count(b"\n"):
        numbers = list(map(int, map(itemgetter(0), found)))
        tokens = list(map(itemgetter(1), found))
        if numbers == sorted(numbers) and len(set(numbers)) == len(set(tokens)) == len(found):
            return dict(zip(tokens, numbers, strict=True))
        pairs = list(zip(numbers, tokens, strict=True))
    else:
        pairs = _checked_uidl_lines(conn.host, body.split(b"\r\n")[:-1])
    pairs.sort()
    tokens = Counter(t for _, t in pairs)
    numbers = Counter(n for n, _ in pairs)
    out: dict[str, int] = {}
    for number, token in pairs:
        if tokens[token] > 1 or numbers[number] > 1:
            log.warning("POP3 %s: ignoring ambiguous UIDL %r (msg %d)", conn.host, token, number)
            continue
        out[token] = number
    return out


def _checked_uidl_lines(host: str, lines: list[bytes]) -> list[tuple[int, str]]:
    """(number, token) of each well-formed UIDL line, with blanks around tolerated."""
    pairs: list[tuple[int, str]] = []
    for line in lines:
        parts = line.split()
        token = parts[1].decode("ascii", "replace") if len(parts) == 2 else ""
        if (
            not parts[0:1]
            or not parts[0].isdigit()
            or not token
            or len(token) > _MAX_UIDL
            or not _UIDL_TOKEN.fullmatch(token)
        ):
            log.warning("POP3 %s: skipping malformed UIDL line %r", host, line[:100])
            continue
        pairs.append((int(parts[0]), token))
    return pairs


def stat(conn: poplib.POP3) -> tuple[int, int]:
    """(message count, total bytes); messages marked for deletion are not counted."""
    try:
        count, size = conn.stat()
    except poplib.error_proto as exc:
        raise ProtocolError(N_("`{host}` refused the STAT command."), host=conn.host) from exc
    return int(count), int(size)


def _exchange(
    conn: poplib.POP3,
    commands: Sequence[str],
    multiline: bool,
    pipelined: bool,
    allowance: Callable[[int], tuple[int, str]] | None = None,
) -> Iterator[tuple[int, bytes | poplib.error_proto]]:
    """Send `commands`, yielding (index, response) in order: the status line, or for
    `multiline` the body (see read_multiline); a -ERR is yielded as the error_proto (the
    stream stays in step: -ERR is always one line). With pipelining, the next window is
    sent while half of the previous one is still unread, so the pipe never drains; the
    commands are tiny, so writing never blocks on unread responses.

    Each response's deadline starts when it is waited for; `allowance(index)` gives the
    most bytes a body may have (and what it is, for the error), and its transfer time is
    added to the deadline. Past it the body raises LimitError: the caller drops the
    connection, so nothing after it is read, stored or deleted in this session."""
    window = PIPELINE_WINDOW if pipelined else 1
    queued: deque[int] = deque()
    sent = 0
    while sent < len(commands) or queued:
        if sent < len(commands) and len(queued) <= window // 2:
            chunk = range(sent, min(len(commands), sent + window - len(queued)))
            conn.sock.sendall(b"".join(commands[i].encode("ascii") + b"\r\n" for i in chunk))
            queued.extend(chunk)
            sent = chunk.stop
        index = queued.popleft()
        limit, what = allowance(index) if allowance else (limits.MAX_RESPONSE_BYTES, ONE_ANSWER)
        conn.arm(limit if multiline else 0)  # type: ignore[attr-defined]  (ours have it)
        response: bytes | poplib.error_proto
        try:
            status = conn._getresp()
            response = read_multiline(conn, limit, what) if multiline else status
        except poplib.error_proto as exc:
            response = exc
        yield index, response


def retrieve(
    conn: poplib.POP3,
    msgnums: Sequence[int],
    pipelined: bool,
    sizes: Mapping[int, int] | None = None,
) -> Iterator[tuple[int, bytes]]:
    """RETR each message, yielding (msgnum, raw) in order; raw has CRLF line endings and is
    un-dot-stuffed. A message the server refuses is logged and skipped. Abandoning the
    iterator mid-way leaves responses unread: close the connection then (session does).
    A message that runs past its LIST size (`sizes`) by the margin, or past the largest
    message, raises LimitError (limits.pop3_message_allowance)."""
    commands = [f"RETR {int(n)}" for n in msgnums]
    listed = sizes or {}

    def allowance(index: int) -> tuple[int, Msg]:
        number = msgnums[index]
        size = listed.get(number)
        what = (
            Msg(
                N_("message {number} (LIST said {size})"),
                number=number,
                size=limits.describe_bytes(size),
            )
            if size is not None
            else Msg(N_("message {number} (no LIST size)"), number=number)
        )
        return limits.pop3_message_allowance(size), what

    for index, response in _exchange(
        conn, commands, multiline=True, pipelined=pipelined, allowance=allowance
    ):
        if isinstance(response, poplib.error_proto):
            said = _server_said(response)[:200]
            log.warning("POP3 %s: RETR %d refused: %r", conn.host, msgnums[index], said)
            continue
        yield msgnums[index], response


def delete(conn: poplib.POP3, msgnums: Sequence[int], pipelined: bool = False) -> list[int]:
    """Mark messages deleted; returns those the server accepted. Final only after QUIT."""
    accepted = []
    commands = [f"DELE {int(n)}" for n in msgnums]
    for index, response in _exchange(conn, commands, multiline=False, pipelined=pipelined):
        if isinstance(response, poplib.error_proto):
            log.warning("POP3 %s: DELE %d refused: %r", conn.host, msgnums[index], response)
        else:
            accepted.append(msgnums[index])
    return accepted


def baseline(cfg: ServerConfig, allow_private: bool, require_uidl: bool = True) -> Pop3Baseline:
    """What is on the server now, for account creation: recorded, never downloaded,
    announced or deleted (a caller must not treat these UIDLs as archived)."""
    with session(cfg, allow_private, require_uidl) as conn, _errors(cfg, N_("listing")):
        count, size = stat(conn)
        if not conn.caps.uidl:
            return Pop3Baseline(frozenset(), count, size, uidl_supported=False)
        return Pop3Baseline(frozenset(uidl_map(conn)), count, size, newest=_newest(conn, count))


def _newest(conn: poplib.POP3, count: int) -> tuple[str, str] | None:
    """Headers of the last message via TOP n 0 (at most SMALL_LITERAL of them); None
    without TOP or mail."""
    if not count or not conn.caps.top:
        return None
    try:
        conn._putcmd(f"TOP {int(count)} 0")
        conn._getresp()
    except poplib.error_proto:
        return None
    raw = read_multiline(conn, limits.SMALL_LITERAL, f"the headers of message {count}")
    parsed = parse_headers(raw)
    return parsed.sender, parsed.subject


def list_sizes(conn: poplib.POP3, numbers: Sequence[int] = ()) -> dict[int, int]:
    """LIST: message number -> size in octets as the server announces it, for `numbers`
    (one `LIST n` each, pipelined where offered) when there are few, else for all. A
    refused LIST or a malformed line leaves sizes out: such messages are bounded by the
    largest message only."""
    if 0 < len(numbers) <= LIST_EACH_UP_TO:
        sizes: dict[int, int] = {}
        commands = [f"LIST {int(n)}" for n in numbers]
        for _index, response in _exchange(conn, commands, False, conn.caps.pipelining):
            parts = response.split() if isinstance(response, bytes) else []
            if len(parts) >= 3 and parts[1].isdigit() and parts[2].isdigit():
                sizes[int(parts[1])] = int(parts[2])
        return sizes
    try:
        conn._putcmd("LIST")
        conn._getresp()
    except poplib.error_proto:
        log.info("POP3 %s refused LIST; messages are bounded by the largest size only", conn.host)
        return {}
    sizes = {}
    for line in read_multiline(conn).split(b"\r\n"):
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            sizes[int(parts[0])] = int(parts[1])
    return sizes


def _downloaded(uidl: str, raw: bytes) -> Downloaded:
    return Downloaded(uidl, len(raw), raw)


def poll(
    cfg: ServerConfig,
    known_uidls: Callable[[Iterable[str]], set[str]],
    store: Callable[[list[Any]], None],
    deletable: Callable[[Mapping[str, int]], set[str]],
    allow_private: bool,
    batch_size: int = BATCH_SIZE,
    *,
    require_uidl: bool = True,
    batch_bytes: int = BATCH_BYTES,
    prepare: Callable[[str, bytes], Any] = _downloaded,
) -> Pop3Poll:
    """Download new mail into `store` (which must commit durably before returning), then
    DELE what `deletable(uidl_map)` names and QUIT. If `store` raises, nothing is deleted
    and the error propagates; downloads already stored stay stored.

    Each message is handed to `prepare(uidl, raw)` as it arrives, on this thread (by
    default it makes a Downloaded), and `store` gets lists of what prepare returned.

    When there is more than one batch, store() runs one batch behind the download on a
    thread of its own (mail/store_behind.py); every call has returned before deletable()
    is asked."""
    with session(cfg, allow_private, require_uidl) as conn, _errors(cfg, N_("polling")):
        count, size = stat(conn)
        if not conn.caps.uidl:
            return Pop3Poll((), (), count, size, uidl_supported=False)
        current = uidl_map(conn)
        known = known_uidls(list(current))
        wanted = [(n, u) for u, n in current.items() if u not in known]
        sizes = list_sizes(conn, [n for n, _ in wanted]) if wanted else {}
        # A message announced over the largest message is never read: it stays on the
        # server, new, and is neither stored nor deleted (reported in `failed`).
        cap = limits.max_message_bytes()
        too_large = [(n, u) for n, u in wanted if sizes.get(n, 0) > cap]
        for number, uidl in too_large:
            log.warning(
                "POP3 %s: message %d (%s) is %d bytes, over the %d-byte limit; left on the "
                "server unread",
                cfg.host,
                number,
                uidl,
                sizes[number],
                cap,
            )
        if too_large:
            wanted = [(n, u) for n, u in wanted if sizes.get(n, 0) <= cap]
        by_number = dict(wanted)
        new: list[Pop3New] = []
        batch: list[Any] = []
        pending = 0
        with StoreBehind(store) as behind:
            # One batch has nothing to overlap with: stored on this thread.
            put = behind.put if len(wanted) > batch_size else store
            numbers = [n for n, _ in wanted]
            for number, raw in retrieve(conn, numbers, conn.caps.pipelining, sizes):
                uidl = by_number[number]
                batch.append(prepare(uidl, raw))
                new.append(Pop3New(uidl, len(raw)))
                pending += len(raw)
                if len(batch) >= batch_size or pending >= batch_bytes:
                    put(batch)
                    batch, pending = [], 0
            if batch:
                put(batch)
            behind.drain()
        got = {n.uidl for n in new}
        failed = tuple(u for _, u in wanted if u not in got) + tuple(u for _, u in too_large)

        # A failed RETR was never stored, whatever the callback says.
        chosen = set(deletable(dict(current))) - set(failed)
        unknown = chosen - current.keys()
        if unknown:
            log.warning(
                "POP3 %s: not deleting %d UIDLs absent from the server", cfg.host, len(unknown)
            )
        targets = sorted((current[u], u) for u in chosen & current.keys())
        accepted = delete(conn, [n for n, _ in targets], conn.caps.pipelining) if targets else []
        after = stat(conn) if accepted else (count, size)
        if not _quit(conn):
            return Pop3Poll(tuple(new), (), count, size, failed)
        numbers = set(accepted)
        deleted = tuple(u for n, u in targets if n in numbers)
        return Pop3Poll(tuple(new), deleted, after[0], after[1], failed)
