"""What the Cyrus and Courier fixtures share: their Debian binaries, a process group's
lifecycle (start, wait until every port greets, stop, restart, cleanup) and IMAP helpers for
a layout where personal folders live under `INBOX.` with `.` as the delimiter.

Debian's cyrus-imapd and courier-imap packages both declare `Conflicts: imap-server`, as does
dovecot-imapd, so they cannot be installed beside Dovecot. CI (.ci/run) installs their
libraries and the conflict-free parts (courier-base, courier-authdaemon, sasl2-bin) with
apt-get, and unpacks the server packages with `dpkg-deb -x` into PACKAGED_ROOT; the binaries
are looked up at their system path first, then under that root.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import imapclient
import pytest

from tests.plugins.dovecot import MailUser
from tests.plugins.dovecot.host import _alive, _descendants, _free_ports, _make_temp_root

PACKAGED_ROOT = Path(os.environ.get("MAILSYNC_TEST_SERVERS_ROOT", "/opt/mailsync-servers/root"))
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_APPENDUID_RE = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
# Folder names without the hierarchy delimiter '.', which Cyrus and Courier use.
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]*$")


class ServerError(RuntimeError):
    """A test server could not be set up, started or driven."""


def packaged(path: str) -> Path | None:
    """`path` (absolute, as in the package) if installed, else under PACKAGED_ROOT, else None."""
    for candidate in (Path(path), PACKAGED_ROOT / path.lstrip("/")):
        if candidate.exists():
            return candidate
    return None


class PackagedServer:
    """A server run as one process group in a temp directory, on four free loopback ports."""

    name = "packaged"
    host = "127.0.0.1"
    install_hint = ""

    def __init__(self) -> None:
        self.is_root = os.geteuid() == 0
        self.root = _make_temp_root(True)
        self.log_path = self.root / "server.log"
        self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port = _free_ports(4)
        self._process: subprocess.Popen[bytes] | None = None
        self._removed = False
        self._users: dict[str, MailUser] = {}
        self.start_seconds: float | None = None
        atexit.register(self._atexit)

    # ------------------------------------------------------------------ to override

    def command(self) -> list[str]:
        """The argv that runs the server in the foreground."""
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.root,
                env=self.environment(),
                start_new_session=True,  # stop() ends the whole group, sessions included
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
        while pending:
            if self._process is None or self._process.poll() is not None:
                raise ServerError(f"{self.name} exited during startup\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{self.name} did not serve {sorted(pending)} within {START_TIMEOUT:.0f} s "
                    f"(last error: {last_error!r})\n{self.log_tail()}"
                )
            for kind, port in list(pending.items()):
                try:
                    self._probe(kind, port)
                except ssl.SSLCertVerificationError as exc:
                    raise ServerError(f"{kind}: certificate does not verify: {exc}") from exc
                except OSError as exc:
                    last_error = exc
                else:
                    del pending[kind]
            if pending:
                time.sleep(0.1)

    def _probe(self, kind: str, port: int) -> None:
        expected = b"* OK" if kind.startswith("imap") else b"+OK"
        with socket.create_connection((self.host, port), timeout=5) as raw:
            sock: socket.socket = raw
            if kind.endswith("s"):
                context = ssl.create_default_context(cafile=self.ca_file)
                sock = context.wrap_socket(raw, server_hostname=self.host)
            greeting = sock.recv(512)
            if not greeting.startswith(expected):
                raise OSError(f"unexpected {kind} greeting {greeting!r}")

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL what is left; wait until the ports are free."""
        process, self._process = self._process, None
        if process is None:
            return
        # Some daemons (couriertcpd) start process groups of their own: end every descendant
        # by pid too, found before the parent's death orphans them.
        children = _descendants(process.pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            for pid, started in children.items():
                if _alive(pid, started):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
            deadline = time.monotonic() + STOP_TIMEOUT
            while any(_alive(pid, started) for pid, started in children.items()):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        deadline = time.monotonic() + STOP_TIMEOUT
        ports = (self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port)
        while any(_listening(self.host, port) for port in ports):
            if time.monotonic() > deadline:
                raise ServerError(f"{self.name}: ports still open after stop")
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            if not self._removed:
                shutil.rmtree(self.root, ignore_errors=True)
                self._removed = True

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self.cleanup()

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n:])

    # ------------------------------------------------------------------ sessions

    def session_pids(self, user: str, protocol: str | None = None) -> list[int]:
        """Pids of the processes serving `user` (`protocol`: "imap" or "pop3")."""
        raise NotImplementedError

    def sessions(self, user: MailUser | str) -> int:
        return len(self.session_pids(_name(user)))

    def imap_sessions(self, user: str) -> int:
        return len(self.session_pids(_name(user), "imap"))

    def kick(self, user: MailUser | str, timeout: float = 10.0) -> None:
        """SIGTERM every process serving `user`; wait until none is left."""
        name = _name(user)
        deadline = time.monotonic() + timeout
        while pids := self.session_pids(name):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            if time.monotonic() > deadline:
                raise ServerError(f"{name} still has sessions {timeout} s after the kick")
            time.sleep(0.05)

    # ------------------------------------------------------------------ IMAP helpers

    def folder(self, name: str) -> str:
        if name.upper() == "INBOX" or name.startswith("INBOX."):
            return name
        return f"INBOX.{name}"

    def imap(self, user: MailUser, timeout: float = 10) -> imapclient.IMAPClient:
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
        with self.imap(user) as client:
            response = client.append(
                self.folder(folder), raw, flags=tuple(flags), msg_time=msg_time
            )
        match = _APPENDUID_RE.search(response)
        if match is None:
            raise ServerError(f"APPEND response carries no APPENDUID: {response!r}")
        return int(match.group(1))

    def create_folder(self, user: MailUser, folder: str) -> None:
        with self.imap(user) as client:
            client.create_folder(self.folder(folder))
            client.subscribe_folder(self.folder(folder))

    def delete_folder(self, user: MailUser, folder: str) -> None:
        with self.imap(user) as client:
            client.delete_folder(self.folder(folder))


def _name(user: MailUser | str) -> str:
    return user if isinstance(user, str) else user.name


def _listening(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def session_server(factory, name: str):
    """A pytest session fixture's body for a packaged server: start it, fail the run with
    one line when it cannot start, clean up at the end."""
    try:
        server = factory()
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start()
    except ServerError as exc:
        server.cleanup()
        pytest.fail(f"could not start {name}: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.cleanup()
