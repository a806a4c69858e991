"""The POP3 connection: poplib classes with a per-connection line limit and pinned
addresses, capabilities (CAPA), the mapping of server errors to MailErrors, and `session`
(connect, STLS, login, QUIT on a clean exit, drop without QUIT on an error).

The commands and the high-level `baseline`/`poll` live in mail/pop3.py, which re-exports
the names here; import them from there.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import poplib
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mail import connect_rate, net, oauth
from mail.errors import AuthError, MailError, ProtocolError, TLSError
from mail.pop3_reader import Reader
from mail.types import Security, ServerConfig

# The logger keeps the name it had before this module was split out of mail/pop3.py.
log = logging.getLogger("mail.pop3")

# poplib caps lines at its module global _MAXLINE (2048); real mail has longer lines (HTML,
# unwrapped base64). Our connection classes override _getline with this limit instead of
# raising the global, so other poplib users in the process keep their own bound.
MAX_LINE = 1024 * 1024


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


class _Conn:
    """Mixin for our poplib connections: a per-connection line limit, clear EOF errors, and a
    socket pinned to the addresses `net.check_host` vetted (no second, unchecked lookup)."""

    caps: Capabilities = Capabilities(frozenset(), known=False)
    _reader: Reader | None = None  # everything the server sends is read through it

    def __init__(self, addresses: Sequence[str], *args, **kwargs) -> None:
        self._addresses = list(addresses)
        super().__init__(*args, **kwargs)

    def _create_socket(self, timeout: float) -> socket.socket:
        error: OSError | None = None
        for address in self._addresses:
            try:
                connect_rate.wait_turn(address, self.port)  # <= 100 new connections/s
                return socket.create_connection((address, self.port), timeout)
            except OSError as exc:
                error = exc
        raise error or OSError(f"no address for {self.host}")

    def _getline(self) -> tuple[bytes, int]:
        reader = self._reader
        if reader is None:  # the first read of this socket (or of the TLS one after STLS)
            reader = self._reader = Reader(self.sock, self.host, MAX_LINE)
        line = reader.readline()
        octets = len(line)
        if line.endswith(b"\r\n"):
            return line[:-2], octets
        return line.rstrip(b"\n"), octets

    def stls(self, context=None):  # type: ignore[no-untyped-def]
        """As poplib's, but bytes that arrived behind the +OK, before the TLS handshake, are
        refused: they were never encrypted, so anyone on the path could have put them there
        (poplib's own buffer would have dropped them silently, or read them as the server's)."""
        answer = super().stls(context)
        if self._reader is not None and self._reader.pending():
            raise ProtocolError(f"`{self.host}` sent data after STLS before the TLS handshake.")
        self._reader = None
        return answer


def read_multiline(conn: poplib.POP3) -> bytes:
    """The body of a multi-line response whose +OK line has been read (see Reader.body):
    dot-unstuffed, CRLF line ends; what follows it stays buffered."""
    return conn._reader.body()  # type: ignore[attr-defined]  (our connections have one)


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


def _sasl_login(conn: poplib.POP3, cfg: ServerConfig) -> None:
    """OAuth2 over POP3: AUTH with an initial response (RFC 5034), OAUTHBEARER where the
    CAPA SASL line offers it, else XOAUTH2. poplib has no helper for either."""
    token = cfg.oauth_token or ""
    try:
        offered = {m.upper() for m in conn.capa().get("SASL", [])}
    except poplib.error_proto:
        offered = set()
    if "OAUTHBEARER" in offered:
        mechanism = "OAUTHBEARER"
        initial = oauth.oauthbearer(cfg.username, cfg.host, cfg.port, token)
    else:
        mechanism, initial = "XOAUTH2", oauth.xoauth2(cfg.username, token)
    try:
        answer = conn._shortcmd(f"AUTH {mechanism} {base64.b64encode(initial).decode()}")
        if not answer.startswith(b"+OK"):
            # "+ <error>": a refused token is a challenge; an empty line gets the -ERR.
            conn._putcmd("")
            conn._getresp()
            raise poplib.error_proto(b"-ERR the server did not confirm the sign-in")
    except poplib.error_proto as exc:
        log.info("POP3 OAuth2 login on %s refused", cfg.host)
        raise AuthError(
            f"The server refused the OAuth2 sign-in for `{cfg.username}`: the token expired or "
            "was revoked, or it belongs to another mailbox."
        ) from exc


def _login(conn: poplib.POP3, cfg: ServerConfig, before: Capabilities) -> None:
    if cfg.oauth_token is not None:
        _sasl_login(conn, cfg)
        return
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
