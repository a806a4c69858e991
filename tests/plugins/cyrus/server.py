"""`Cyrus`: a private Cyrus IMAP 3 (Debian's cyrus-imapd and cyrus-pop3d) run by its own
`master`, users in a sasldb of its own, mailboxes and quota made through IMAP as the admin."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import subprocess
from pathlib import Path

import imapclient

from tests.plugins.dovecot import MailUser
from tests.plugins.dovecot.certs import _make_certificates
from tests.plugins.packaged import PACKAGED_ROOT, USERNAME_RE, PackagedServer, ServerError, packaged

from .config import (
    ACTION_FOLDERS,
    ADMIN,
    SPECIAL_FOLDERS,
    render_cyrus_conf,
    render_imapd_conf,
)

INSTALL_HINT = (
    "the Cyrus fixture needs Debian's cyrus-imapd, cyrus-pop3d and cyrus-common (unpacked "
    f"under {PACKAGED_ROOT} by .ci/run, since they conflict with Dovecot) and sasl2-bin"
)
DEFAULT_QUOTA_KIB = 1024


class Cyrus(PackagedServer):
    """Cyrus IMAP and POP3 (plain and implicit TLS) on loopback, in a temp directory."""

    name = "cyrus"
    features = frozenset(
        {"pop3", "quota", "special_use", "status_size", "move", "condstore", "restart"}
    )

    def __init__(self) -> None:
        master = packaged("/usr/lib/cyrus/bin/master")
        saslpasswd = packaged("/usr/sbin/saslpasswd2")
        if master is None or saslpasswd is None or not (master.parent / "imapd").exists():
            raise ServerError(f"Cyrus is not installed: {INSTALL_HINT}")
        super().__init__()
        self.bin_dir = master.parent
        self.saslpasswd = saslpasswd
        if self.is_root:  # master drops to cyrus_user; a package user may not exist here
            self.user, self.group = "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        else:
            self.user = pwd.getpwuid(os.getuid()).pw_name
            self.group = grp.getgrgid(os.getgid()).gr_name
        for sub in ("config/socket", "spool", "sieve", "run/proc", "run/lock", "run/socket"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        ca_file, self.cert_file, self.key_file = _make_certificates(self.root)
        self.ca_file = str(ca_file)
        self.sasldb_path = self.root / "sasldb2"
        self.imapd_conf_path = self.root / "imapd.conf"
        self.cyrus_conf_path = self.root / "cyrus.conf"
        self.imapd_conf_path.write_text(render_imapd_conf(self))
        self.cyrus_conf_path.write_text(render_cyrus_conf(self))
        self.admin_password = secrets.token_urlsafe(12)
        self._set_password(ADMIN, self.admin_password)
        self._own_tree()

    def _own_tree(self) -> None:
        if self.is_root:
            uid = pwd.getpwnam(self.user).pw_uid
            gid = grp.getgrnam(self.group).gr_gid
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, uid, gid)

    def command(self) -> list[str]:
        return [
            str(self.bin_dir / "master"),
            "-D",  # foreground, keep stderr (Cyrus logs to syslog, absent in containers)
            "-C",
            str(self.imapd_conf_path),
            "-M",
            str(self.cyrus_conf_path),
            "-p",
            str(self.root / "run" / "master.pid"),
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.bin_dir.is_relative_to(PACKAGED_ROOT):  # its libcyrus*.so were unpacked too
            libs = PACKAGED_ROOT / "usr/lib/x86_64-linux-gnu"
            env["LD_LIBRARY_PATH"] = (
                f"{libs}:{env['LD_LIBRARY_PATH']}".rstrip(":")
                if env.get("LD_LIBRARY_PATH")
                else str(libs)
            )
        return env

    # ------------------------------------------------------------------ users

    def _set_password(self, name: str, password: str) -> None:
        done = subprocess.run(
            [
                str(self.saslpasswd),
                "-p",
                "-c",
                "-f",
                str(self.sasldb_path),
                "-u",
                "localhost",
                name,
            ],
            input=password.encode(),
            capture_output=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise ServerError(f"saslpasswd2 {name}: {done.stderr.decode(errors='replace')}")
        if self.is_root:
            os.chown(self.sasldb_path, pwd.getpwnam(self.user).pw_uid, -1)

    def admin(self) -> imapclient.IMAPClient:
        client = imapclient.IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        client.login(ADMIN, self.admin_password)
        return client

    def add_user(
        self,
        name: str | None = None,
        password: str | None = None,
        quota_kib: int | None = None,
        special_folders: bool = True,
    ) -> MailUser:
        """A user with a password, INBOX and the special-use folders, and a storage quota."""
        if name is None:
            name = f"user{len(self._users) + 1}-{secrets.token_hex(3)}"
        if not USERNAME_RE.match(name) or name == ADMIN:
            raise ValueError(f"unsupported mail user name {name!r}")
        if name in self._users:
            raise ValueError(f"mail user {name!r} already exists")
        password = password if password is not None else secrets.token_urlsafe(12)
        self._set_password(name, password)
        mailbox = f"user.{name}"
        with self.admin() as client:
            client.create_folder(mailbox)
            for folder, use in SPECIAL_FOLDERS.items():
                if special_folders or folder not in ACTION_FOLDERS:
                    _check(
                        client._imap._simple_command(
                            "CREATE", f'"{mailbox}.{folder}"', f"(USE ({use}))"
                        )
                    )
            limit = DEFAULT_QUOTA_KIB if quota_kib is None else quota_kib
            _check(client._imap._simple_command("SETQUOTA", f'"{mailbox}"', f"(STORAGE {limit})"))
        user = MailUser(name, password, special_folders)
        with self.imap(user) as client:
            for folder in client.list_folders():
                client.subscribe_folder(folder[2])
        self._users[name] = user
        return user

    # ------------------------------------------------------------------ sessions

    def session_pids(self, user: str, protocol: str | None = None) -> list[int]:
        """From proc_path: one file per serving process, `service<TAB>host<TAB>user...`."""
        pids = []
        for entry in Path(self.root / "run" / "proc").iterdir():
            try:
                fields = entry.read_text().split("\t")
            except OSError:  # the session ended meanwhile
                continue
            service = fields[0].removesuffix("s")  # imaps -> imap, pop3s -> pop3
            if len(fields) >= 3 and fields[2] == user and protocol in (None, service):
                pids.append(int(entry.name))
        return pids


def _check(result: tuple[str, list[bytes]]) -> None:
    typ, data = result
    if typ != "OK":
        raise ServerError(f"Cyrus refused: {typ} {data!r}")
