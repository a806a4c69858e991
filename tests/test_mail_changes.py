"""mail/changes.py against Dovecot: flags set and messages moved or expunged by another
client, on the CONDSTORE path (main address) and the plain FLAGS path (BASIC_HOST), which
must give the same answers; an unchanged folder costs one round trip with CONDSTORE."""

from __future__ import annotations

import pytest

from mail.changes import MAX_TRACKED, FolderChanges, MessageFlags, Tracked, check, uid_set
from mail.errors import FolderError
from tests.imap_hosts import MAIN, connect, uidvalidity
from tests.plugins.dovecot import BASIC_HOST, make_message

PATHS = [MAIN, BASIC_HOST]  # CONDSTORE, plain FLAGS
UNREAD = MessageFlags()


def _check(dovecot, user, host, tracked: Tracked) -> tuple[FolderChanges, int]:
    """The changes and how many commands the check sent (imaplib's tag counter)."""
    client = connect(dovecot, user, host)
    try:
        before = client._imap.tagnum
        result = check(client, tracked)
        sent = client._imap.tagnum - before
        assert client._imap.state == "AUTH"  # read-only and deselected afterwards
    finally:
        client.logout()
    return result, sent


def _tracked(dovecot, user, uids, host, known=UNREAD, folder="INBOX") -> Tracked:
    """Tracking `uids` as of now: a first check gives the modseq to start from."""
    start = Tracked(folder, uidvalidity(dovecot, user, folder), None, dict.fromkeys(uids, known))
    first, _ = _check(dovecot, user, host, start)
    assert first.empty
    return Tracked(folder, start.uidvalidity, first.highest_modseq, start.known)


def _append(dovecot, user, n, folder="INBOX"):
    return [dovecot.append(user, make_message(subject=f"m{i}"), folder) for i in range(n)]


@pytest.mark.parametrize("host", PATHS)
def test_unchanged_folder_reports_nothing(dovecot, mail_user, host):
    """No change since the last check: nothing reported, the modseq stays; with CONDSTORE
    that costs a single command (STATUS)."""
    uids = _append(dovecot, mail_user, 3)
    tracked = _tracked(dovecot, mail_user, uids, host)
    result, sent = _check(dovecot, mail_user, host, tracked)
    assert result.empty and not result.reset
    assert result.highest_modseq == tracked.highest_modseq
    if host == MAIN:
        assert tracked.highest_modseq is not None
        assert sent == 1
    else:
        assert tracked.highest_modseq is None


@pytest.mark.parametrize("host", PATHS)
def test_flags_set_by_another_client_are_seen(dovecot, mail_user, host):
    """Read in one client, flagged in another: exactly those UIDs with their flags now;
    a change to an untracked message is not reported."""
    uids = _append(dovecot, mail_user, 4)
    tracked = _tracked(dovecot, mail_user, uids[:3], host)
    with dovecot.imap(mail_user) as other:
        other.select_folder("INBOX")
        other.add_flags([uids[0]], [b"\\Seen"])
        other.add_flags([uids[1]], [b"\\Flagged"])
        other.add_flags([uids[3]], [b"\\Seen"])  # not tracked
    result, _ = _check(dovecot, mail_user, host, tracked)
    assert result.changed == {uids[0]: MessageFlags(seen=True), uids[1]: MessageFlags(flagged=True)}
    assert result.gone == frozenset()
    if host == MAIN:
        assert result.highest_modseq > tracked.highest_modseq


@pytest.mark.parametrize("host", PATHS)
def test_moved_and_expunged_messages_are_gone(dovecot, mail_user, host):
    """One message moved to another folder, one deleted and expunged: both gone."""
    uids = _append(dovecot, mail_user, 3)
    tracked = _tracked(dovecot, mail_user, uids, host)
    with dovecot.imap(mail_user) as other:
        other.select_folder("INBOX")
        other.move([uids[0]], "Archives")
        other.add_flags([uids[1]], [b"\\Deleted"])
        other.expunge()
    result, _ = _check(dovecot, mail_user, host, tracked)
    assert result.gone == frozenset(uids[:2])
    assert result.changed == {}


@pytest.mark.parametrize("host", PATHS)
def test_flags_the_alert_does_not_know_yet_are_reported(dovecot, mail_user, host):
    """known=None: the first check reports the message's flags whatever they are."""
    uid = dovecot.append(mail_user, make_message(), flags=[b"\\Seen"])
    tracked = Tracked("INBOX", uidvalidity(dovecot, mail_user), None, {uid: None})
    result, _ = _check(dovecot, mail_user, host, tracked)
    assert result.changed == {uid: MessageFlags(seen=True)}


def test_both_paths_give_the_same_answers(dovecot, mail_user):
    """The same changes read through CONDSTORE and through plain FLAGS agree."""
    uids = _append(dovecot, mail_user, 5)
    by_path = {host: _tracked(dovecot, mail_user, uids, host) for host in PATHS}
    with dovecot.imap(mail_user) as other:
        other.select_folder("INBOX")
        other.add_flags(uids[:2], [b"\\Seen"])
        other.add_flags([uids[1], uids[2]], [b"\\Flagged"])
        other.move([uids[3]], "Trash")
        other.add_flags([uids[4]], [b"\\Deleted"])  # marked, not yet expunged
    answers = {host: _check(dovecot, mail_user, host, t)[0] for host, t in by_path.items()}
    main, basic = answers[MAIN], answers[BASIC_HOST]
    assert (main.changed, main.gone) == (basic.changed, basic.gone)
    assert main.changed[uids[4]] == MessageFlags(deleted=True)
    assert main.gone == frozenset({uids[3]})


@pytest.mark.parametrize("host", PATHS)
def test_renumbered_folder_resets(dovecot, mail_user, host):
    """A folder deleted and made again (new UIDVALIDITY): reset, every tracked UID gone."""
    dovecot.create_folder(mail_user, "Projects")
    uids = _append(dovecot, mail_user, 2, "Projects")
    tracked = _tracked(dovecot, mail_user, uids, host, folder="Projects")
    dovecot.delete_folder(mail_user, "Projects")
    dovecot.create_folder(mail_user, "Projects")
    _append(dovecot, mail_user, 2, "Projects")  # same UIDs, other messages
    result, _ = _check(dovecot, mail_user, host, tracked)
    assert result.reset
    assert result.gone == frozenset(uids)
    assert result.uidvalidity != tracked.uidvalidity


def test_missing_folder_and_too_many_uids(dovecot, mail_user):
    """A folder that does not exist is a FolderError; more than 500 UIDs a ValueError."""
    with pytest.raises(FolderError, match="does not exist"):
        _check(dovecot, mail_user, MAIN, Tracked("Nope", 1, None, {1: UNREAD}))
    too_many = dict.fromkeys(range(1, MAX_TRACKED + 2), UNREAD)
    with pytest.raises(ValueError, match="500"):
        _check(dovecot, mail_user, MAIN, Tracked("INBOX", 1, None, too_many))


def test_uid_set_compresses_ranges():
    """UIDs become a short sequence set: sorted, ranges joined."""
    assert uid_set([9, 3, 4, 5, 11, 12, 1]) == "1,3:5,9,11:12"
    assert uid_set([7]) == "7"
    assert uid_set([]) == ""
