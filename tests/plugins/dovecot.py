"""A throwaway, real Dovecot (IMAP + POP3, with and without TLS) for the test suite.

The `dovecot` fixture starts one Dovecot per test session in a private temp directory, on free
loopback ports, with a self-signed certificate (trusted through `Dovecot.ca_file`), quota and
special-use folders. Users live in one passwd-file per user, which Dovecot reads on lookup,
so `add_user` takes effect at once without a reload.

The `Dovecot` class is plain Python and can also be used outside pytest (benchmarks, scripts).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import grp
import ipaddress
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import imapclient
import pytest

INSTALL_HINT = "apt-get install dovecot-core dovecot-imapd dovecot-pop3d"
DEFAULT_QUOTA_KIB = 1024
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
SPECIAL_FOLDERS = {"Sent": r"\Sent", "Drafts": r"\Drafts", "Trash": r"\Trash", "Junk": r"\Junk"}

_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*(@[A-Za-z0-9][A-Za-z0-9.-]*)?$")
_APPENDUID_RE = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
_user_counter = itertools.count(1)


class DovecotError(RuntimeError):
    """Dovecot is missing, failed to start, or failed to stop."""


@dataclass
class MailUser:
    name: str
    password: str


def _find_binary(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (all held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _make_temp_root(world_traversable: bool) -> Path:
    """mkdtemp, chmod 0755; when Dovecot drops privileges every ancestor must be traversable."""
    path = Path(tempfile.mkdtemp(prefix="dovecot-"))
    # Unix socket paths are limited to ~108 bytes; keep base_dir short.
    too_long = len(str(path)) > 60
    blocked = world_traversable and any(
        not (p.stat().st_mode & 0o001) for p in path.parents if p != Path("/")
    )
    if too_long or blocked:
        path.rmdir()
        path = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
    path.chmod(0o755)
    return path


def _make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for localhost / 127.0.0.1 signed by it.

    Returns (ca_file, cert_file, key_file). The server cert carries subjectAltName
    DNS:localhost and IP:127.0.0.1 because Python's ssl does not fall back to the CN.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mailsync test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    # Dovecot sends the whole file as the chain: leaf first, then the CA.
    cert_file.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    for path in (ca_file, cert_file):
        path.chmod(0o644)
    key_file.chmod(0o600)  # read by the master process, which runs as us
    return ca_file, cert_file, key_file


def _proc_stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces.
    return stat[stat.rfind(")") + 2 :].split()


def _descendants(pid: int) -> dict[int, str]:
    """All descendant processes of `pid`, as {pid: start time} (Linux /proc)."""
    if not Path("/proc").is_dir():
        return {}
    tree: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _proc_stat(entry)) is not None:
            tree.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child, started in tree.get(todo.pop(), []):
            if child not in found:
                found[child] = started
                todo.append(child)
    return found


def _alive(pid: int, started: str) -> bool:
    """True if that very process (same pid and start time) still runs."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] != "Z" and fields[19] == started


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child
    """Make Dovecot shut down if the test process dies without stopping it (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class Dovecot:
    """A private Dovecot instance: IMAP/IMAPS/POP3/POP3S on loopback, users in passwd-files."""

    host: str = "127.0.0.1"

    def __init__(self, root: Path | None = None) -> None:
        self.dovecot_bin = _find_binary("dovecot", "/usr/sbin/dovecot")
        self.doveadm_bin = _find_binary("doveadm", "/usr/bin/doveadm", "/usr/sbin/doveadm")
        if self.dovecot_bin is None or self.doveadm_bin is None:
            raise DovecotError(
                "Dovecot is not installed (no `dovecot`/`doveadm` on PATH or in /usr/sbin); "
                f"the mail tests need a real server. Install it with: {INSTALL_HINT}"
            )

        self.is_root = os.geteuid() == 0
        if self.is_root:
            try:
                internal = pwd.getpwnam("dovecot")
                login = pwd.getpwnam("dovenull")
            except KeyError as exc:
                raise DovecotError(
                    f"running as root needs the system users dovecot and dovenull ({exc}); "
                    f"they come with the package: {INSTALL_HINT}"
                ) from exc
            self.login_user, self.internal_user = login.pw_name, internal.pw_name
            self.mail_uid, self.mail_gid = internal.pw_uid, internal.pw_gid
        else:
            # Unprivileged: every Dovecot process runs as us, and sockets belong to our group.
            me = pwd.getpwuid(os.getuid())
            self.login_user = self.internal_user = me.pw_name
            self.mail_uid, self.mail_gid = me.pw_uid, os.getgid()
        self.internal_group = grp.getgrgid(self.mail_gid).gr_name

        self.root = root if root is not None else _make_temp_root(self.is_root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.run_dir = self.root / "run"
        self.state_dir = self.root / "state"
        self.users_dir = self.root / "users"
        self.home_dir = self.root / "home"
        self.log_path = self.root / "dovecot.log"
        self.stderr_path = self.root / "dovecot.stderr"
        self.config_path = self.root / "dovecot.conf"
        for directory in (self.run_dir, self.state_dir, self.users_dir, self.home_dir):
            directory.mkdir(exist_ok=True)
            directory.chmod(0o755)

        self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port = _free_ports(4)
        ca_file, self.cert_file, self.key_file = _make_certificates(self.root)
        self.ca_file = str(ca_file)
        self.config_path.write_text(self._config())
        self.config_path.chmod(0o644)

        self._process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # how long the last start() took
        self._users: dict[str, MailUser] = {}
        self._removed = False
        atexit.register(self._atexit)

    # ------------------------------------------------------------------ configuration

    def _config(self) -> str:
        users = self.users_dir / "%u"
        folders = "\n".join(
            f"  mailbox {name} {{\n    special_use = {use}\n    auto = subscribe\n  }}"
            for name, use in SPECIAL_FOLDERS.items()
        )
        return f"""\
