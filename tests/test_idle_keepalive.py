"""The IDLE hub and the server's keepalives (mail/idle.py), against the real Dovecot on
KEEPALIVE_HOST, where an idling connection hears "* OK Still here" every second.

Dovecot times the keepalives of every connection from one client address to the same
second, so many accounts' lines arrive together: the hub reads such a burst in a few
passes, reports none of it as activity, and still reports real news at once."""

import time

import pytest

from mail import net
from mail.idle import HOLD_OFF, IdleHub
from mail.idle_conn import open_idle
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.dovecot import KEEPALIVE_HOST, make_message
from tests.plugins.hub_events import HubEvents

CONNECTIONS = 24


@pytest.fixture
def counted_hub():
    """A hub whose passes (poller waits that returned sockets) and reads are counted."""
    events = HubEvents()
    hub = IdleHub(events.on_activity, events.on_lost)
    counts = {"passes": 0, "reads": 0}
    wait, read = hub._poller.poll, hub._read

    def counted_wait(timeout):
        ready = wait(timeout)
        counts["passes"] += bool(ready)
        return ready

    def counted_read(watch):
        counts["reads"] += 1
        read(watch)

    hub._poller.poll, hub._read = counted_wait, counted_read
    hub.events, hub.counts = events, counts
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def keepalive_cfg(dovecot, dovecot_ssl_env):
    net.reset_tls_context()

    def make(user):
        return ServerConfig(
            Protocol.IMAP,
            KEEPALIVE_HOST,
            dovecot.imap_port,
            Security.NONE,
            user.name,
            user.password,
        )

    yield make
    net.reset_tls_context()


def test_a_burst_of_keepalives_is_read_in_few_passes_and_is_no_activity(
    counted_hub, dovecot, keepalive_cfg
):
    users = [dovecot.add_user() for _ in range(CONNECTIONS)]
    for i, user in enumerate(users):
        counted_hub.add(i, open_idle(keepalive_cfg(user), allow_private=True))
    time.sleep(1.5)  # past the first keepalives and the adds' own wake-ups
    counted_hub.counts.update(passes=0, reads=0)
    time.sleep(3.2)
    passes, reads = counted_hub.counts["passes"], counted_hub.counts["reads"]
    assert reads >= 2 * CONNECTIONS, "the server's keepalives did not arrive"
    # Without the hold-off each line is a pass of its own (passes == reads).
    assert passes * 3 <= reads, (passes, reads)
    assert counted_hub.events.activity == [] and counted_hub.events.lost == []
    assert counted_hub.watched == CONNECTIONS


def test_news_among_keepalives_is_reported_at_once(counted_hub, dovecot, keepalive_cfg):
    users = [dovecot.add_user() for _ in range(CONNECTIONS)]
    for i, user in enumerate(users):
        counted_hub.add(i, open_idle(keepalive_cfg(user), allow_private=True))
    time.sleep(1.5)
    for round_ in range(3):
        target = round_ * 7 % CONNECTIONS
        sent = time.monotonic()
        dovecot.append(users[target], make_message(subject=f"news {round_}"))
        counted_hub.events.wait(lambda t=target: t in counted_hub.events.activity, 5)
        took = time.monotonic() - sent
        # Dovecot batches IDLE notifications for 0.5 s; the hub may add one hold-off.
        assert took < 0.5 + HOLD_OFF + 1.0, took
    assert counted_hub.events.lost == []


def test_renewals_of_connections_added_together_go_out_in_one_pass(dovecot, keepalive_cfg):
    """Renewal times are rounded up to a grid step (here 0.1 s), so connections added within
    one step are renewed in one pass, and their answers read together."""
    events = HubEvents()
    hub = IdleHub(events.on_activity, events.on_lost, reissue_seconds=1.2)
    sent: list[tuple[int, float]] = []
    start_renewal = hub._start_renewal

    def recorded(watch, now):
        sent.append((watch.key, now))
        start_renewal(watch, now)

    hub._start_renewal = recorded
    clients = [open_idle(keepalive_cfg(dovecot.add_user()), True) for _ in range(4)]
    hub.start()
    try:
        added = time.monotonic()
        for i, client in enumerate(clients):
            hub.add(i, client)
            time.sleep(0.025)  # 75 ms in all: each due time of its own without the grid
        time.sleep(1.6)
        first = {}
        for key, now in sent:
            first.setdefault(key, now)
        assert sorted(first) == [0, 1, 2, 3], sent
        # All four were added within 75 ms: one step, or two if they straddled a step's
        # edge; each renewal between 1.2 s and 1.2 s + a step after its IDLE began.
        assert len(set(first.values())) <= 2, first
        assert all(1.2 <= now - added <= 1.2 + 0.075 + 0.1 + 0.15 for now in first.values()), first
        assert events.lost == []
    finally:
        hub.stop()
