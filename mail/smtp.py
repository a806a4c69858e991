"""SMTP submission with smtplib: the same host and TLS rules as IMAP (mail/net.py), a login
with the password or an OAuth2 token (XOAUTH2 / OAUTHBEARER), and a send that tells a
temporary failure (retry) from a permanent one (report) and from the one case nobody can
know: the connection lost after the message's final dot (never resent on its own).

Every read is bounded: a socket timeout per read, MAX_REPLY bytes per server reply, and a
watchdog that closes the connection at an absolute deadline."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from i18n import N_, Msg
from mail import net, oauth
from mail.errors import AuthError, MailError, ProtocolError, TLSError

TIMEOUT = 30.0  # per read
DEADLINE = 180.0  # the whole conversation, even with a server trickling bytes
MAX_REPLY = 64 * 1024  # bytes of one (multi-line) reply
MAX_MESSAGE = 35 * 1024 * 1024  # 3 x 10 MB attachments, base64-encoded, plus the text
CLOSED = N_("The SMTP server closed the connection.")


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # tls | starttls
    username: str
    password: str = field(repr=False)
    oauth_token: str | None = field(default=None, repr=False)
    helo: str = "localhost"


class SendError(MailError):
    """The server refused; `temporary` (4xx, connection lost before the message was
    complete) means retry later, otherwise the text is the server's reason. A msgid of ours
    is translated; the server's own words (ServerWords, from _reason) are shown as they came."""

    kind = "smtp"

    def __init__(self, message: Msg, temporary: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.code = code


class ServerWords(Msg):
    """The server's own reason: shown as it came, looked up in no catalog."""

    __slots__ = ()

    def render(self, t: object) -> str:
        return self.msgid


class UnknownOutcomeError(MailError):
    """The connection ended after the whole message was sent, before the server's answer:
    it may have been accepted."""

    kind = "smtp-unknown"


class _PinnedSMTP(smtplib.SMTP):
    """smtplib connecting only to the addresses check_host approved, with bounded replies."""

    def __init__(self, server: SmtpServer, addresses: Sequence[str]) -> None:
        self._server = server
        self._addresses = addresses
        super().__init__(local_hostname=server.helo, timeout=TIMEOUT)
        self._host = server.host  # STARTTLS checks the certificate against this name

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = net.connect_checked(self._addresses, port, timeout, host)
        if self._server.security == "tls":
            return net.tls_context().wrap_socket(sock, server_hostname=host)
        return sock

    def getreply(self) -> tuple[int, bytes]:
        """smtplib's getreply with a bound on the whole reply, not only on each line."""
        if self.file is None:
            self.file = self.sock.makefile("rb")
        lines: list[bytes] = []
        size = 0
        while True:
            try:
                line = self.file.readline(smtplib._MAXLINE + 1)
            except OSError as exc:
                self.close()
                raise smtplib.SMTPServerDisconnected(f"Connection lost: {exc}") from exc
            if not line:
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            size += len(line)
            if len(line) > smtplib._MAXLINE or size > MAX_REPLY:
                self.close()
                raise smtplib.SMTPResponseException(500, b"Reply too long")
            lines.append(line[4:].strip(b" \t\r\n"))
            try:
                code = int(line[:3])
            except ValueError:
                code = -1
                break
            if line[3:4] != b"-":
                break
        return code, b"\n".join(lines)


@contextlib.contextmanager
def _deadline(client: smtplib.SMTP, seconds: float) -> Iterator[None]:
    """Close the connection when the conversation outlasts `seconds` (the blocked read
    then fails), so no server keeps a worker thread forever."""
    timer = threading.Timer(seconds, lambda: _shutdown(client))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _shutdown(client: smtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        client.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]


@contextlib.contextmanager
def session(server: SmtpServer, allow_private: bool) -> Iterator[smtplib.SMTP]:
    """A logged-in SMTP connection (EHLO, TLS, AUTH), closed on exit."""
    addresses = net.check_host(server.host, server.port, allow_private)
    client = _PinnedSMTP(server, addresses)
    try:
        with _deadline(client, DEADLINE), net.translate_errors(server.host, server.port):
            try:
                code, greeting = client.connect(server.host, server.port)
            except smtplib.SMTPException as exc:
                raise ProtocolError(
                    N_("`{host}:{port}` did not answer as an SMTP server."),
                    host=server.host,
                    port=server.port,
                ) from exc
            if code != 220:
                raise SendError(_reason(greeting), temporary=400 <= code < 500, code=code)
            client.ehlo()
            if server.security == "starttls":
                if not client.has_extn("starttls"):
                    raise TLSError(
                        N_(
                            "`{host}` does not offer STARTTLS; refusing to send the "
                            "password in clear. Use security `tls` (port 465)."
                        ),
                        host=server.host,
                    )
                client.starttls(context=net.tls_context())
                client.ehlo()
            _login(client, server)
            yield client
    except smtplib.SMTPResponseException as exc:  # e.g. a refused STARTTLS or EHLO
        code = exc.smtp_code
        raise SendError(_reason(exc.smtp_error), temporary=400 <= code < 500, code=code) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise SendError(Msg(CLOSED), temporary=True) from exc
    finally:
        with contextlib.suppress(Exception):
            client.quit()
        client.close()


def _login(client: smtplib.SMTP, server: SmtpServer) -> None:
    try:
        if server.oauth_token is not None:
            _sasl_login(client, server)
        else:
            client.login(server.username, server.password)
    except smtplib.SMTPNotSupportedError as exc:
        raise AuthError(
            N_("`{host}` offers no login (SMTP AUTH) on this port."), host=server.host
        ) from exc
    except (smtplib.SMTPAuthenticationError, UnicodeEncodeError) as exc:
        if server.oauth_token is not None:
            raise AuthError(
                N_(
                    "The SMTP server refused the OAuth2 token of `{user}`. Accounts "
                    "signed in before sending was added lack the permission to send "
                    "(Microsoft: SMTP.Send): run `/mail reauth` and sign in again."
                ),
                user=server.username,
            ) from exc
        raise AuthError(
            N_(
                "The SMTP server refused the login for `{user}`: check that it "
                "accepts the same user name and password as the mailbox."
            ),
            user=server.username,
        ) from exc


def _sasl_login(client: smtplib.SMTP, server: SmtpServer) -> None:
    """OAUTHBEARER where offered, else XOAUTH2; a refusal's JSON challenge is answered
    with an empty line to get the final 535 (RFC 7628 section 3.2.3)."""
    token = server.oauth_token or ""
    offered = (client.esmtp_features.get("auth") or "").upper().split()
    if "OAUTHBEARER" in offered:
        mechanism = "OAUTHBEARER"
        initial = oauth.oauthbearer(server.username, server.host, server.port, token)
    elif "XOAUTH2" in offered:
        mechanism, initial = "XOAUTH2", oauth.xoauth2(server.username, token)
    else:
        raise AuthError(
            N_("`{host}` offers no OAuth2 login over SMTP (XOAUTH2)."), host=server.host
        )

    def respond(challenge: bytes | None = None) -> str:
        return initial.decode("ascii") if challenge is None else ""

    client.auth(mechanism, respond)


def check_login(server: SmtpServer, allow_private: bool) -> None:
    """Connect and log in (blocking): proves the settings before they are stored."""
    with session(server, allow_private):
        return


def send(
    server: SmtpServer,
    allow_private: bool,
    sender: str,
    to: Sequence[str],
    message: bytes,
    before_data: Callable[[], None] = lambda: None,
) -> dict[str, str]:
    """Submit `message` (blocking). `before_data` runs once every recipient was accepted,
    right before DATA: from then on a lost connection is an UnknownOutcomeError. Returns
    the recipients the server refused while accepting the others ({address: the server's
    reason, "" when it gave none})."""
    if len(message) > MAX_MESSAGE:
        raise SendError(Msg(N_("The message is too large to send.")), temporary=False)
    with session(server, allow_private) as client:
        try:
            code, said = client.mail(sender)
            if code != 250:
                raise SendError(_reason(said), temporary=400 <= code < 500, code=code)
            refused: dict[str, tuple[int, bytes]] = {}
            for rcpt in to:
                code, said = client.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, said)
            if len(refused) == len(to):
                code, said = next(iter(refused.values()))
                temporary = all(400 <= c < 500 for c, _ in refused.values())
                raise SendError(_reason(said), temporary=temporary, code=code)
            code, said = client.docmd("data")
            if code != 354:
                raise SendError(_reason(said), temporary=400 <= code < 500, code=code)
        except smtplib.SMTPServerDisconnected as exc:
            raise SendError(Msg(CLOSED), temporary=True) from exc
        before_data()
        try:
            quoted = smtplib._quote_periods(message)  # type: ignore[attr-defined]
            client.send(quoted + (b"" if quoted.endswith(b"\r\n") else b"\r\n") + b".\r\n")
            code, said = client.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            raise UnknownOutcomeError(
                N_(
                    "The connection ended after the message was sent, before the server "
                    "said whether it took it."
                )
            ) from exc
        if code != 250:
            raise SendError(_reason(said), temporary=400 <= code < 500, code=code)
        return {r: _said(s) for r, (_c, s) in refused.items()}


def _said(reply: bytes | str) -> str:
    """The server's reply text on one line, at most 300 characters ("" when it gave none)."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:300]


def _reason(reply: bytes | str) -> Msg:
    said = _said(reply)
    return ServerWords(said) if said else Msg(N_("(no reason given)"))
