"""What every test mail server offers (Dovecot, Cyrus, Courier) and which one the `any_server`
tests run against.

`MAILSYNC_TEST_IMAP_SERVER=dovecot|cyrus|courier` (default dovecot) picks the server behind
the `mail_server` fixture, the `harness` and `mail_user`. Tests marked `any_server` are about
the bot, not one server; `@pytest.mark.any_server(requires=("pop3",))` names the features a
test needs, and a run on a server without one of them leaves the test out (deselected, not
skipped). A run on Cyrus or Courier leaves out every test not marked `any_server`: those are
written against Dovecot's particulars (its limited-capability hosts, OAuth, doveadm).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import imapclient
import pytest

from tests.plugins.dovecot import MailUser, make_message

__all__ = [
    "FEATURES",
    "SERVERS",
    "SERVER_ENV",
    "MailServer",
    "MailUser",
    "deselect_for_server",
    "make_message",
    "selected_server",
]

SERVER_ENV = "MAILSYNC_TEST_IMAP_SERVER"
SERVERS = ("dovecot", "cyrus", "courier")
# What a test may require (see `MailServer.features`).
FEATURES = frozenset(
    {
        "pop3",  # POP3 and POP3S ports
        "quota",  # GETQUOTAROOT answers STORAGE usage and limit
        "special_use",  # LIST marks \Archive, \Trash, ... (RFC 6154)
        "status_size",  # STATUS=SIZE
        "move",  # MOVE (RFC 6851)
        "condstore",  # CONDSTORE: STATUS HIGHESTMODSEQ shows flag changes
        "oauth",  # XOAUTH2 / OAUTHBEARER checked against the idp double
        "restart",  # restart() keeps users and mail
    }
)


def selected_server() -> str:
    """The server named by MAILSYNC_TEST_IMAP_SERVER (dovecot when unset)."""
    name = os.environ.get(SERVER_ENV, "").strip().lower() or "dovecot"
    if name not in SERVERS:
        raise pytest.UsageError(f"{SERVER_ENV}={name!r}: expected one of {', '.join(SERVERS)}")
    return name


@runtime_checkable
class MailServer(Protocol):
    """A throwaway mail server on loopback with TLS (certificates trusted via `ca_file`)."""

    name: str  # "dovecot", "cyrus", "courier"
    features: frozenset[str]  # a subset of FEATURES
    host: str
    imap_port: int
    imaps_port: int
    pop3_port: int
    pop3s_port: int
    ca_file: str

    def add_user(
        self,
        name: str | None = None,
        password: str | None = None,
        quota_kib: int | None = None,
        special_folders: bool = True,
    ) -> MailUser:
        """A new user with INBOX, Sent, Drafts, Trash, Junk, Archives (without the last two
        when `special_folders` is false) and a storage quota (1 MiB unless given)."""
        ...

    def folder(self, name: str) -> str:
        """The server's full name of a personal folder ("Sent" is "INBOX.Sent" on Cyrus)."""
        ...

    def imap(self, user: MailUser, timeout: float = 10) -> imapclient.IMAPClient:
        """A logged-in plain-IMAP client on loopback; the caller logs out."""
        ...

    def append(
        self,
        user: MailUser,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[bytes | str] = (),
        msg_time: dt.datetime | None = None,
    ) -> int:
        """APPEND to `folder` (a short name, see `folder`); returns the UID (APPENDUID)."""
        ...

    def create_folder(self, user: MailUser, folder: str) -> None: ...

    def delete_folder(self, user: MailUser, folder: str) -> None: ...

    def sessions(self, user: MailUser | str) -> int:
        """How many IMAP and POP3 connections `user` holds right now."""
        ...

    def imap_sessions(self, user: str) -> int:
        """How many IMAP connections `user` holds right now."""
        ...

    def kick(self, user: MailUser | str, timeout: float = 10.0) -> None:
        """End every session of `user` and wait until they are gone."""
        ...

    def restart(self) -> None:
        """Stop and start again on the same ports with the same users and mail."""
        ...


def deselect_for_server(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out (deselect) the tests the selected server cannot run; see the module doc."""
    server = selected_server()
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        mark = item.get_closest_marker("any_server")
        if mark is None:
            fits = server == "dovecot"
        else:
            requires = set(mark.kwargs.get("requires", ()))
            unknown = requires - FEATURES
            if unknown:
                raise pytest.UsageError(f"{item.nodeid}: unknown any_server feature {unknown}")
            fits = requires <= _FEATURES_BY_SERVER[server]
        (keep if fits else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


# Known before any server starts, so collection needs no server; each server class carries
# the same set as `features`, and a test of the rig checks that they agree.
_FEATURES_BY_SERVER = {
    "dovecot": FEATURES,
    "cyrus": FEATURES - {"oauth"},
    "courier": FEATURES - {"oauth", "special_use", "status_size", "move", "condstore"},
}
