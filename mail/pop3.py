"""POP3 over poplib: log in, list by UIDL, download into the caller's store, delete by policy.

Safety rests on RFC 1939's UPDATE state: DELE only marks a message, and the server removes
it when QUIT succeeds. So a session QUITs only on a clean exit and otherwise just drops the
socket, which rolls back every pending DELE. `poll` sends DELE only after every `store()`
call has returned, and only for the UIDLs the caller names.

Without UIDL there is no stable way to tell new mail from old. Such a server is refused
(ProtocolError) unless the caller passes `require_uidl=False` (a read-only `keep` account);
then STAT still works (counts, sizes, mailbox-limit warnings), but `baseline` records no
UIDLs and `poll` downloads, announces and deletes nothing (`uidl_supported=False`).
"""

from __future__ import annotations

import contextlib
import logging
import poplib
import socket
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from mail import net
from mail.errors import AuthError, ConnectError, MailError, ProtocolError, TLSError
from mail.parse import ParsedMessage, parse_headers
from mail.types import Security, ServerConfig

log = logging.getLogger(__name__)

# poplib caps lines at its module global _MAXLINE (2048); real mail has longer lines (HTML,
# unwrapped base64). Our connection classes override _getline with this limit instead of
# raising the global, so other poplib users in the process keep their own bound.
MAX_LINE = 1024 * 1024
PIPELINE_WINDOW = 50  # RETR/DELE commands in flight at once when PIPELINING is offered
BATCH_BYTES = 32 * 1024 * 1024  # also hand a batch to store() once it holds this much
_MAX_UIDL = 512  # RFC 1939 says 70; be lenient, but bound what reaches the store


@dataclass(frozen=True)
class Capabilities:
    """What the server offers. `known` is False when it does not answer CAPA (RFC 2449)."""

    names: frozenset[str]
    known: bool = True

    @property
    def uidl(self) -> bool:
        return "UIDL" in self.names

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.names

    @property
    def top(self) -> bool:
        return "TOP" in self.names

    @property
    def stls(self) -> bool:
        return "STLS" in self.names


@dataclass(frozen=True)
class Downloaded:
    """One retrieved message, handed to `store()`: `raw` is the message with CRLF endings."""

    uidl: str
    size: int
    raw: bytes = field(repr=False)
    parsed: ParsedMessage


@dataclass(frozen=True)
class Pop3New:
    """A stored new message, as `poll` reports it (without the bytes, which are stored)."""

    uidl: str
    size: int
    parsed: ParsedMessage


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


class _Conn:
    """Mixin for our poplib connections: a per-connection line limit, clear EOF errors, and a
    socket pinned to the addresses `net.check_host` vetted (no second, unchecked lookup)."""

    caps: Capabilities = Capabilities(frozenset(), known=False)

    def __init__(self, addresses: Sequence[str], *args, **kwargs) -> None:
        self._addresses = list(addresses)
        super().__init__(*args, **kwargs)

    def _create_socket(self, timeout: float) -> socket.socket:
        error: OSError | None = None
        for address in self._addresses:
            try:
                return socket.create_connection((address, self.port), timeout)
            except OSError as exc:
                error = exc
        raise error or OSError(f"no address for {self.host}")

    def _getline(self) -> tuple[bytes, int]:
        line = self.file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError(f"`{self.host}` sent a line longer than {MAX_LINE} bytes.")
        if not line:
            raise ConnectError(f"`{self.host}` closed the connection.")
        octets = len(line)
        if line.endswith(b"\r\n"):
            return line[:-2], octets
        return line.rstrip(b"\n"), octets


class _POP3(_Conn, poplib.POP3):
    pass


class _POP3S(_Conn, poplib.POP3_SSL):
    def _create_socket(self, timeout: float) -> socket.socket:
        return self.context.wrap_socket(
            _Conn._create_socket(self, timeout), server_hostname=self.host
        )


def _server_said(exc: poplib.error_proto) -> bytes:
    text = exc.args[0] if exc.args else b""
    return text if isinstance(text, bytes) else str(text).encode()


@contextlib.contextmanager
def _errors(cfg: ServerConfig, what: str) -> Iterator[None]:
    """Socket/TLS failures via net; an unexpected -ERR becomes a ProtocolError. Server text
    is logged, not shown: it is untrusted and may carry mention or markdown syntax."""
    with net.translate_errors(cfg.host, cfg.port):
        try:
            yield
        except poplib.error_proto as exc:
            log.warning("POP3 %s on %s failed: %r", what, cfg.host, _server_said(exc)[:200])
            raise ProtocolError(f"`{cfg.host}` refused the POP3 command for {what}.") from exc


def read_capabilities(conn: poplib.POP3) -> Capabilities:
    try:
        return Capabilities(frozenset(name.upper() for name in conn.capa()))
    except poplib.error_proto:
        return Capabilities(frozenset(), known=False)


