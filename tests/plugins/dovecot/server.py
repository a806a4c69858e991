"""`Dovecot`: a private instance's directories, ports and lifecycle (start, stop, restart,
cleanup) and diagnostics."""

from __future__ import annotations

import atexit
import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

from .accounts import AccountsMixin, MailUser
from .certs import _make_certificates
from .config import render_config, render_oauth2_args
from .errors import DovecotError
from .host import _alive, _descendants, _free_ports, _make_temp_root, _set_parent_death_signal
from .layouts import Layout

INSTALL_HINT = "apt-get install dovecot-core dovecot-imapd dovecot-pop3d"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class Dovecot(AccountsMixin):
    """A private Dovecot instance: IMAP/IMAPS/POP3/POP3S on loopback, users in passwd-files.

    With ``introspection_url`` (an identity provider's token introspection endpoint, such as
    the IdP double's) users may also log in with XOAUTH2 / OAUTHBEARER bearer tokens, which
    Dovecot checks there at every login; without it only passwords are offered.
    """

    host: str = "127.0.0.1"
    # The common interface of tests/plugins/mailserver.py: its name and what it offers.
    name = "dovecot"
    features = frozenset(
        {"pop3", "quota", "special_use", "status_size", "move", "condstore", "oauth", "restart"}
    )

    def __init__(
        self,
        root: Path | None = None,
        *,
        introspection_url: str | None = None,
        layout: Layout | None = None,
        tls_from: Dovecot | None = None,
        relay_port: int | None = None,
    ) -> None:
        """`layout` makes it look like a provider (layouts.py); `tls_from` reuses another
        instance's certificate, so one SSL_CERT_FILE trusts both; `relay_port`: SMTP
        submission, relaying to an SMTP sink there."""
        self.layout = layout
        # Looked up on the package, where tests patch it to fake a missing install.
        from . import _find_binary

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
        self.oauth2_config_path = self.root / "dovecot-oauth2.conf.ext"
        self.introspection_url = introspection_url
        for directory in (self.run_dir, self.state_dir, self.users_dir, self.home_dir):
            directory.mkdir(exist_ok=True)
            directory.chmod(0o755)

        self.imap_port, self.imaps_port, self.pop3_port, self.pop3s_port = _free_ports(4)
        # SMTP submission, relaying to an SMTP sink on relay_port (only when given one).
        self.relay_port = relay_port
        self.submission_port, self.submissions_port = _free_ports(2) if relay_port else (0, 0)
        if tls_from is not None:
            self.ca_file, self.cert_file, self.key_file = (
                tls_from.ca_file,
                tls_from.cert_file,
                tls_from.key_file,
            )
        else:
            ca_file, self.cert_file, self.key_file = _make_certificates(self.root)
            self.ca_file = str(ca_file)
        self.config_path.write_text(render_config(self))
        self.config_path.chmod(0o644)
        if introspection_url is not None:
            self.oauth2_config_path.write_text(render_oauth2_args(introspection_url))
            self.oauth2_config_path.chmod(0o644)

        self._process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # how long the last start() took
        self._users: dict[str, MailUser] = {}
        self._removed = False
        atexit.register(self._atexit)

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
                # Its own process group: stop() can then reap every Dovecot process,
                # including login processes that outlive the master with client sockets.
                start_new_session=True,
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
        # Processes forked after the snapshot (a login for a client reconnecting mid-stop)
        # are not in `children`; the process group holds them all.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self._wait_ports_closed(time.monotonic() + STOP_TIMEOUT)

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

    def _who(self, *mask: str) -> list[tuple[str, str]]:
        """(user, protocol) of every connection `doveadm who` lists (of `mask`'s user)."""
        done = subprocess.run(
            [self.doveadm_bin, "-c", str(self.config_path), "who", "-1", *mask],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        rows = [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]
        return [(row[0], row[1]) for row in rows if len(row) >= 2]

    def imap_sessions_total(self) -> int:
        """How many IMAP connections every user holds right now."""
        return sum(1 for _user, proto in self._who() if proto == "imap")

    def imap_sessions(self, user: str) -> int:
        """How many IMAP connections `user` holds right now."""
        return sum(1 for name, proto in self._who(user) if name == user and proto == "imap")

    def sessions(self, user: MailUser | str) -> int:
        """How many IMAP and POP3 connections `user` holds right now."""
        name = user if isinstance(user, str) else user.name
        return sum(1 for who, _proto in self._who(name) if who == name)

    def kick(self, user: MailUser | str, timeout: float = 10.0) -> None:
        """End every IMAP and POP3 session of `user` (`doveadm kick`) and wait until they are
        gone, so the client's next step is a new login. Dovecot never re-checks the
        credentials (or the OAuth token) of an open or IDLE session."""
        name = user if isinstance(user, str) else user.name
        subprocess.run(
            [self.doveadm_bin, "-c", str(self.config_path), "kick", name],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,  # exits non-zero when the user had no session
        )
        deadline = time.monotonic() + timeout
        while self.sessions(name):
            if time.monotonic() > deadline:
                raise DovecotError(f"{name} still has sessions {timeout} s after doveadm kick")
            time.sleep(0.05)

    def folder(self, name: str) -> str:
        """A personal folder's full name: folders are top-level here ("Sent")."""
        return name

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
