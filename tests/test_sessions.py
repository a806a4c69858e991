"""mail/sessions.py and mail/sweep.py against Dovecot: kept sessions, one-round sweeps, and
the one connection a pushed account shares between IDLE and its polls."""

import socket
import time

import pytest

from mail import imap, net
from mail.errors import AuthError
from mail.idle import IdleHub
from mail.idle_conn import USER_TIMEOUT_MS
from mail.login_budget import LoginBudget, LoginLimitError
from mail.sessions import SessionPool
from mail.types import FolderState, Protocol, Security, ServerConfig
from tests.plugins.dovecot import make_message
from tests.plugins.hub_events import HubEvents


@pytest.fixture
def cfg_for(dovecot, dovecot_ssl_env):
    net.reset_tls_context()

    def make(user, password=None):
        return ServerConfig(
            Protocol.IMAP,
            dovecot.host,
            dovecot.imaps_port,
            Security.TLS,
            user.name,
            user.password if password is None else password,
        )

    yield make
    net.reset_tls_context()


@pytest.fixture
def pool():
    pool = SessionPool(allow_private=True)
    yield pool
    pool.close_all()


def test_session_is_kept_between_runs(pool, mail_user, cfg_for):
    """Two polls of one account use one logged-in connection."""
    seen = []
    for _ in range(2):
        pool.run("a", cfg_for(mail_user), lambda c: seen.append(id(c)))
    assert seen[0] == seen[1]
    assert len(pool) == 1


def test_changed_password_opens_a_new_session(pool, mail_user, cfg_for):
    """A different config (e.g. a new password) never reuses the old session."""
    seen = []
    pool.run("a", cfg_for(mail_user), lambda c: seen.append(id(c)))
    with pytest.raises(AuthError):
        pool.run("a", cfg_for(mail_user, password="wrong"), lambda c: seen.append(id(c)))
    assert len(seen) == 1
    assert not pool.has("a")


def test_stale_session_after_server_restart_is_replaced(pool, dovecot, mail_user, cfg_for):
    """A session the server dropped (restart) is replaced transparently on the next run."""
    cfg = cfg_for(mail_user)
    pool.run("a", cfg, lambda c: c.noop())
    dovecot.restart()
    dovecot.append(mail_user, make_message(subject="after restart"))
    status = pool.run("a", cfg, lambda c: c.folder_status("INBOX", [b"MESSAGES"]))
    assert status[b"MESSAGES"] == 1


