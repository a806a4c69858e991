"""mail/actions.py against Dovecot: flag changes, archive and trash (MOVE, and the COPY
fallbacks on the rig's limited addresses), the checks before acting, and the account's
one pooled session (taken out of IDLE, kept after a refusal)."""

from __future__ import annotations

import pytest

from mail.actions import (
    Action,
    MessageGoneError,
    NoDestinationError,
    StaleFolderError,
    Target,
    find_destination,
    perform,
)
from mail.changes import MessageFlags
from mail.idle import IdleHub
from mail.sessions import SessionPool
from tests.imap_hosts import HOSTS, MAIN, connect, flags_of, server_config, subjects, uidvalidity
from tests.plugins.dovecot import BARE_HOST, BASIC_HOST, make_message
from tests.plugins.hub_events import HubEvents


def _target(dovecot, user, uid, folder="INBOX"):
    return Target(folder, uidvalidity(dovecot, user, folder), uid)


@pytest.mark.parametrize("host", HOSTS)
def test_flag_actions_are_seen_by_other_clients(dovecot, mail_user, host):
    """read, flag, unread, unflag change exactly \\Seen and \\Flagged, on every address."""
    uid = dovecot.append(mail_user, make_message(subject="one"))
    target = _target(dovecot, mail_user, uid)
    client = connect(dovecot, mail_user, host)
    try:
        done = perform(client, target, Action.READ)
        assert done.flags == MessageFlags(seen=True)
        assert flags_of(dovecot, mail_user, "INBOX", uid) == {b"\\Seen"}
        assert perform(client, target, Action.FLAG).flags == MessageFlags(True, True)
        assert flags_of(dovecot, mail_user, "INBOX", uid) == {b"\\Seen", b"\\Flagged"}
        assert perform(client, target, Action.UNREAD).flags == MessageFlags(flagged=True)
        assert perform(client, target, Action.UNFLAG).flags == MessageFlags()
        assert flags_of(dovecot, mail_user, "INBOX", uid) == set()
        assert client._imap.state == "AUTH"  # deselected: a kept session has no folder open
    finally:
        client.logout()


def test_repeated_action_reports_the_flags_it_found(dovecot, mail_user):
    """Marking read a message already read (the server answers no FETCH) still reports
    its flags."""
    uid = dovecot.append(mail_user, make_message(), flags=[b"\\Seen", b"\\Flagged"])
    client = connect(dovecot, mail_user)
    try:
        done = perform(client, _target(dovecot, mail_user, uid), Action.READ)
    finally:
        client.logout()
    assert done.flags == MessageFlags(seen=True, flagged=True)


def test_archive_prefers_the_special_use_folder(dovecot, mail_user):
    """ARCHIVE moves to the \\Archive folder (the rig's "Archives") even when a folder named
    Archive exists; the message leaves INBOX with its flags."""
    dovecot.create_folder(mail_user, "Archive")
    uid = dovecot.append(mail_user, make_message(subject="keep me"), flags=[b"\\Seen"])
    dovecot.append(mail_user, make_message(subject="stays"))
    client = connect(dovecot, mail_user)
    try:
        done = perform(client, _target(dovecot, mail_user, uid), Action.ARCHIVE)
    finally:
        client.logout()
    assert (done.destination, done.moved, done.left_deleted) == ("Archives", True, False)
    assert subjects(dovecot, mail_user, "INBOX") == ["stays"]
    assert subjects(dovecot, mail_user, "Archives") == ["keep me"]
    assert subjects(dovecot, mail_user, "Archive") == []


def test_trash_moves_to_the_trash_folder(dovecot, mail_user):
    """TRASH moves the message to \\Trash; it is not deleted."""
    uid = dovecot.append(mail_user, make_message(subject="bin"))
    client = connect(dovecot, mail_user)
    try:
        done = perform(client, _target(dovecot, mail_user, uid), Action.TRASH)
    finally:
        client.logout()
    assert done.destination == "Trash"
    assert subjects(dovecot, mail_user, "INBOX") == []
    assert subjects(dovecot, mail_user, "Trash") == ["bin"]