# Generated by tests/plugins/dovecot.py; throwaway test instance.
instance_name = mailsync-test-{self.root.name}
base_dir = {self.run_dir}
state_dir = {self.state_dir}
log_path = {self.log_path}
protocols = imap pop3
listen = {self.host}

default_login_user = {self.login_user}
default_internal_user = {self.internal_user}
default_internal_group = {self.internal_group}
first_valid_uid = {self.mail_uid}
last_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
last_valid_gid = {self.mail_gid}

ssl = yes
ssl_cert = <{self.cert_file}
ssl_key = <{self.key_file}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
  default_fields = uid={self.mail_uid} gid={self.mail_gid}
}}

mail_location = maildir:~/Maildir
mail_plugins = quota
mail_max_userip_connections = 2000
pop3_uidl_format = %08Xu%08Xv

namespace inbox {{
  inbox = yes
  separator = /
{folders}
}}

protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}

plugin {{
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage={DEFAULT_QUOTA_KIB}K
}}

default_process_limit = 2100
default_client_limit = 10000

service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
  chroot =
  service_count = 0
  process_min_avail = 2
  process_limit = 8
  client_limit = 2000
}}

service pop3-login {{
  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = {self.pop3s_port}
    ssl = yes
  }}
  chroot =
  service_count = 0
  process_min_avail = 1
  process_limit = 8
  client_limit = 2000
}}

service imap {{
  process_limit = 2100
}}

service pop3 {{
  process_limit = 2100
}}

service auth {{
  client_limit = 10000
}}

service auth-worker {{
  user = $default_internal_user
}}

