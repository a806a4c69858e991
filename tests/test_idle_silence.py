"""The IDLE hub's own bounds on an idling connection (mail/idle_silence.py), against the
real Dovecot behind the hostile proxy: a flood of untagged lines is activity and then,
past the cap, a lost connection; a quiet but healthy connection answers its probe and
stays; a silent one is lost once its probe goes unanswered."""

from __future__ import annotations

import time

import pytest

from mail import net
from mail.idle import IdleHub
from mail.idle_conn import open_idle
from mail.idle_silence import FLOOD_CAP
from mail.types import Protocol, Security, ServerConfig
from tests.plugins.hostile import HostileProxy
from tests.plugins.hostile.session_faults import FloodWhileIdling, GoSilent
from tests.plugins.hub_events import HubEvents


@pytest.fixture
def proxied(hostile_imap: HostileProxy, mail_user, dovecot_ssl_env):
    net.reset_tls_context()
    cfg = ServerConfig(
        Protocol.IMAP,
        hostile_imap.host,
        hostile_imap.port,
        Security.TLS,
        mail_user.name,
        mail_user.password,
    )
    yield hostile_imap, cfg
    net.reset_tls_context()


def _hub(events: HubEvents, **kw) -> IdleHub:
    hub = IdleHub(events.on_activity, events.on_lost, **kw)
    hub.start()
    return hub


def test_a_flood_while_idling_is_activity_then_dropped_past_the_cap(proxied):
    """Untagged lines streamed at an idling connection are reported as activity, and the
    connection is dropped once they pass FLOOD_CAP (not read forever)."""
    proxy, cfg = proxied
    fault = FloodWhileIdling()
    proxy.set_fault(fault)
    events = HubEvents()
    hub = _hub(events)
    try:
        hub.add("flood", open_idle(cfg, allow_private=True))
        events.wait(lambda: events.lost, timeout=30)
        assert "flood" in events.activity
        key, reason = events.lost[0]
        assert key == "flood" and "while idling" in reason
        assert not hub.has("flood")
        sent = fault.flooded
        print(f"\nflood dropped after {sent // 1024} KiB sent (cap {FLOOD_CAP // 1024} KiB)")
        assert sent < 8 * FLOOD_CAP  # the cap plus what the socket buffers held
    finally:
        hub.stop()


def test_a_quiet_connection_answers_its_probe_and_stays(proxied):
    """Past the silence window a live connection is probed, answers, and is kept."""
    _proxy, cfg = proxied
    events = HubEvents()
    hub = _hub(events, silence_seconds=1.5, probe_seconds=5.0)
    try:
        client = open_idle(cfg, allow_private=True)
        first_idle = client._idle_tag
        hub.add("quiet", client)
        time.sleep(6.0)  # several windows: each one probed and answered
        assert events.lost == [] and hub.has("quiet")
        assert client._idle_tag != first_idle  # probed: a new IDLE runs (renewal is 24 min)
    finally:
        hub.stop()


def test_a_silent_connection_is_lost_after_window_and_probe(proxied):
    """A connection that passes nothing either way is reported lost after the silence
    window plus the probe's wait, with a reason that says so."""
    proxy, cfg = proxied
    events = HubEvents()
    hub = _hub(events, silence_seconds=2.0, probe_seconds=2.0)
    try:
        hub.add("silent", open_idle(cfg, allow_private=True))
        started = time.monotonic()
        proxy.set_fault(GoSilent(proxy.links))
        events.wait(lambda: events.lost, timeout=20)
        took = time.monotonic() - started
        assert 2.0 <= took <= 2.0 + 2.0 + 3.0
        assert "silent for 2s" in events.lost[0][1]
    finally:
        hub.stop()


def test_connections_added_apart_share_one_silence_check(proxied):
    """Silence checks fall on a grid (a tenth of the window), so the hub wakes once for
    every connection due in that step, not once per connection: at 10,000 accounts one
    wake-up each was most of the bot's quiet CPU."""
    _proxy, cfg = proxied
    events = HubEvents()
    hub = _hub(events, silence_seconds=40.0)  # grid 4 s
    try:
        added = []
        for i in range(4):
            hub.add(f"c{i}", open_idle(cfg, allow_private=True))
            added.append(time.monotonic())
            time.sleep(0.2)
        assert added[-1] - added[0] >= 0.6  # added at different times
        until = time.monotonic() + 10
        while len(hub._watches) < 4:  # the hub thread applies the adds
            assert time.monotonic() < until
            time.sleep(0.02)
        checks = {watch.quiet_at for watch in list(hub._watches.values())}
        assert all(at % 4.0 == 0 for at in checks)
        assert len(checks) <= 2  # four connections, at most two steps (a boundary between)
        assert min(checks) >= added[0] + 40.0
    finally:
        hub.stop()
