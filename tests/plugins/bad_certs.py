"""Certificates that must be refused, and tiny scripted IMAP/POP3 servers to present them.

`make_cert_set(directory)` writes a test CA (to trust through SSL_CERT_FILE) and server
certificates for 127.0.0.1/localhost that are expired, not yet valid, issued for another
host name, self-signed, or good. `ScriptedServer` is a thread on a free loopback port that
speaks just enough IMAP or POP3 (greeting, CAPABILITY/CAPA, STARTTLS/STLS, LOGIN/USER/PASS,
LOGOUT/QUIT) for connection-policy tests, and records every command line it received.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CertPair:
    cert: Path  # PEM chain: leaf first, then its issuer when there is one
    key: Path


@dataclass(frozen=True)
class CertSet:
    ca_file: Path  # the authority the client is told to trust
    good: CertPair
    expired: CertPair
    not_yet_valid: CertPair
    wrong_host: CertPair  # valid, from the trusted CA, but for wrong.example.org
    self_signed: CertPair  # for localhost, signed by itself, trusted by nobody
    unknown_issuer: CertPair  # for localhost, from an unknown CA, sent without that CA
    untrusted_root: CertPair  # the same, with the untrusted (self-signed) root in the chain


def make_cert_set(directory: Path) -> CertSet:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    pem = serialization.Encoding.PEM

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def authority(label: str):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(label))
            .issuer_name(name(label))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return key, cert

    def leaf(
        label: str,
        issuer,  # (key, cert) or None for self-signed
        dns: str = "localhost",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        send_issuer: bool = True,
    ) -> CertPair:
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = [x509.DNSName(dns)]
        if dns == "localhost":
            sans.append(x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")))
        issuer_key, issuer_name = (
            (key, name(dns)) if issuer is None else (issuer[0], issuer[1].subject)
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(dns))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(days=1))
            .not_valid_after(not_after or now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
        chain = cert.public_bytes(pem)
        if issuer is not None and send_issuer:
            chain += issuer[1].public_bytes(pem)
        pair = CertPair(directory / f"{label}.pem", directory / f"{label}.key")
        pair.cert.write_bytes(chain)
        pair.key.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return pair

    directory.mkdir(parents=True, exist_ok=True)
    ca = authority("Mailsync bad-certs test CA")
    other_ca = authority("An authority nobody trusts")
    ca_file = directory / "trusted-ca.pem"
    ca_file.write_bytes(ca[1].public_bytes(pem))
    return CertSet(
        ca_file=ca_file,
        good=leaf("good", ca),
        expired=leaf(
            "expired",
            ca,
            not_before=now - dt.timedelta(days=30),
            not_after=now - dt.timedelta(days=1),
        ),
        not_yet_valid=leaf(
            "not-yet-valid",
            ca,
            not_before=now + dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=30),
        ),
        wrong_host=leaf("wrong-host", ca, dns="wrong.example.org"),
        self_signed=leaf("self-signed", None),
        unknown_issuer=leaf("unknown-issuer", other_ca, send_issuer=False),
        untrusted_root=leaf("untrusted-root", other_ca),
    )


def server_context(pair: CertPair) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    return context


@dataclass
class ScriptedServer:
    """A one-thread-per-connection IMAP or POP3 server on 127.0.0.1 for policy tests.

    `implicit_tls`: wrap each connection at once (IMAPS/POP3S). `offer_starttls`: list
    STARTTLS/STLS in the capabilities. `starttls_ok`: accept it (needs `tls`) or refuse.
    `caps_before`/`caps_after_tls`/`caps_after_login`: extra capability names per phase.
    `lines` records every command line received, in order, from all connections.
    """

    protocol: str = "imap"
    tls: ssl.SSLContext | None = None
    implicit_tls: bool = False
    offer_starttls: bool = False
    starttls_ok: bool = True
    caps_before: tuple[str, ...] = ()
    caps_after_tls: tuple[str, ...] = ()
    caps_after_login: tuple[str, ...] = ()
    lines: list[str] = field(default_factory=list)
    handshake_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def verbs(self) -> list[str]:
        """The command names received (IMAP tags stripped), upper case."""
        out = []
        for line in self.lines:
            parts = line.split()
            if self.protocol == "imap":
                parts = parts[1:]
            out.append(parts[0].upper() if parts else "")
        return out

    def __enter__(self) -> ScriptedServer:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with contextlib.suppress(OSError, ssl.SSLError, ValueError):
            if self.implicit_tls:
                try:
                    conn = self._wrap(conn)
                except (OSError, ssl.SSLError) as exc:
                    self.handshake_errors.append(str(exc))
                    conn.close()
                    return
            if self.protocol == "imap":
                self._imap(conn)
            else:
                self._pop3(conn)

    def _wrap(self, conn: socket.socket) -> ssl.SSLSocket:
        assert self.tls is not None, "this server has no certificate"
        return self.tls.wrap_socket(conn, server_side=True)

    def _caps(self, tls_done: bool, logged_in: bool) -> list[str]:
        if logged_in:
            return list(self.caps_after_login)
        if tls_done:
            return list(self.caps_after_tls)
        return list(self.caps_before) + (["STARTTLS"] if self.offer_starttls else [])

    def _imap(self, conn: socket.socket) -> None:
        box = [conn]
        try:
            self._imap_session(box)
        finally:
            box[0].close()

    def _pop3(self, conn: socket.socket) -> None:
        box = [conn]
        try:
            self._pop3_session(box)
        finally:
            box[0].close()

    def _imap_session(self, box: list[socket.socket]) -> None:
        conn = box[0]
        reader = conn.makefile("rb")
        tls_done = self.implicit_tls
        logged_in = False
        conn.sendall(b"* OK IMAP4rev1 ready\r\n")
        while not self._stop.is_set():
            raw = reader.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.lines.append(line)
            tag, _, rest = line.partition(" ")
            verb = rest.split(" ", 1)[0].upper()
            if verb == "CAPABILITY":
                caps = " ".join(["IMAP4rev1", *self._caps(tls_done, logged_in)])
                conn.sendall(f"* CAPABILITY {caps}\r\n{tag} OK done\r\n".encode())
            elif verb == "STARTTLS" and self.offer_starttls and not tls_done:
                if not self.starttls_ok:
                    conn.sendall(f"{tag} NO not now\r\n".encode())
                    continue
                conn.sendall(f"{tag} OK begin TLS\r\n".encode())
                try:
                    conn = box[0] = self._wrap(conn)
                except (OSError, ssl.SSLError) as exc:
                    self.handshake_errors.append(str(exc))
                    return
                reader = conn.makefile("rb")
                tls_done = True
            elif verb in ("LOGIN", "AUTHENTICATE"):
                logged_in = True
                conn.sendall(f"{tag} OK logged in\r\n".encode())
            elif verb == "LOGOUT":
                conn.sendall(f"* BYE bye\r\n{tag} OK done\r\n".encode())
                return
            elif verb == "NOOP":
                conn.sendall(f"{tag} OK done\r\n".encode())
            else:
                conn.sendall(f"{tag} BAD unknown\r\n".encode())

    def _pop3_session(self, box: list[socket.socket]) -> None:
        conn = box[0]
        reader = conn.makefile("rb")
        tls_done = self.implicit_tls
        logged_in = False
        conn.sendall(b"+OK POP3 ready\r\n")
        while not self._stop.is_set():
            raw = reader.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.lines.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb == "CAPA":
                caps = [
                    "USER",
                    "UIDL",
                    *(c.replace("STARTTLS", "STLS") for c in self._caps(tls_done, logged_in)),
                ]
                conn.sendall(("+OK\r\n" + "".join(f"{c}\r\n" for c in caps) + ".\r\n").encode())
            elif verb == "STLS" and self.offer_starttls and not tls_done:
                if not self.starttls_ok:
                    conn.sendall(b"-ERR not now\r\n")
                    continue
                conn.sendall(b"+OK begin TLS\r\n")
                try:
                    conn = box[0] = self._wrap(conn)
                except (OSError, ssl.SSLError) as exc:
                    self.handshake_errors.append(str(exc))
                    return
                reader = conn.makefile("rb")
                tls_done = True
            elif verb == "USER":
                conn.sendall(b"+OK\r\n")
            elif verb == "PASS":
                logged_in = True
                conn.sendall(b"+OK logged in\r\n")
            elif verb == "STAT":
                conn.sendall(b"+OK 0 0\r\n")
            elif verb == "UIDL":
                conn.sendall(b"+OK\r\n.\r\n")
            elif verb == "QUIT":
                conn.sendall(b"+OK bye\r\n")
                return
            else:
                conn.sendall(b"-ERR unknown\r\n")