def test_archive_falls_back_to_a_folder_named_archive(dovecot):
    """Without a \\Archive folder, a folder named Archive receives the message."""
    user = dovecot.add_user(special_folders=False)
    dovecot.create_folder(user, "Archive")
    uid = dovecot.append(user, make_message(subject="old"))
    client = connect(dovecot, user)
    try:
        assert find_destination(client, Action.ARCHIVE) == "Archive"
        done = perform(client, _target(dovecot, user, uid), Action.ARCHIVE)
    finally:
        client.logout()
    assert done.destination == "Archive"
    assert subjects(dovecot, user, "Archive") == ["old"]


@pytest.mark.parametrize("action", [Action.ARCHIVE, Action.TRASH])
def test_no_destination_is_a_clear_error_and_changes_nothing(dovecot, action):
    """Neither the special-use folder nor one by its name: NoDestinationError, the message
    stays where it was, unread."""
    user = dovecot.add_user(special_folders=False)
    uid = dovecot.append(user, make_message(subject="here"))
    client = connect(dovecot, user)
    try:
        with pytest.raises(NoDestinationError, match=r"no (Archive|Trash) folder"):
            perform(client, _target(dovecot, user, uid), action)
    finally:
        client.logout()
    assert subjects(dovecot, user, "INBOX") == ["here"]
    assert flags_of(dovecot, user, "INBOX", uid) == set()


def test_archive_without_move_copies_and_expunges_only_that_message(dovecot, mail_user):
    """BASIC_HOST (no MOVE, no UNSELECT, UIDPLUS): COPY, \\Deleted, UID EXPUNGE. Another
    message a mail client marked \\Deleted is neither expunged by the action nor by leaving
    the folder (no CLOSE after the read-write SELECT)."""
    uid = dovecot.append(mail_user, make_message(subject="archive me"))
    other = dovecot.append(mail_user, make_message(subject="deleted elsewhere"))
    with dovecot.imap(mail_user) as client:
        client.select_folder("INBOX")
        client.add_flags([other], [b"\\Deleted"])
    client = connect(dovecot, mail_user, BASIC_HOST)
    try:
        assert not client.has_capability("MOVE")
        done = perform(client, _target(dovecot, mail_user, uid), Action.ARCHIVE)
        assert client._imap.state == "AUTH"
    finally:
        client.logout()
    assert (done.moved, done.left_deleted) == (True, False)
    assert subjects(dovecot, mail_user, "Archives") == ["archive me"]
    assert subjects(dovecot, mail_user, "INBOX") == ["deleted elsewhere"]
    assert flags_of(dovecot, mail_user, "INBOX", other) == {b"\\Deleted"}


def test_archive_without_uidplus_never_expunges_other_deleted_mail(dovecot, mail_user):
    """BARE_HOST (IMAP4rev1 only): while another message carries \\Deleted, the original is
    copied and left marked \\Deleted rather than expunging both; alone, it is expunged."""
    uid = dovecot.append(mail_user, make_message(subject="first"))
    other = dovecot.append(mail_user, make_message(subject="deleted elsewhere"))
    with dovecot.imap(mail_user) as client:
        client.select_folder("INBOX")
        client.add_flags([other], [b"\\Deleted"])
    client = connect(dovecot, mail_user, BARE_HOST)
    try:
        done = perform(client, _target(dovecot, mail_user, uid), Action.TRASH)
        assert (done.moved, done.left_deleted) == (True, True)
        assert flags_of(dovecot, mail_user, "INBOX", uid) == {b"\\Deleted"}
        assert flags_of(dovecot, mail_user, "INBOX", other) == {b"\\Deleted"}
        with dovecot.imap(mail_user) as other_client:  # the user empties the deleted mail
            other_client.select_folder("INBOX")
            other_client.expunge()
        second = dovecot.append(mail_user, make_message(subject="second"))
        done = perform(client, _target(dovecot, mail_user, second), Action.TRASH)
    finally:
        client.logout()
    assert (done.moved, done.left_deleted) == (True, False)
    assert subjects(dovecot, mail_user, "INBOX") == []
    assert subjects(dovecot, mail_user, "Trash") == ["first", "second"]


