"""mail/idle.py against the real Dovecot: one hub thread watching IDLE connections."""

import threading
import time
from concurrent.futures import Future

import pytest

from mail import imap, imap_quota, net
from mail.idle import IdleHub
from mail.idle_conn import enter_idle, leave_idle, open_idle
from mail.types import FolderState, Protocol, Security, ServerConfig
from tests.plugins.dovecot import make_message
from tests.plugins.hub_events import HubEvents


def until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def renewed(client, times):
    """A condition for until(): the IDLE command's tag has changed `times` times (the hub
    renews by a pipelined DONE + IDLE, each IDLE with a new tag)."""
    seen = {client._idle_tag}

    def check():
        seen.add(client._idle_tag)
        return len(seen) > times

    return check


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
    events = HubEvents()
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
    client = open_idle(cfg_for(mail_user), allow_private=True)
    hub.add("a", client)
    until(renewed(client, 5))  # five DONE/IDLE renewals
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
    events = HubEvents()
    hub = IdleHub(events.on_activity, events.on_lost)
    hub.start()
    try:
        before = threading.active_count()
        users = [dovecot.add_user() for _ in range(30)]
        for i, user in enumerate(users):
            hub.add(i, open_idle(cfg_for(user), allow_private=True))
        until(lambda: hub.watched == 30)
        # No thread per account (a thread left by an earlier test may end meanwhile).
        assert threading.active_count() <= before
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


def test_renewal_reads_quota_between_done_and_idle(dovecot, mail_user, cfg_for):
    """A pipelined renewal (DONE, GETQUOTAROOT, IDLE in one write, read by the hub thread)
    reports the quota when due, keeps the connection idling, and push works afterwards."""
    events, reports = HubEvents(), []
    dovecot.append(mail_user, make_message(subject="weight", size=100 * 1024))
    hub = IdleHub(
        events.on_activity,
        events.on_lost,
        reissue_seconds=0.3,
        quota_due=lambda key: True,
        on_quota=lambda key, report: reports.append(report),
    )
    hub.start()
    try:
        client = open_idle(cfg_for(mail_user), allow_private=True)
        hub.add("a", client)
        deadline = time.monotonic() + 10
        while len(reports) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(reports) >= 3
        storage = reports[-1].storage
        assert storage is not None and storage.limit == 1024 and storage.usage >= 100
        assert client._imap.file is None  # imaplib's read buffer is released while idling
        dovecot.append(mail_user, make_message(subject="after renewals"))
        events.wait(lambda: "a" in events.activity)
        assert events.lost == []
        assert not client._imap.tagged_commands.keys() - {client._idle_tag}  # no leaked tags
        taken = hub.take("a")
        assert taken is client
        leave_idle(taken)  # the renewed IDLE's tag is the one DONE completes
        assert taken.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 2
    finally:
        hub.stop()


def test_parse_quota_lines_reads_roots_and_resources():
    """The hub's own GETQUOTAROOT reading: quoted and atom roots, several resources."""
    report = imap_quota.parse_quota_lines(
        [
            b'* QUOTA "User quota" (STORAGE 10 1024 MESSAGE 2 1000)',
            b"* QUOTA root2 (STORAGE 5 0)",
            b"* QUOTA broken (STORAGE x y)",
        ]
    )
    assert [r.name for r in report.roots] == ["User quota", "root2"]
    assert report.roots[0].resources[1].name == "MESSAGE"
    assert report.storage is not None and (report.storage.usage, report.storage.limit) == (10, 1024)


def test_take_hands_the_connection_out_and_add_takes_it_back(hub, dovecot, mail_user, cfg_for):
    """take() returns the idling client (then nothing for that key); after DONE it works
    as a normal session, and add() puts it back into IDLE under watch."""
    client = open_idle(cfg_for(mail_user), allow_private=True)
    hub.add("a", client)
    assert hub.has("a")
    taken = hub.take("a")
    assert taken is client
    assert not hub.has("a")
    assert hub.take("a") is None
    leave_idle(taken)
    assert taken.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 0
    assert enter_idle(taken) is not None
    hub.add("a", taken)
    dovecot.append(mail_user, make_message(subject="back in idle"))
    hub.events.wait(lambda: "a" in hub.events.activity)


def test_shows_more_compares_examine_with_what_the_poll_saw():
    """The EXAMINE after a poll shows newer mail, or a renumbered folder: a push is due."""
    known = FolderState(uidvalidity=7, highest_uid=10)
    assert not imap.shows_more({b"UIDVALIDITY": 7, b"UIDNEXT": 11}, known)
    assert imap.shows_more({b"UIDVALIDITY": 7, b"UIDNEXT": 12}, known)
    assert imap.shows_more({b"UIDVALIDITY": 8, b"UIDNEXT": 11}, known)


def test_a_renewal_hands_the_connection_to_one_waiting_take():
    """take() calls that arrived during a pipelined renewal: the first still waiting gets
    the connection, later ones None, one that gave up is skipped (and nothing raises on
    the hub thread, which an earlier version did for every such hand-over)."""
    hub = IdleHub(lambda key: None, lambda key, reason: None)
    gave_up, first, second = Future(), Future(), Future()
    gave_up.cancel()
    hub._waiters["a"] = [gave_up, first, second]
    client = object()
    assert hub._hand_over("a", client) is True
    assert first.result(0) is client
    assert second.result(0) is None
    assert hub._hand_over("a", client) is False  # nobody waits any more
    hub.stop()
