"""mail.imap.newest against the real Dovecot: what a status board shows as the newest mail
before any poll brought one."""

from mail import imap
from tests.plugins.dovecot import make_message


def test_newest_is_the_highest_uid_and_stays_unseen(dovecot, mail_user):
    """The last delivered message's headers come back; reading them sets no \\Seen."""
    dovecot.append(mail_user, make_message(subject="older", sender="a@example.com"))
    dovecot.append(mail_user, make_message(subject="newer", sender="b@example.com"))
    with dovecot.imap(mail_user) as client:
        newest = imap.newest(client, "INBOX")
        assert newest is not None
        assert (newest.subject, newest.sender, newest.folder) == ("newer", "b@example.com", "INBOX")
        assert newest.date is not None
        client.select_folder("INBOX", readonly=True)
        assert client.search("UNSEEN") == client.search("ALL")


def test_newest_of_an_empty_folder_is_none(dovecot, mail_user):
    """An empty folder has no newest mail (and no FETCH is sent for it)."""
    with dovecot.imap(mail_user) as client:
        assert imap.newest(client, "Sent") is None