def _login(conn: poplib.POP3, cfg: ServerConfig, before: Capabilities) -> None:
    if any(c in cfg.username + cfg.password for c in "\r\n\0"):
        raise AuthError("The user name or password contains a line break; POP3 cannot send it.")
    try:
        conn.user(cfg.username)
        conn.pass_(cfg.password)
    except poplib.error_proto as exc:
        said = _server_said(exc).upper()
        log.info("POP3 login on %s refused: %r", cfg.host, said[:200])
        if b"[IN-USE]" in said:
            raise ProtocolError(
                f"The mailbox of `{cfg.username}` is in use by another POP3 session; "
                "try again later."
            ) from exc
        if b"[SYS/TEMP]" in said or b"[LOGIN-DELAY]" in said:
            raise ProtocolError(f"`{cfg.host}` is temporarily refusing logins.") from exc
        if before.known and "USER" not in before.names:
            raise AuthError(
                f"`{cfg.host}` does not accept a user name and password on this connection; "
                "use security `tls` or `starttls`."
            ) from exc
        raise AuthError(
            f"The server refused the login for `{cfg.username}`: check the user name and password."
        ) from exc


def _close(conn: poplib.POP3) -> None:
    """Drop the socket without QUIT: the server rolls back any DELE (RFC 1939 §6)."""
    with contextlib.suppress(Exception):
        conn.close()


def _quit(conn: poplib.POP3) -> bool:
    """QUIT, which commits pending DELEs; True when the server confirmed it."""
    try:
        conn.quit()
        return True
    except (poplib.error_proto, OSError, MailError) as exc:
        log.warning("POP3 QUIT on %s failed: %r", conn.host, exc)
        _close(conn)
        return False


@contextlib.contextmanager
def session(
    cfg: ServerConfig, allow_private: bool, require_uidl: bool = True
) -> Iterator[poplib.POP3]:
    """A logged-in connection with `.caps` set. QUIT on a clean exit (unless the body already
    quit); on an exception the socket is dropped without QUIT so pending DELEs roll back."""
    with net.translate_errors(cfg.host, cfg.port):
        addresses = net.check_host(cfg.host, cfg.port, allow_private)
        conn: _POP3 | _POP3S
        if cfg.security is Security.TLS:
            conn = _POP3S(
                addresses, cfg.host, cfg.port, context=net.tls_context(), timeout=cfg.timeout
            )
        else:
            conn = _POP3(addresses, cfg.host, cfg.port, timeout=cfg.timeout)
    try:
        with _errors(cfg, "login"):
            before = read_capabilities(conn)
            if cfg.security is Security.STARTTLS:
                if not before.stls:
                    raise TLSError(
                        f"`{cfg.host}` does not offer STLS (STARTTLS); refusing to send the "
                        "password in clear. Use security `tls`, or `none` on purpose."
                    )
                try:
                    conn.stls(context=net.tls_context())
                except poplib.error_proto as exc:
                    raise TLSError(f"`{cfg.host}` refused to start TLS.") from exc
                before = read_capabilities(conn)  # pre-TLS answers are untrusted (RFC 2595)
            _login(conn, cfg, before)
            caps = read_capabilities(conn)  # may change after login (RFC 2449)
            if not caps.uidl:  # without CAPA, or with a sloppy one, just try it
                with contextlib.suppress(poplib.error_proto):
                    conn.uidl()
                    caps = Capabilities(caps.names | {"UIDL"}, caps.known)
            conn.caps = caps
            if require_uidl and not caps.uidl:
                raise ProtocolError(
                    f"`{cfg.host}` does not support UIDL, so the bot cannot tell new mail from "
                    "old or delete safely. Only a read-only account (retention `keep`) can use "
                    "this server."
                )
        yield conn
    except BaseException:
        _close(conn)
        raise
    if conn.sock is not None:
        _quit(conn)


def uidl_map(conn: poplib.POP3) -> dict[str, int]:
    """UIDL token -> message number, in message-number order. Malformed lines are skipped;
    a token (or number) that appears twice is dropped entirely, since acting on an ambiguous
    token could delete a message that was never downloaded."""
    try:
        _, lines, _ = conn.uidl()
    except poplib.error_proto as exc:
        raise ProtocolError(f"`{conn.host}` refused the UIDL command.") from exc
    pairs: list[tuple[int, str]] = []
    for line in lines:
        parts = line.split()
        token = parts[1].decode("ascii", "replace") if len(parts) == 2 else ""
        if (
            not parts[0:1]
            or not parts[0].isdigit()
            or not token
            or len(token) > _MAX_UIDL
            or not all("!" <= c <= "~" for c in token)
        ):
            log.warning("POP3 %s: skipping malformed UIDL line %r", conn.host, line[:100])
            continue
        pairs.append((int(parts[0]), token))
    tokens = Counter(t for _, t in pairs)
    numbers = Counter(n for n, _ in pairs)
    out: dict[str, int] = {}
    for number, token in sorted(pairs):
        if tokens[token] > 1 or numbers[number] > 1:
            log.warning("POP3 %s: ignoring ambiguous UIDL %r (msg %d)", conn.host, token, number)
            continue
        out[token] = number
    return out


