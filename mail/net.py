"""Network policy shared by IMAP and POP3: one verifying TLS context, the private-host
guard, and the translation of socket/TLS failures into user-facing MailErrors."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator

from mail.errors import (
    ConnectError,
    DNSError,
    MailError,
    MailTimeoutError,
    PrivateHostError,
    RefusedError,
    TLSError,
)

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


def is_private_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DNSError(f"The host name `{host}` could not be resolved.") from exc
    return sorted({info[4][0] for info in infos})


def check_host(host: str, port: int, allow_private: bool) -> list[str]:
    """Resolve `host` and refuse it when any address is internal (SPEC §5)."""
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            if is_private_address(address):
                raise PrivateHostError(
                    f"`{host}` resolves to a private or local address; "
                    "the bot does not connect to internal networks."
                )
    return addresses


@contextlib.contextmanager
def translate_errors(host: str, port: int) -> Iterator[None]:
    """Turn socket/TLS exceptions into MailErrors with a sentence a user can act on."""
    try:
        yield
    except MailError:
        raise
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or exc.reason or "verification failed"
        raise TLSError(f"The TLS certificate of `{host}` was refused: {reason}.") from exc
    except ssl.SSLError as exc:
        raise TLSError(f"The TLS handshake with `{host}:{port}` failed ({exc.reason}).") from exc
    except TimeoutError as exc:
        raise MailTimeoutError(f"`{host}:{port}` did not answer in time.") from exc
    except ConnectionRefusedError as exc:
        raise RefusedError(f"`{host}:{port}` refused the connection.") from exc
    except socket.gaierror as exc:
        raise DNSError(f"The host name `{host}` could not be resolved.") from exc
    except OSError as exc:
        raise ConnectError(f"Could not talk to `{host}:{port}`: {exc.strerror or exc}.") from exc