def test_stale_uidvalidity_is_refused_before_acting(dovecot, mail_user):
    """An alert from before the folder was renumbered: StaleFolderError, flags untouched."""
    dovecot.create_folder(mail_user, "Projects")
    uid = dovecot.append(mail_user, make_message(), folder="Projects")
    target = _target(dovecot, mail_user, uid, "Projects")
    stale = Target("Projects", target.uidvalidity + 1, uid)
    client = connect(dovecot, mail_user)
    try:
        with pytest.raises(StaleFolderError, match="renumbered"):
            perform(client, stale, Action.READ)
        assert client._imap.state == "AUTH"
    finally:
        client.logout()
    assert flags_of(dovecot, mail_user, "Projects", uid) == set()


def test_message_gone_and_folder_gone_are_refused(dovecot, mail_user):
    """A UID no longer in the folder, or a folder deleted since: MessageGoneError."""
    uid = dovecot.append(mail_user, make_message())
    target = _target(dovecot, mail_user, uid)
    with dovecot.imap(mail_user) as other:
        other.select_folder("INBOX")
        other.move([uid], "Junk")
    dovecot.create_folder(mail_user, "Gone")
    in_gone = _target(dovecot, mail_user, dovecot.append(mail_user, make_message(), "Gone"), "Gone")
    dovecot.delete_folder(mail_user, "Gone")
    client = connect(dovecot, mail_user)
    try:
        with pytest.raises(MessageGoneError, match="moved or deleted"):
            perform(client, target, Action.ARCHIVE)
        with pytest.raises(MessageGoneError, match="no longer exists"):
            perform(client, in_gone, Action.READ)
        assert client._imap.state == "AUTH"
    finally:
        client.logout()
    assert subjects(dovecot, mail_user, "Archives") == []


@pytest.fixture
def pushed_pool():
    events = HubEvents()
    hub = IdleHub(events.on_activity, events.on_lost, reissue_seconds=600)
    hub.start()
    pool = SessionPool(allow_private=True, hub=hub)
    pool.events = events
    yield pool
    hub.stop()
    pool.close_all()


def test_action_runs_on_the_idling_session(pushed_pool, dovecot, mail_user):
    """Through SessionPool.run (WatchEngine.on_session's path) an action takes the pushed
    account's session out of IDLE and puts it back: one connection throughout; a refused
    action keeps that session (same socket, idling again), and push still works."""
    cfg = server_config(dovecot, mail_user, MAIN)
    sock = pushed_pool.run("a", cfg, lambda c: c.socket(), idle="INBOX")
    assert pushed_pool.idling("a")
    uid = dovecot.append_pushed(mail_user, make_message(subject="team"))
    target = _target(dovecot, mail_user, uid)
    pushed_pool.events.activity.clear()

    done = pushed_pool.run(
        "a", cfg, lambda c: (c.socket(), perform(c, target, Action.FLAG)), "INBOX"
    )
    assert done[0] is sock
    assert flags_of(dovecot, mail_user, "INBOX", uid) == {b"\\Flagged"}
    assert pushed_pool.idling("a")
    assert dovecot.imap_sessions(mail_user.name) == 1

    gone = Target("INBOX", target.uidvalidity, uid + 100)
    with pytest.raises(MessageGoneError):
        pushed_pool.run("a", cfg, lambda c: perform(c, gone, Action.READ), idle="INBOX")
    assert pushed_pool.idling("a")
    assert pushed_pool.run("a", cfg, lambda c: c.socket(), idle="INBOX") is sock
    assert dovecot.imap_sessions(mail_user.name) == 1

    dovecot.append(mail_user, make_message(subject="after"))
    pushed_pool.events.wait(lambda: "a" in pushed_pool.events.activity)
    assert pushed_pool.events.lost == []
