"""mail/idle.py against the real Dovecot: one hub thread watching IDLE connections."""

import threading
import time

import pytest

from mail import imap, net
from mail.idle import IdleHub, open_idle
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.dovecot import make_message


class Events:
    def __init__(self):
        self.activity = []
        self.lost = []
        self.changed = threading.Condition()

    def on_activity(self, key):
        with self.changed:
            self.activity.append(key)
            self.changed.notify_all()

    def on_lost(self, key, reason):
        with self.changed:
            self.lost.append((key, reason))
            self.changed.notify_all()

    def wait(self, predicate, timeout=10.0):
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), (self.activity, self.lost)


def until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def counting_renewals(client):
    """Count the IDLE commands the hub sends on `client` (one per renewal)."""
    client.renewals = 0
    idle = client.idle

    def counted():
        client.renewals += 1
        return idle()

    client.idle = counted
    return client


@pytest.fixture
def cfg_for(dovecot, dovecot_ssl_env):
    net.reset_tls_context()

    def make(user):
        return ServerConfig(
            Protocol.IMAP, dovecot.host, dovecot.imaps_port, Security.TLS, user.name, user.password
        )

    yield make
    net.reset_tls_context()


@pytest.fixture
def hub():
    events = Events()
    hub = IdleHub(events.on_activity, events.on_lost, reissue_seconds=0.3)
    hub.events = events
    hub.start()
    yield hub
    hub.stop()


def test_delivery_is_reported_as_activity(hub, dovecot, mail_user, cfg_for):
    """A message appended while the connection idles is reported within seconds."""
    hub.add("a", open_idle(cfg_for(mail_user), allow_private=True))
    until(lambda: hub.watched == 1)
    dovecot.append(mail_user, make_message(subject="push"))
    hub.events.wait(lambda: "a" in hub.events.activity)
    assert hub.events.lost == []


def test_idle_survives_many_reissues(hub, dovecot, mail_user, cfg_for):
    """IDLE renewed every 0.3 s keeps the watch alive and still sees new mail."""
    client = counting_renewals(open_idle(cfg_for(mail_user), allow_private=True))
    hub.add("a", client)
    until(lambda: client.renewals >= 5)  # five DONE/IDLE renewals
    until(lambda: hub.watched == 1)  # the last one handed back
    assert hub.events.lost == []
    hub.events.activity.clear()
    dovecot.append(mail_user, make_message(subject="after renewals"))
    hub.events.wait(lambda: "a" in hub.events.activity)


def test_server_restart_is_reported_as_lost(hub, dovecot, mail_user, cfg_for):
    """A Dovecot restart ends the session: the hub reports it lost instead of going silent."""
    hub.add("a", open_idle(cfg_for(mail_user), allow_private=True))
    until(lambda: hub.watched == 1)
    dovecot.restart()
    hub.events.wait(lambda: any(k == "a" for k, _ in hub.events.lost))
    assert hub.watched == 0


def test_removed_connection_reports_nothing(hub, dovecot, mail_user, cfg_for):
    """After remove(), new mail on that account raises no callback."""
    client = open_idle(cfg_for(mail_user), allow_private=True)
    hub.add("a", client)
    until(lambda: hub.watched == 1)
    hub.remove("a")
    # Closed by the hub: at once, or when a renewal in flight lands and is dropped.
    until(lambda: client.socket().fileno() == -1)
    dovecot.append_pushed(mail_user, make_message(subject="unwatched"))
    assert hub.events.activity == []
    assert hub.watched == 0


def test_many_accounts_share_one_hub_thread(dovecot, cfg_for):
    """Thirty idle accounts add no thread per account; each one's mail is told apart."""
    events = Events()
    hub = IdleHub(events.on_activity, events.on_lost)
    hub.start()
    try:
        before = threading.active_count()
        users = [dovecot.add_user() for _ in range(30)]
        for i, user in enumerate(users):
            hub.add(i, open_idle(cfg_for(user), allow_private=True))
        until(lambda: hub.watched == 30)
        assert threading.active_count() == before
        dovecot.append(users[7], make_message(subject="only seven"))
        events.wait(lambda: 7 in events.activity)
        dovecot.append(users[21], make_message(subject="then twenty-one"))
        events.wait(lambda: 21 in events.activity)
        assert set(events.activity) == {7, 21}
    finally:
        hub.stop()


def test_open_idle_selects_inbox_read_only(dovecot, mail_user, cfg_for):
    """open_idle enters IDLE without touching flags: mail stays unseen."""
    uid = dovecot.append(mail_user, make_message(subject="unseen"))
    client = open_idle(cfg_for(mail_user), allow_private=True)
    client.idle_done()
    imap.close(client)
    with dovecot.imap(mail_user) as c:
        c.select_folder("INBOX", readonly=True)
        assert b"\\Seen" not in c.get_flags([uid])[uid]
