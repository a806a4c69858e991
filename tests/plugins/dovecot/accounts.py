"""Mail users (one passwd-file each, read by Dovecot on lookup) and IMAP helpers acting as
them."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import imapclient

from .config import ACTION_FOLDERS
from .errors import DovecotError

_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*(@[A-Za-z0-9][A-Za-z0-9.-]*)?$")
_APPENDUID_RE = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
_user_counter = itertools.count(1)


@dataclass
class MailUser:
    name: str
    password: str
    special_folders: bool = True  # False: no Archives or Trash folder (see add_user)


class AccountsMixin:
    """Users and IMAP helpers of `Dovecot`."""

    # ------------------------------------------------------------------ users

    def _write_user(self, user: MailUser, quota_kib: int | None) -> None:
        home = self.home_dir / user.name
        home.mkdir(exist_ok=True)
        if self.is_root:
            os.chown(home, self.mail_uid, self.mail_gid)
        fields = []
        if quota_kib is not None:
            amount = f"{quota_kib // 1024}M" if quota_kib % 1024 == 0 else f"{quota_kib}K"
            fields.append(f"userdb_quota_rule=*:storage={amount}")
        if not user.special_folders:  # userdb fields override the namespace's settings
            fields += [f"userdb_namespace/inbox/mailbox/{name}/auto=no" for name in ACTION_FOLDERS]
        extra = " ".join(fields)
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
        special_folders: bool = True,
    ) -> MailUser:
        """Create a mail user (unique name and random password by default).

        `quota_kib` overrides the default storage quota of 1 MiB (a multiple of 1024 is
        written as MiB). `special_folders=False`: the user has no Archives and no Trash
        folder (until a test creates one, which then gets its special-use flag from the
        config as usual). Takes effect immediately; no reload needed.
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
        user = MailUser(name, password, special_folders)
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

    def imap(
        self, user: MailUser, timeout: float = 10, host: str | None = None
    ) -> imapclient.IMAPClient:
        """A logged-in IMAPClient over plain IMAP on loopback; the caller logs out. `host`:
        one of config.LIMITED_CAPABILITIES' addresses for a server with fewer extensions.

        Usable as a context manager: `with dovecot.imap(user) as client: ...`.
        """
        client = imapclient.IMAPClient(
            host or self.host, port=self.imap_port, ssl=False, timeout=timeout
        )
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

    def append_pushed(self, user: MailUser, raw: bytes, timeout: float = 10.0) -> int:
        """APPEND to INBOX while a client of our own idles there; return (the UID) once
        Dovecot has pushed the new message to it. Dovecot batches changes for about 0.5 s;
        after this, any other client idling on that INBOX has been told too."""
        with self.imap(user) as client:
            client.select_folder("INBOX", readonly=True)
            client.idle()
            try:
                uid = self.append(user, raw)
                deadline = time.monotonic() + timeout
                while not any(r[1:2] == (b"EXISTS",) for r in client.idle_check(timeout=1)):
                    if time.monotonic() > deadline:
                        raise DovecotError(f"no IDLE push within {timeout}s of the APPEND")
            finally:
                client.idle_done()
        return uid

    def create_folder(self, user: MailUser, folder: str) -> None:
        with self.imap(user) as client:
            client.create_folder(folder)
            client.subscribe_folder(folder)

    def delete_folder(self, user: MailUser, folder: str) -> None:
        with self.imap(user) as client:
            client.delete_folder(folder)