def test_sweep_reads_every_account_in_one_round(pool, dovecot, cfg_for):
    """A sweep of 40 sessions returns each folder's UIDVALIDITY/UIDNEXT/MESSAGES, and the
    sessions stay usable by imapclient afterwards."""
    users = [dovecot.add_user() for _ in range(40)]
    for i, user in enumerate(users):
        for _ in range(i % 3):
            dovecot.append(user, make_message(subject="x"))
        pool.run(i, cfg_for(user), lambda c: c.noop())
    dovecot.append(users[5], make_message(subject="y"), folder="Sent")
    result = pool.sweep({i: ["INBOX", "Sent"] for i in range(40)})
    for i in range(40):
        assert result[i]["INBOX"].messages == i % 3
        assert result[i]["INBOX"].state.highest_uid == i % 3
    assert result[5]["Sent"].messages == 1
    assert len(pool) == 40
    with dovecot.imap(users[7]) as c:
        expected = c.folder_status("INBOX", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    assert result[7]["INBOX"].state == FolderState(expected, 1)
    # imapclient can go on using a swept connection
    states = {"INBOX": result[2]["INBOX"].state}
    dovecot.append(users[2], make_message(subject="new after sweep"))
    polled = pool.run(2, cfg_for(users[2]), lambda c: imap.poll(c, states))
    assert [m.subject for m in polled.messages] == ["new after sweep"]


def test_sweep_drops_broken_sessions_only(pool, dovecot, mail_user, cfg_for):
    """A missing folder or a dead session gives None for that account and closes it;
    accounts without a session get None too; the others are answered."""
    other = dovecot.add_user()
    pool.run("ok", cfg_for(other), lambda c: c.noop())
    pool.run("bad", cfg_for(mail_user), lambda c: c.noop())
    result = pool.sweep({"ok": ["INBOX"], "bad": ["Nope"], "none": ["INBOX"]})
    assert result["ok"]["INBOX"].messages == 0
    assert result["bad"] is None
    assert result["none"] is None
    assert pool.has("ok")
    assert not pool.has("bad")


def test_kept_session_sees_mail_that_arrives_between_polls(pool, dovecot, mail_user, cfg_for):
    """A kept session leaves no folder selected, so its next STATUS is not a stale view."""
    cfg = cfg_for(mail_user)
    dovecot.append(mail_user, make_message(subject="one"))
    states = {
        "INBOX": FolderState(
            pool.run("a", cfg, lambda c: imap.baseline(c, ["INBOX"]))[0].state.uidvalidity, 0
        )
    }
    first = pool.run("a", cfg, lambda c: imap.poll(c, states))
    assert [m.subject for m in first.messages] == ["one"]
    dovecot.append(mail_user, make_message(subject="two"))
    second = pool.run("a", cfg, lambda c: imap.poll(c, {"INBOX": first.folders[0].state}))
    assert [m.subject for m in second.messages] == ["two"]
    assert pool.sweep({"a": ["INBOX"]})["a"]["INBOX"].messages == 2


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


def test_pushed_account_uses_one_connection_for_idle_and_polls(
    pushed_pool, dovecot, mail_user, cfg_for
):
    """A poll leaves the session idling in the hub; the next poll takes that same
    connection out of IDLE and back: the server sees one connection, never two."""
    cfg = cfg_for(mail_user)
    first = pushed_pool.run("a", cfg, lambda c: c.socket(), idle="INBOX")
    assert pushed_pool.idling("a")
    assert dovecot.imap_sessions(mail_user.name) == 1
    dovecot.append(mail_user, make_message(subject="pushed"))
    pushed_pool.events.wait(lambda: "a" in pushed_pool.events.activity)
    states = {"INBOX": FolderState(uidvalidity=_uidvalidity(dovecot, mail_user), highest_uid=0)}
    second, result = pushed_pool.run(
        "a", cfg, lambda c: (c.socket(), imap.poll(c, states)), idle="INBOX"
    )
    assert second is first  # the same socket: taken out of IDLE, not a new login
    assert [m.subject for m in result.messages] == ["pushed"]
    assert pushed_pool.idling("a")
    assert dovecot.imap_sessions(mail_user.name) == 1
    pushed_pool.events.activity.clear()
    dovecot.append(mail_user, make_message(subject="again"))  # push works after the poll
    pushed_pool.events.wait(lambda: "a" in pushed_pool.events.activity)
    assert pushed_pool.events.lost == []


def test_closed_pushed_session_leaves_the_hub(pushed_pool, dovecot, mail_user, cfg_for):
    """close() takes a pushed session out of the hub and off the server."""
    pushed_pool.run("a", cfg_for(mail_user), lambda c: None, idle="INBOX")
    assert pushed_pool.idling("a")
    pushed_pool.close("a")
    deadline = time.monotonic() + 10
    while dovecot.imap_sessions(mail_user.name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dovecot.imap_sessions(mail_user.name) == 0
    assert not pushed_pool.idling("a")


def _uidvalidity(dovecot, user):
    client = dovecot.imap(user)
    try:
        return client.folder_status("INBOX", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    finally:
        client.logout()


def test_session_closed_before_its_checkout_is_not_kept(pushed_pool, dovecot, mail_user, cfg_for):
    """A poll decided before /mail pause closed the account, but checked out after it: its
    session is dropped afterwards, not left idling (the generation read at the decision)."""
    generation = pushed_pool.generation("a")
    pushed_pool.close("a")  # pause or remove, on the event loop, before the worker starts
    pushed_pool.run("a", cfg_for(mail_user), lambda c: None, idle="INBOX", generation=generation)
    assert not pushed_pool.idling("a")
    assert not pushed_pool.has("a")
    deadline = time.monotonic() + 10
    while dovecot.imap_sessions(mail_user.name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dovecot.imap_sessions(mail_user.name) == 0


def test_session_sockets_have_keepalive_and_a_write_timeout(pool, mail_user, cfg_for):
    """Every session's socket has TCP keepalive and TCP_USER_TIMEOUT set, the latter past
    keepalive's own probing (60 s + 4 x 15 s): below it, Linux ends a connection whose
    first probe is not answered at once (thousands at a time at scale)."""

    def options(client):
        sock = client.socket()
        return (
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
        )

    keepalive, user_timeout = pool.run("a", cfg_for(mail_user), options)
    assert keepalive == 1 and user_timeout == USER_TIMEOUT_MS == 150_000
    assert user_timeout > (60 + 4 * 15) * 1000


def test_logins_past_the_budget_wait_with_a_clear_error(pool, mail_user, cfg_for):
    """A session that must log in again past the account's login budget is refused
    before connecting, with an error that says why and how long it waits."""
    pool.logins = LoginBudget(logins=2, window_seconds=60)
    for _ in range(2):
        pool.run("a", cfg_for(mail_user), lambda c: None)
        pool.close("a")  # the next run logs in again
    with pytest.raises(LoginLimitError, match="2 logins in the last 1 minutes") as raised:
        pool.run("a", cfg_for(mail_user), lambda c: None)
    assert 55 <= raised.value.wait_seconds <= 60
    pool.run("b", cfg_for(mail_user), lambda c: None)  # other accounts are not affected
