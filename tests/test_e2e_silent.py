"""End to end, silent pushed connections (issue 20, item 3): the bot's IDLE connection goes
through the hostile proxy, which stops passing bytes both ways and keeps the sockets open
(TCP keepalive sees nothing wrong). The hub probes it once it has heard nothing for the
silence window, drops it when the probe goes unanswered, reconnects and catches up by
UID: mail delivered during the silence is announced once. Windows are shrunk here; the
bound stated is window + probe (+ slack for the loaded machine and the reconnect)."""

from __future__ import annotations

import asyncio
import dataclasses

from tests.plugins.dovecot import KEEPALIVE_HOST, make_message
from tests.plugins.hostile import HostileProxy
from tests.plugins.hostile.session_faults import GoSilent
from tests.plugins.mailsync import until

SILENCE = 8.0  # the shrunk MAILSYNC_IDLE_SILENCE_SECONDS
PROBE = 4.0  # the shrunk MAILSYNC_IDLE_PROBE_SECONDS
SLACK = 10.0  # the reconnect's first backoff (<= 1 s), a login and a poll, on a busy machine


def _shrunk(harness, silence: float = SILENCE, probe: float = PROBE) -> None:
    harness.settings = dataclasses.replace(
        harness.settings, idle_silence_seconds=silence, idle_probe_seconds=probe
    )


async def _silence_and_recover(harness, proxy: HostileProxy, account_id: int) -> float:
    """Silence the idling connection; seconds until the hub idles on a new one."""
    first = await until(lambda: harness.idle_client(account_id), timeout=20)
    loop = asyncio.get_running_loop()
    silent = GoSilent(proxy.links)
    proxy.set_fault(silent)
    started = loop.time()
    await until(lambda: harness.idle_client(account_id) not in (None, first), timeout=120)
    return loop.time() - started


async def test_silent_idle_connection_is_replaced_and_mail_meanwhile_posted_once(
    harness, dovecot, mail_user
):
    """A silent IDLE connection is replaced within window + probe; mail sent meanwhile
    is posted exactly once."""
    _shrunk(harness)
    certs = (str(dovecot.cert_file), str(dovecot.key_file))
    with HostileProxy(dovecot.imap_port, tls=certs) as proxy:
        async with harness.running():
            await harness.add_account(
                mail_user, name="silent", interval=60, host=proxy.host, port=proxy.port
            )
            account_id = harness.account_id("silent")
            first = await until(lambda: harness.idle_client(account_id), timeout=20)
            old_links = [link for link in proxy.links if not link.closed.is_set()]
            task = asyncio.create_task(_silence_and_recover(harness, proxy, account_id))
            await asyncio.sleep(1.0)
            dovecot.append(mail_user, make_message(subject="during silence"))
            took = await task
            print(f"\nsilent connection noticed and replaced in {took:.1f} s")
            assert PROBE <= took <= SILENCE + PROBE + SLACK
            assert harness.idle_client(account_id) is not first
            await until(lambda: all(link.closed.is_set() for link in old_links), timeout=10)
            # The new connection passes: later mail is pushed as usual.
            dovecot.append(mail_user, make_message(subject="after"))
            await harness.posts(2, timeout=30)
            posts = await harness.settled(2, timeout=30)
            assert [p["embeds"][0]["title"] for p in posts] == ["during silence", "after"]


async def test_window_follows_the_servers_keepalive_rhythm(harness, dovecot, mail_user):
    """A server heard saying "* OK Still here" every second is suspect after the 10 s
    floor, not after the configured 120 s silence window."""
    _shrunk(harness, silence=120.0, probe=4.0)
    certs = (str(dovecot.cert_file), str(dovecot.key_file))
    proxy = HostileProxy(dovecot.imap_port, upstream_host=KEEPALIVE_HOST, tls=certs)
    with proxy:
        async with harness.running():
            await harness.add_account(
                mail_user, name="rhythm", interval=60, host=proxy.host, port=proxy.port
            )
            account_id = harness.account_id("rhythm")
            await until(lambda: harness.idle_client(account_id), timeout=20)
            await asyncio.sleep(3.5)  # a few keepalives: the rhythm is learned
            took = await _silence_and_recover(harness, proxy, account_id)
            print(f"\nwith a 1 s keepalive rhythm, replaced in {took:.1f} s")
            assert took <= 10.0 + PROBE + SLACK < 120.0