service anvil {{
  chroot =
  client_limit = 10000
  # No per-IP auth penalty: otherwise one wrong-password test delays every later login
  # from 127.0.0.1 by 2-15 s. The auth process cannot connect to a mode-0 socket and
  # then skips the penalty.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

service stats {{
  client_limit = 10000
}}
"""

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start Dovecot (same config, ports and data as before) and wait until it serves."""
        if self.running:
            return
        started = time.monotonic()
        in_main_thread = (
            sys.platform == "linux" and threading.current_thread() is threading.main_thread()
        )
        with self.stderr_path.open("ab") as stderr:
            self._process = subprocess.Popen(
                [self.dovecot_bin, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=self.root,
                # Only from the main thread: the death signal fires when the *thread* that
                # started Dovecot ends, e.g. an asyncio.to_thread worker.
                preexec_fn=_set_parent_death_signal if in_main_thread else None,
            )
        try:
            self._wait_until_serving(started + START_TIMEOUT)
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def _wait_until_serving(self, deadline: float) -> None:
        pending = {
            "imap": self.imap_port,
            "imaps": self.imaps_port,
            "pop3": self.pop3_port,
            "pop3s": self.pop3s_port,
        }
        last_error: Exception | None = None
        process = self._process
        if process is None:
            raise DovecotError("dovecot is not running")
        while pending:
            if process.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with status {process.returncode} during startup\n"
                    + self._diagnostics()
                )
            if time.monotonic() > deadline:
                raise DovecotError(
                    f"dovecot did not serve {sorted(pending)} within {START_TIMEOUT:.0f} s "
                    f"(last error: {last_error!r})\n" + self._diagnostics()
                )
            for name, port in list(pending.items()):
                try:
                    self._probe(name, port)
                except ssl.SSLCertVerificationError as exc:
                    raise DovecotError(
                        f"{name} certificate does not verify against {self.ca_file}: {exc}"
                    ) from exc
                except OSError as exc:  # includes ssl.SSLError: not ready yet
                    last_error = exc
                else:
                    del pending[name]
            if pending:
                time.sleep(0.05)

    def _probe(self, name: str, port: int) -> None:
        """Connect and read the greeting (over TLS for the implicit-TLS ports)."""
        expected = b"* OK" if name.startswith("imap") else b"+OK"
        with socket.create_connection((self.host, port), timeout=2) as raw:
            sock: socket.socket = raw
            if name.endswith("s"):
                context = ssl.create_default_context(cafile=self.ca_file)
                sock = context.wrap_socket(raw, server_hostname=self.host)
            greeting = sock.recv(512)
            if not greeting.startswith(expected):
                raise OSError(f"unexpected {name} greeting {greeting!r}")

    def stop(self) -> None:
        """Stop Dovecot with `doveadm stop` and make sure all of its processes are gone."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is not None:
            return
        children = _descendants(process.pid)
        # doveadm polls until the master pid is gone; since the master is our child it stays
        # a zombie until we reap it, so reap it while doveadm waits.
        stopper = subprocess.Popen(
            [self.doveadm_bin, "-c", str(self.config_path), "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        try:
            stopper.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            stopper.kill()
            stopper.wait()
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if not any(_alive(pid, started) for pid, started in children.items()):
                break
            time.sleep(0.05)
        else:
            for pid, started in children.items():
                if _alive(pid, started):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
        self._wait_ports_closed(deadline)

    def _wait_ports_closed(self, deadline: float) -> None:
        ports = [self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port]
        while time.monotonic() < deadline:
            open_ports = []
            for port in ports:
                with socket.socket() as s:
                    s.settimeout(0.5)
                    if s.connect_ex((self.host, port)) == 0:
                        open_ports.append(port)
            if not open_ports:
                return
            time.sleep(0.05)
        raise DovecotError(f"dovecot ports still open after stop\n{self._diagnostics()}")

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        """Stop and delete the temp directory."""
        try:
            self.stop()
        finally:
            if not self._removed:
                shutil.rmtree(self.root, ignore_errors=True)
                self._removed = True

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self.cleanup()

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    # ------------------------------------------------------------------ diagnostics

    def log_tail(self, n: int = 50) -> str:
        """The last `n` lines of the Dovecot log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n:])

    def _diagnostics(self) -> str:
        try:
            stderr = self.stderr_path.read_text(errors="replace").strip()
        except FileNotFoundError:
            stderr = ""
        return (
            f"config: {self.config_path}\n"
            f"--- dovecot stderr ---\n{stderr}\n"
            f"--- tail of {self.log_path} ---\n{self.log_tail(40)}"
        )

    # ------------------------------------------------------------------ users

    def _write_user(self, user: MailUser, quota_kib: int | None) -> None:
        home = self.home_dir / user.name
        home.mkdir(exist_ok=True)
        if self.is_root:
            os.chown(home, self.mail_uid, self.mail_gid)
        extra = ""
        if quota_kib is not None:
            amount = f"{quota_kib // 1024}M" if quota_kib % 1024 == 0 else f"{quota_kib}K"
            extra = f"userdb_quota_rule=*:storage={amount}"
        line = (
            f"{user.name}:{{PLAIN}}{user.password}:{self.mail_uid}:{self.mail_gid}::{home}::"
            f"{extra}\n"
        )
        path = self.users_dir / user.name
        tmp = path.with_name(f".{user.name}.tmp")
        tmp.write_text(line)
        tmp.chmod(0o644)
        previous = path.stat().st_mtime if path.exists() else None
        os.replace(tmp, path)
        if previous is not None:
            # Dovecot re-reads a passwd-file when its mtime or size changes.
            stamp = max(time.time(), previous + 1)
            os.utime(path, (stamp, stamp))

    def add_user(
        self,
        name: str | None = None,
        password: str | None = None,
        quota_kib: int | None = None,
    ) -> MailUser:
        """Create a mail user (unique name and random password by default).

        `quota_kib` overrides the default storage quota of 1 MiB (a multiple of 1024 is
        written as MiB). Takes effect immediately; no reload needed.
        """
        if name is None:
            name = f"user{next(_user_counter)}-{secrets.token_hex(3)}"
        if not _USERNAME_RE.match(name):
            raise ValueError(f"unsupported mail user name {name!r}")
        if name in self._users or (self.users_dir / name).exists():
            raise ValueError(f"mail user {name!r} already exists")
        if password is None:
            password = secrets.token_urlsafe(12)
        if any(c in password for c in ":\n\r\t"):
            raise ValueError("passwords must not contain ':' or control characters")
        user = MailUser(name, password)
        self._write_user(user, quota_kib)
        self._users[name] = user
        return user

    def set_password(self, user: MailUser, password: str, quota_kib: int | None = None) -> None:
        """Change a user's password (and quota override) and wait until Dovecot uses it.

        Updates `user.password` in place.
        """
        if any(c in password for c in ":\n\r\t"):
            raise ValueError("passwords must not contain ':' or control characters")
        user.password = password
        self._write_user(user, quota_kib)
        # Dovecot stats a passwd-file at most once per second; wait until the change is seen.
        deadline = time.monotonic() + 5
        while True:
            try:
                client = self.imap(user)
            except imapclient.exceptions.LoginError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
            else:
                client.logout()
                return

    # ------------------------------------------------------------------ IMAP helpers

    def imap(self, user: MailUser, timeout: float = 10) -> imapclient.IMAPClient:
        """A logged-in IMAPClient over plain IMAP on loopback; the caller logs out.

        Usable as a context manager: `with dovecot.imap(user) as client: ...`.
        """
        client = imapclient.IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=timeout)
        try:
            client.login(user.name, user.password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(
        self,
        user: MailUser,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[bytes | str] = (),
        msg_time: dt.datetime | None = None,
    ) -> int:
        """IMAP APPEND `raw` to `folder`; returns the new message's UID (from APPENDUID)."""
        with self.imap(user) as client:
            response = client.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        match = _APPENDUID_RE.search(response)
        if match is None:
            raise DovecotError(f"APPEND response carries no APPENDUID: {response!r}")
        return int(match.group(1))

    def create_folder(self, user: MailUser, folder: str) -> None:
        with self.imap(user) as client:
            client.create_folder(folder)
            client.subscribe_folder(folder)

    def delete_folder(self, user: MailUser, folder: str) -> None:
        with self.imap(user) as client:
            client.delete_folder(folder)


def make_message(
    subject: str = "Test message",
    sender: str = "a@example.com",
    to: str = "b@example.com",
    body: str = "Hello from the test suite.\n",
    size: int | None = None,
    date: dt.datetime | str | None = None,
    message_id: str | None = None,
) -> bytes:
    """An RFC 5322 message with CRLF line endings.

    `size` pads the body with plain ASCII lines so the whole message is that many bytes
    (within a byte for ASCII bodies; approximate if the body needs quoted-printable/base64;
    never shrinks a message that is already larger). `date` may be a datetime or a ready
    header string; `message_id` defaults to a fresh `<...@example.com>`.
    """
    if date is None:
        date = dt.datetime.now(dt.UTC)
    date_header = date if isinstance(date, str) else format_datetime(date)
    message_id = message_id or make_msgid(domain="example.com")

    def build(text: str) -> bytes:
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = date_header
        msg["Message-ID"] = message_id
        msg.set_content(text)
        return msg.as_bytes()

    raw = build(body)
    if size is None or size <= len(raw):
        return raw

    # Pad with lines of at most 76 chars (so the body stays 7bit) and then fix the rest.
    if not body.endswith("\n"):
        body += "\n"
    deficit = size - len(raw)
    line = "x" * 74 + "\n"  # 76 bytes on the wire with CRLF
    padding = line * (deficit // 76)
    rest = deficit % 76
    if rest >= 2:
        padding += "y" * (rest - 2) + "\n"
    return build(body + padding)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot for the whole session (IMAP, IMAPS, POP3, POP3S on loopback)."""
    problem = None
    try:
        server = Dovecot()
    except DovecotError as exc:
        problem = str(exc)
    else:
        try:
            server.start()
        except DovecotError as exc:
            server.cleanup()
            problem = f"could not start Dovecot: {exc}"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    """A fresh mail user with a random password and the default 1 MiB quota."""
    return dovecot.add_user()


@pytest.fixture
def dovecot_ssl_env(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point SSL_CERT_FILE at the test CA so default SSL contexts trust Dovecot."""
    monkeypatch.setenv("SSL_CERT_FILE", dovecot.ca_file)
    return dovecot.ca_file
