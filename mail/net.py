"""Network policy shared by IMAP and POP3: one verifying TLS context, the private-host
guard, connections pinned to the addresses that guard approved, and the translation of
socket/TLS failures into user-facing MailErrors."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence

from imapclient import IMAPClient
from imapclient import imap4 as _imapclient_imap4
from imapclient import tls as _imapclient_tls

from i18n import N_, Msg
from mail import connect_rate, limits
from mail.errors import (
    ConnectError,
    DNSError,
    MailError,
    MailTimeoutError,
    PrivateHostError,
    RefusedError,
    TLSError,
)
from mail.imap_bounded import BoundedReads
from mail.imap_lean import LeanIMAP4, LeanIMAPClient

_context_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """The one verifying context (building one costs ~20 ms). Honours SSL_CERT_FILE."""
    global _context
    with _context_lock:
        if _context is None:
            _context = ssl.create_default_context()
        return _context


def reset_tls_context() -> None:
    """Forget the cached context, e.g. after SSL_CERT_FILE changed (tests)."""
    global _context
    with _context_lock:
        _context = None


# ---------------------------------------------------------------- the private-host guard

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 forms that carry an IPv4 address. The well-known NAT64 prefix (RFC 6052) and
# IPv4-mapped addresses reach exactly the embedded IPv4 host, so only that one is judged
# (both prefixes sit in ::/8, which ipaddress calls reserved). The local-use NAT64 prefix
# (RFC 8215) embeds the address in an operator-defined way: refused as a whole.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated (RFC 4291 §2.5.5.1)


def _is_internal(ip: IPAddress) -> bool:
    """Anything not plainly a public unicast host (is_global also excludes e.g. the
    100.64.0.0/10 carrier-grade NAT range and the IETF special-purpose blocks)."""
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def is_private_address(address: str) -> bool:
    """True for an address the bot must not connect to unless private hosts are allowed:
    loopback, private, link-local, multicast, unspecified, reserved or otherwise not
    global, IPv4 or IPv6, including IPv6 forms that embed such an IPv4 address
    (::ffff:a.b.c.d, ::a.b.c.d, 6to4 2002::/16, NAT64 64:ff9b::/96, Teredo)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_internal(ip)
    if ip.ipv4_mapped is not None:
        return _is_internal(ip.ipv4_mapped)
    if ip in _NAT64_WELL_KNOWN:
        return _is_internal(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _NAT64_LOCAL_USE or ip in _IPV4_COMPATIBLE:
        return True
    if ip.sixtofour is not None and _is_internal(ip.sixtofour):
        return True
    if ip.teredo is not None and any(_is_internal(v4) for v4 in ip.teredo):
        return True
    return _is_internal(ip)


def resolve(host: str, port: int) -> list[str]:
    """Every address of `host`, in the resolver's order of preference, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DNSError(N_("The host name `{host}` could not be resolved."), host=host) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_host(host: str, port: int, allow_private: bool) -> list[str]:
    """Resolve `host` and refuse it when any address is internal (SPEC §5). Connect only
    to the returned addresses (`connect_checked`): a second lookup could answer otherwise."""
    addresses = resolve(host, port)
    if not addresses:
        raise DNSError(N_("The host name `{host}` has no address."), host=host)
    if not allow_private:
        for address in addresses:
            if is_private_address(address):
                raise PrivateHostError(
                    N_(
                        "`{host}` resolves to a private or local address; the bot does "
                        "not connect to internal networks."
                    ),
                    host=host,
                )
    return addresses


def connect_deadline() -> float:
    """When a connection begun now must be up (TCP and TLS), as time.monotonic()."""
    return time.monotonic() + limits.CONNECT_SECONDS


def time_left(deadline: float, timeout: float | None, host: str = "") -> float:
    """The timeout for the next step of connecting: never past `deadline`."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"connecting to {host or 'the host'} took too long")
    return left if timeout is None else min(timeout, left)


def connect_checked(
    addresses: Sequence[str],
    port: int,
    timeout: float | None,
    host: str = "",
    deadline: float | None = None,
) -> socket.socket:
    """A TCP connection to the first of `addresses` that answers. They are numeric (from
    `check_host`), so no name is looked up again here. All of them together get until
    `deadline` (default: CONNECT_SECONDS from now), each at most `timeout`."""
    error: OSError | None = None
    deadline = connect_deadline() if deadline is None else deadline
    for address in addresses:
        try:
            infos = socket.getaddrinfo(
                address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        except socket.gaierror as exc:  # not numeric: never resolve it here
            error = exc
            continue
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            connect_rate.wait_turn(address, port)  # < 100 new connections/s per server
            sock.settimeout(time_left(deadline, timeout, host))
            sock.connect(sockaddr)
            sock.settimeout(timeout)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"no address to connect to for {host or 'the host'}")


class _PinnedIMAP4(LeanIMAP4, BoundedReads, _imapclient_imap4.IMAP4WithTimeout):
    """Plain IMAP (STARTTLS or none) over a socket to a vetted address. `self.host` stays
    the name, so imaplib's STARTTLS verifies the certificate against the name. Reads are
    bounded (mail/imap_bounded.py); per-connection state is trimmed (mail/imap_lean.py)."""

    def __init__(
        self, addresses: Sequence[str], host: str, port: int, timeout: float | None
    ) -> None:
        self._addresses = list(addresses)
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return connect_checked(
            self._addresses, self.port, timeout if timeout is not None else self._timeout, self.host
        )


class _PinnedIMAP4TLS(LeanIMAP4, BoundedReads, _imapclient_tls.IMAP4_TLS):
    """Implicit TLS over a socket to a vetted address, verified against the host *name*.
    Reads are bounded (mail/imap_bounded.py); per-connection state is trimmed
    (mail/imap_lean.py)."""

    def __init__(
        self,
        addresses: Sequence[str],
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        timeout: float | None,
    ) -> None:
        self._addresses = list(addresses)
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        timeout = timeout if timeout is not None else self._timeout
        deadline = connect_deadline()
        sock = connect_checked(self._addresses, self.port, timeout, self.host, deadline)
        try:
            # The handshake as a whole gets the time left (ssl bounds it by the timeout).
            sock.settimeout(time_left(deadline, timeout, self.host))
            wrapped = _imapclient_tls.wrap_socket(sock, self.ssl_context, self.host)
            wrapped.settimeout(timeout)
            return wrapped
        except BaseException:
            sock.close()
            raise


class PinnedIMAPClient(LeanIMAPClient, IMAPClient):
    """An IMAPClient that connects to addresses `check_host` approved instead of resolving
    `host` again; `host` is still the name TLS and STARTTLS verify the certificate for."""

    def __init__(self, addresses: Sequence[str], host: str, **kwargs) -> None:
        if kwargs.get("stream"):
            raise ValueError("a pinned IMAP connection cannot be a stream")
        self._pinned_addresses = list(addresses)
        super().__init__(host, **kwargs)

    def _create_IMAP4(self):  # imapclient's hook
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _PinnedIMAP4TLS(
                self._pinned_addresses, self.host, self.port, self.ssl_context, connect_timeout
            )
        return _PinnedIMAP4(self._pinned_addresses, self.host, self.port, connect_timeout)


# ---------------------------------------------------------------- errors a user can act on

# OpenSSL X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code).
# 2 UNABLE_TO_GET_ISSUER_CERT, 20 ..._LOCALLY, 21 UNABLE_TO_VERIFY_LEAF_SIGNATURE
_UNTRUSTED_ISSUER = frozenset({2, 20, 21})
_SELF_SIGNED = {
    18: N_("it is self-signed"),  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: N_("its chain ends in a self-signed certificate the bot does not trust"),  # IN_CHAIN
}
_VALIDITY = {
    9: N_("it is not valid yet (check the server's clock)"),  # CERT_NOT_YET_VALID
    10: N_("it has expired"),  # CERT_HAS_EXPIRED
}
_NAME = {
    62: N_("it was issued for a different host name"),  # HOSTNAME_MISMATCH
    64: N_("it was issued for a different IP address"),  # IP_ADDRESS_MISMATCH
}
_TRUST_HINT = N_(
    "Use a certificate from a public certificate authority, or have the bot's operator "
    "trust your own authority through SSL_CERT_FILE."
)


def describe_certificate_error(host: str, exc: ssl.SSLCertVerificationError) -> Msg:
    """Which problem made the certificate of `host` unacceptable, in a user's words."""
    code = getattr(exc, "verify_code", None)
    if code in _SELF_SIGNED:
        return Msg(
            N_("The TLS certificate of `{host}` was refused: {reason}. {hint}"),
            host=host,
            reason=Msg(_SELF_SIGNED[code]),
            hint=Msg(_TRUST_HINT),
        )
    if code in _UNTRUSTED_ISSUER:
        return Msg(
            N_(
                "The TLS certificate of `{host}` was refused: it was issued by an unknown "
                "certificate authority (one the bot does not trust). {hint}"
            ),
            host=host,
            hint=Msg(_TRUST_HINT),
        )
    if code in _VALIDITY:
        return Msg(
            N_("The TLS certificate of `{host}` was refused: {reason}."),
            host=host,
            reason=Msg(_VALIDITY[code]),
        )
    if code in _NAME:
        return Msg(
            N_(
                "The TLS certificate of `{host}` was refused: {reason}, not `{host}`. "
                "Use the host name the certificate was issued for."
            ),
            host=host,
            reason=Msg(_NAME[code]),
        )
    reason = getattr(exc, "verify_message", None) or exc.reason or "verification failed"
    return Msg(
        N_("The TLS certificate of `{host}` was refused: {reason}."), host=host, reason=reason
    )


@contextlib.contextmanager
def translate_errors(host: str, port: int) -> Iterator[None]:
    """Turn socket/TLS exceptions into MailErrors with a sentence a user can act on."""
    try:
        yield
    except MailError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise TLSError(describe_certificate_error(host, exc)) from exc
    except ssl.SSLError as exc:
        raise TLSError(
            N_("The TLS handshake with `{host}:{port}` failed ({reason})."),
            host=host,
            port=port,
            reason=exc.reason,
        ) from exc
    except TimeoutError as exc:
        raise MailTimeoutError(
            N_("`{host}:{port}` did not answer in time."), host=host, port=port
        ) from exc
    except ConnectionRefusedError as exc:
        raise RefusedError(
            N_("`{host}:{port}` refused the connection."), host=host, port=port
        ) from exc
    except socket.gaierror as exc:
        raise DNSError(N_("The host name `{host}` could not be resolved."), host=host) from exc
    except OSError as exc:
        raise ConnectError(
            N_("Could not talk to `{host}:{port}`: {reason}."),
            host=host,
            port=port,
            reason=exc.strerror or exc,
        ) from exc