def stat(conn: poplib.POP3) -> tuple[int, int]:
    """(message count, total bytes); messages marked for deletion are not counted."""
    try:
        count, size = conn.stat()
    except poplib.error_proto as exc:
        raise ProtocolError(f"`{conn.host}` refused the STAT command.") from exc
    return int(count), int(size)


def _exchange(
    conn: poplib.POP3, commands: Sequence[str], multiline: bool, pipelined: bool
) -> Iterator[tuple[int, object]]:
    """Send `commands`, yielding (index, response) in order; a -ERR is yielded as the
    error_proto (the stream stays in step: -ERR is always one line). With pipelining, the
    next window is sent while half of the previous one is still unread, so the pipe never
    drains; the commands are tiny, so writing never blocks on unread responses."""
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
        response: object
        try:
            response = conn._getlongresp() if multiline else conn._getresp()
        except poplib.error_proto as exc:
            response = exc
        yield index, response


def retrieve(
    conn: poplib.POP3, msgnums: Sequence[int], pipelined: bool
) -> Iterator[tuple[int, bytes]]:
    """RETR each message, yielding (msgnum, raw) in order; raw has CRLF line endings and is
    un-dot-stuffed. A message the server refuses is logged and skipped. Abandoning the
    iterator mid-way leaves responses unread: close the connection then (session does)."""
    commands = [f"RETR {int(n)}" for n in msgnums]
    for index, response in _exchange(conn, commands, multiline=True, pipelined=pipelined):
        if isinstance(response, poplib.error_proto):
            said = _server_said(response)[:200]
            log.warning("POP3 %s: RETR %d refused: %r", conn.host, msgnums[index], said)
            continue
        _, lines, _ = response  # type: ignore[misc]
        yield msgnums[index], b"".join(line + b"\r\n" for line in lines)


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
    with session(cfg, allow_private, require_uidl) as conn, _errors(cfg, "listing"):
        count, size = stat(conn)
        if not conn.caps.uidl:
            return Pop3Baseline(frozenset(), count, size, uidl_supported=False)
        return Pop3Baseline(frozenset(uidl_map(conn)), count, size, newest=_newest(conn, count))


def _newest(conn: poplib.POP3, count: int) -> tuple[str, str] | None:
    """Headers of the last message via TOP n 0; None without TOP or mail."""
    if not count or not conn.caps.top:
        return None
    try:
        _resp, lines, _octets = conn.top(count, 0)
    except poplib.error_proto:
        return None
    parsed = parse_headers(b"\r\n".join(lines))
    return parsed.sender, parsed.subject


def poll(
    cfg: ServerConfig,
    known_uidls: Callable[[Iterable[str]], set[str]],
    store: Callable[[list[Downloaded]], None],
    deletable: Callable[[Mapping[str, int]], set[str]],
    allow_private: bool,
    batch_size: int = 100,
    *,
    require_uidl: bool = True,
    batch_bytes: int = BATCH_BYTES,
) -> Pop3Poll:
    """Download new mail into `store` (which must commit durably before returning), then
    DELE what `deletable(uidl_map)` names and QUIT. If `store` raises, nothing is deleted
    and the error propagates; downloads already stored stay stored."""
    with session(cfg, allow_private, require_uidl) as conn, _errors(cfg, "polling"):
        count, size = stat(conn)
        if not conn.caps.uidl:
            return Pop3Poll((), (), count, size, uidl_supported=False)
        current = uidl_map(conn)
        known = known_uidls(list(current))
        wanted = [(n, u) for u, n in current.items() if u not in known]
        by_number = dict(wanted)
        new: list[Pop3New] = []
        batch: list[Downloaded] = []
        pending = 0
        for number, raw in retrieve(conn, [n for n, _ in wanted], conn.caps.pipelining):
            # Headers only: a bulk download must not pay for body parsing it may never show.
            item = Downloaded(by_number[number], len(raw), raw, parse_headers(raw))
            batch.append(item)
            pending += len(raw)
            if len(batch) >= batch_size or pending >= batch_bytes:
                store(batch)
                new.extend(Pop3New(d.uidl, d.size, d.parsed) for d in batch)
                batch, pending = [], 0
        if batch:
            store(batch)
            new.extend(Pop3New(d.uidl, d.size, d.parsed) for d in batch)
        got = {n.uidl for n in new}
        failed = tuple(u for _, u in wanted if u not in got)

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
