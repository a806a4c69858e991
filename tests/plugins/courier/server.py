"""`Courier`: a private Courier-IMAP and Courier POP3 (couriertcpd, couriertls, authdaemond
with a userdb of its own) in a mount namespace that gives it its own /etc/courier and
/run/courier."""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import subprocess
from pathlib import Path

from tests.plugins.dovecot import MailUser
from tests.plugins.dovecot.certs import _make_certificates
from tests.plugins.dovecot.host import _descendants
from tests.plugins.packaged import PACKAGED_ROOT, USERNAME_RE, PackagedServer, ServerError, packaged

from .config import (
    ACTION_FOLDERS,
    FOLDERS,
    render_authdaemonrc,
    render_environment,
    render_start_script,
)

INSTALL_HINT = (
    "the Courier fixture needs Debian's courier-base and courier-authdaemon (apt-get) and "
    f"courier-imap and courier-pop (unpacked under {PACKAGED_ROOT} by .ci/run, since they "
    "conflict with Dovecot), gamin for IDLE, and util-linux's unshare"
)
DEFAULT_QUOTA_KIB = 1024

_BINARIES = {
    "couriertcpd": "/usr/sbin/couriertcpd",
    "couriertls": "/usr/bin/couriertls",
    "authdaemond": "/usr/lib/courier/courier-authlib/authdaemond",
    "makeuserdb": "/usr/sbin/makeuserdb",
    "maildirmake": "/usr/bin/maildirmake.courier",
    "imaplogin": "/usr/lib/courier/courier/imaplogin",
    "imapd": "/usr/bin/imapd",
    "pop3login": "/usr/lib/courier/courier/courierpop3login",
    "pop3d": "/usr/lib/courier/courier/courierpop3d",
    "unshare": "/usr/bin/unshare",
}


class Courier(PackagedServer):
    """Courier IMAP and POP3 (plain and implicit TLS) on loopback, in a temp directory."""

    name = "courier"
    features = frozenset({"pop3", "quota", "restart"})

    def __init__(self) -> None:
        found = {key: packaged(path) for key, path in _BINARIES.items()}
        missing = [_BINARIES[key] for key, path in found.items() if path is None]
        if missing or not Path("/etc/courier").is_dir() or not Path("/run/courier").is_dir():
            raise ServerError(f"Courier is not installed (missing {missing}): {INSTALL_HINT}")
        if os.geteuid() != 0:
            # Its own /etc/courier needs a mount namespace; without root only a user
            # namespace gives one, where Courier's login fails on setgroups(2) (EPERM).
            raise ServerError("the Courier fixture runs as root only (CI and this rig do)")
        super().__init__()
        for key, path in found.items():
            setattr(self, key, path)
        account = pwd.getpwnam("courier")  # mail processes run as the package's user
        self.mail_uid, self.mail_gid = account.pw_uid, account.pw_gid
        self.etc_dir = self.root / "etc"
        self.run_dir = self.root / "run"
        self.home_dir = self.root / "home"
        for directory in (self.etc_dir, self.run_dir / "authdaemon", self.home_dir):
            directory.mkdir(parents=True, exist_ok=True)
        ca_file, self.cert_file, self.key_file = _make_certificates(self.root)
        self.ca_file = str(ca_file)
        self.pem_file = self.etc_dir / "server.pem"  # couriertls wants key and chain in one
        self.pem_file.write_bytes(
            Path(self.key_file).read_bytes() + Path(self.cert_file).read_bytes()
        )
        self.pem_file.chmod(0o600)
        # imaplogin reads it for STARTTLS after dropping to the courier user
        os.chown(self.pem_file, self.mail_uid, self.mail_gid)
        (self.etc_dir / "authdaemonrc").write_text(render_authdaemonrc())
        self.userdb_path = self.etc_dir / "userdb"
        self.userdb_path.write_text("")
        self.userdb_path.chmod(0o600)  # makeuserdb refuses a userdb others can read
        self._make_userdb()
        self.env_path = self.root / "courier.env"
        self.env_path.write_text(render_environment(self))
        self.script_path = self.root / "start.sh"
        self.script_path.write_text(render_start_script(self))

    def command(self) -> list[str]:
        return [
            str(self.unshare),
            "--mount",
            "--propagation",
            "private",
            "sh",
            str(self.script_path),
        ]

    def environment(self) -> dict[str, str]:
        # Courier's start scripts run it with `env -i`; keep PATH for gam_server and makedat.
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}

    # ------------------------------------------------------------------ users

    def _make_userdb(self) -> None:
        done = subprocess.run(
            [str(self.makeuserdb), "-f", str(self.userdb_path)],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise ServerError(f"makeuserdb: {done.stderr.decode(errors='replace')}")

    def add_user(
        self,
        name: str | None = None,
        password: str | None = None,
        quota_kib: int | None = None,
        special_folders: bool = True,
    ) -> MailUser:
        """A user in the userdb with a Maildir++ (INBOX and the usual folders) and a quota."""
        if name is None:
            name = f"user{len(self._users) + 1}-{secrets.token_hex(3)}"
        if not USERNAME_RE.match(name):
            raise ValueError(f"unsupported mail user name {name!r}")
        if name in self._users:
            raise ValueError(f"mail user {name!r} already exists")
        password = password if password is not None else secrets.token_urlsafe(12)
        home = self.home_dir / name
        maildir = home / "Maildir"
        home.mkdir()
        limit = DEFAULT_QUOTA_KIB if quota_kib is None else quota_kib
        self._run(self.maildirmake, "-q", f"{limit * 1024}S", str(maildir))
        for folder in FOLDERS:
            if special_folders or folder not in ACTION_FOLDERS:
                self._run(self.maildirmake, "-f", folder, str(maildir))
        (maildir / "courierimapsubscribed").write_text(
            "".join(f"INBOX.{f}\n" for f in FOLDERS if special_folders or f not in ACTION_FOLDERS)
        )
        for path in [home, *home.rglob("*")]:
            os.chown(path, self.mail_uid, self.mail_gid)
        digest = base64.b64encode(hashlib.sha256(password.encode()).digest()).decode()
        fields = (
            f"uid={self.mail_uid}|gid={self.mail_gid}|home={home}|mail={maildir}|"
            f"systempw={{SHA256}}{digest}|quota={limit * 1024}S"
        )
        with self.userdb_path.open("a") as userdb:
            userdb.write(f"{name}\t{fields}\n")
        self._make_userdb()
        user = MailUser(name, password, special_folders)
        self._users[name] = user
        return user

    def _run(self, *argv: object) -> None:
        done = subprocess.run([str(a) for a in argv], capture_output=True, timeout=30, check=False)
        if done.returncode != 0:
            raise ServerError(f"{argv[0]}: {done.stderr.decode(errors='replace')}")

    # ------------------------------------------------------------------ sessions

    def session_pids(self, user: str, protocol: str | None = None) -> list[int]:
        """Processes of our group whose environment says AUTHENTICATED=`user`."""
        if self._process is None:
            return []
        programs = {"imap": {"imapd"}, "pop3": {"courierpop3d"}}.get(
            protocol or "", {"imapd", "courierpop3d"}
        )
        wanted = f"AUTHENTICATED={user}".encode()
        pids = []
        for pid in _descendants(self._process.pid):
            proc = Path(f"/proc/{pid}")
            try:
                program = Path(os.readlink(proc / "exe")).name
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:  # ended meanwhile
                continue
            if program in programs and wanted in environ:
                pids.append(pid)
        return pids
