"""The Dovecot rig's extensions for the team inbox: CONDSTORE on the main address, the two
addresses with fewer extensions, and users without the Archives and Trash folders."""

from __future__ import annotations

import pytest

from tests.plugins.dovecot import BARE_HOST, BASIC_HOST, Dovecot, MailUser


def test_main_address_offers_what_mailbox_actions_use(dovecot: Dovecot, mail_user: MailUser):
    """After login the main address offers CONDSTORE, QRESYNC, MOVE, UIDPLUS, UNSELECT,
    SPECIAL-USE and ENABLE, and a folder's STATUS answers HIGHESTMODSEQ."""
    with dovecot.imap(mail_user) as client:
        caps = set(client.capabilities())
        status = client.folder_status("INBOX", [b"HIGHESTMODSEQ"])
    wanted = {b"CONDSTORE", b"QRESYNC", b"MOVE", b"UIDPLUS", b"UNSELECT", b"SPECIAL-USE"}
    assert wanted | {b"ENABLE"} <= caps
    assert status[b"HIGHESTMODSEQ"] >= 1


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (BASIC_HOST, {b"IMAP4REV1", b"IDLE", b"UIDPLUS", b"LITERAL+", b"SPECIAL-USE"}),
        (BARE_HOST, {b"IMAP4REV1"}),
    ],
)
def test_limited_addresses_advertise_fewer_extensions(
    dovecot: Dovecot, mail_user: MailUser, host: str, expected: set[bytes]
):
    """BASIC_HOST and BARE_HOST advertise exactly their reduced lists after login, for the
    same users and mail as the main address."""
    uid = dovecot.append(mail_user, b"Subject: hi\r\n\r\nbody\r\n")
    with dovecot.imap(mail_user, host=host) as client:
        client._cached_capabilities = None  # read them again, after login
        caps = set(client.capabilities())
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
    assert caps == expected
    assert uids == [uid]


def test_user_without_special_folders(dovecot: Dovecot):
    """special_folders=False: no Archives, no Trash; a folder created later by that name
    still gets its special-use flag from the config."""
    user = dovecot.add_user(special_folders=False)
    with dovecot.imap(user) as client:
        names = {name for _flags, _delim, name in client.list_folders()}
    assert "Archives" not in names
    assert "Trash" not in names
    assert {"INBOX", "Sent"} <= names
    dovecot.create_folder(user, "Trash")
    with dovecot.imap(user) as client:
        assert client.find_special_folder(rb"\Trash") == "Trash"


def test_special_folders_setting_survives_a_password_change(dovecot: Dovecot):
    """set_password rewrites the user's line without bringing the folders back."""
    user = dovecot.add_user(special_folders=False)
    dovecot.set_password(user, "another-one")
    with dovecot.imap(user) as client:
        names = {name for _flags, _delim, name in client.list_folders()}
    assert "Archives" not in names
