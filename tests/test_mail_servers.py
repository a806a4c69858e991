"""The test mail servers themselves (tests/plugins/mailserver.py and the dovecot, cyrus and
courier fixtures), and mail/ against each: run on the server MAILSYNC_TEST_IMAP_SERVER
selects. If one of these fails, the any_server tests on that server cannot be trusted."""

from __future__ import annotations

import poplib
import ssl

import imapclient
import pytest
from imapclient.exceptions import LoginError

from mail.actions import Action, Target, find_destination, perform
from mail.idle_conn import with_uidnext
from tests.imap_hosts import connect, subjects, uidvalidity
from tests.plugins.mailserver import (
    _FEATURES_BY_SERVER,
    MailServer,
    make_message,
    selected_server,
)

pytestmark = pytest.mark.any_server


def _context(server: MailServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_file)


def test_the_selected_server_offers_the_common_interface(mail_server):
    """mail_server is the server the env var names, with the interface and the features
    collection used to leave tests out."""
    assert mail_server.name == selected_server()
    assert isinstance(mail_server, MailServer)
    assert mail_server.features == _FEATURES_BY_SERVER[mail_server.name]


def test_tls_ports_verify_and_users_log_in(mail_server, mail_user):
    """IMAPS, STARTTLS on the IMAP port and POP3S verify against ca_file (host name checked)
    and take the user's password; a wrong one is refused."""
    with imapclient.IMAPClient(
        mail_server.host, port=mail_server.imaps_port, ssl_context=_context(mail_server)
    ) as client:
        client.login(mail_user.name, mail_user.password)
    with imapclient.IMAPClient(mail_server.host, port=mail_server.imap_port, ssl=False) as client:
        client.starttls(_context(mail_server))
        with pytest.raises(LoginError):
            client.login(mail_user.name, "not the password")
    pop = poplib.POP3_SSL(mail_server.host, mail_server.pop3s_port, context=_context(mail_server))
    try:
        pop.user(mail_user.name)
        pop.pass_(mail_user.password)
        assert pop.stat() == (0, 0)
    finally:
        pop.quit()


def test_a_new_user_has_the_folders_and_quota_asked_for(mail_server):
    """add_user gives INBOX, Sent, Trash and Archives (under the server's own names) and the
    storage quota, which GETQUOTAROOT reports in KiB."""
    user = mail_server.add_user(quota_kib=300)
    mail_server.append(user, make_message(subject="filed", size=20 * 1024), folder="Sent")
    with mail_server.imap(user) as client:
        names = {name for _flags, _delim, name in client.list_folders()}
        assert {"INBOX", *(mail_server.folder(f) for f in ("Sent", "Trash", "Archives"))} <= names
        quotas = client.get_quota_root("INBOX")[1]
    storage = next(q for q in quotas if q.resource.upper() == "STORAGE")
    assert storage.limit == 300
    assert 19 <= storage.usage <= 22
    assert subjects(mail_server, user, mail_server.folder("Sent")) == ["filed"]


def test_kick_ends_every_session_of_the_user(mail_server, mail_user):
    """sessions() counts a user's IMAP and POP3 connections; kick() ends them all."""
    client = mail_server.imap(mail_user)
    pop = poplib.POP3(mail_server.host, mail_server.pop3_port, timeout=10)
    pop.user(mail_user.name)
    pop.pass_(mail_user.password)
    try:
        assert mail_server.sessions(mail_user) == 2
        assert mail_server.imap_sessions(mail_user.name) == 1
        mail_server.kick(mail_user)
        assert mail_server.sessions(mail_user) == 0
        with pytest.raises((imapclient.exceptions.IMAPClientError, OSError)):
            client.noop()
    finally:
        client.shutdown()
        pop.close()


def test_the_idle_start_knows_uidnext_on_every_server(mail_server, mail_user):
    """What the IDLE hub compares with its last poll: UIDNEXT of the EXAMINE (computed from
    the newest UID where the server leaves it out, as Courier does) equals STATUS UIDNEXT."""
    for subject in ("one", "two"):
        mail_server.append(mail_user, make_message(subject=subject))
    with mail_server.imap(mail_user) as client:
        status = client.folder_status("INBOX", [b"UIDNEXT"])
        selected = with_uidnext(client, client.select_folder("INBOX", readonly=True))
    assert selected[b"UIDNEXT"] == status[b"UIDNEXT"] == 3


def test_archive_and_trash_find_folders_by_name_under_inbox(mail_server):
    """Without \\Archive and \\Trash folders, Archive and Trash move to the folders named so,
    also where personal folders live under INBOX. (Cyrus, Courier)."""
    user = mail_server.add_user(special_folders=False)
    for folder in ("Archive", "Trash"):
        mail_server.create_folder(user, folder)
    kept = mail_server.append(user, make_message(subject="keep"))
    binned = mail_server.append(user, make_message(subject="bin"))
    client = connect(mail_server, user)
    try:
        assert find_destination(client, Action.ARCHIVE) == mail_server.folder("Archive")
        validity = uidvalidity(mail_server, user)
        perform(client, Target("INBOX", validity, kept), Action.ARCHIVE)
        perform(client, Target("INBOX", validity, binned), Action.TRASH)
    finally:
        client.logout()
    assert subjects(mail_server, user, mail_server.folder("Archive")) == ["keep"]
    assert subjects(mail_server, user, mail_server.folder("Trash")) == ["bin"]
    assert subjects(mail_server, user, "INBOX") == []
