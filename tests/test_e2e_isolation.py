"""End to end, isolation (issue 20, item 4): misbehaving servers behind the hostile proxy
cost the healthy accounts nothing. As many servers as MAILSYNC_POLL_CONCURRENCY hang
after login, and a healthy pushed account's alert still arrives in under 10 s; a server
that drops every session right after login gets at most the login budget (10 in a
window; the window is shrunk here in proportion) and the account's error says why."""

from __future__ import annotations

import asyncio
import dataclasses

from mail.login_budget import LoginBudget
from storage import repo
from tests.plugins.dovecot import make_message
from tests.plugins.hostile import HostileProxy
from tests.plugins.hostile.session_faults import DropAfterLogin, HangAfterLogin
from tests.plugins.mailsync import until

CONCURRENCY = 2
HEALTHY_BOUND = 10.0  # seconds from delivery to the post, while the others hang


def _certs(dovecot) -> tuple[str, str]:
    return (str(dovecot.cert_file), str(dovecot.key_file))


def _health(harness, name: str):
    rows = repo.list_accounts(harness.bot.engine, harness.double.guild_id)
    return next(row.health for row in rows if row.account.name == name)


async def test_healthy_pushed_alert_under_10s_while_concurrency_servers_hang(
    harness, dovecot, mail_user
):
    """With MAILSYNC_POLL_CONCURRENCY servers hanging after login (and /mail check asked
    of them), a healthy pushed account's alert arrives in under 10 s."""
    harness.settings = dataclasses.replace(harness.settings, poll_concurrency=CONCURRENCY)
    hung_users = [dovecot.add_user() for _ in range(CONCURRENCY)]
    with HostileProxy(dovecot.imap_port, tls=_certs(dovecot)) as proxy:
        async with harness.running():
            watcher = harness.watcher
            await harness.add_account(mail_user, name="healthy", interval=60)
            healthy = harness.account_id("healthy")
            for i, user in enumerate(hung_users):
                await harness.add_account(
                    user, name=f"hung{i}", interval=1, host=proxy.host, port=proxy.port
                )
            hung = [harness.account_id(f"hung{i}") for i in range(CONCURRENCY)]
            await until(lambda: all(harness.idle_client(a) for a in [healthy, *hung]), 20)
            await harness.settled(timeout=30)

            fault = HangAfterLogin()
            proxy.set_fault(fault)
            for link in list(proxy.links):
                proxy.on_loop(link.close)  # the hub loses them: each reconnect now hangs
            await until(lambda: fault.hung >= CONCURRENCY, timeout=30)
            await until(lambda: watcher.slots.running >= CONCURRENCY, timeout=10)
            # A second poll of each hung account waits on its account, not in a slot.
            checks = [await harness.command("mail check", {"account": f"hung{i}"}) for i in (0, 1)]
            assert watcher.slots.running <= CONCURRENCY

            loop = asyncio.get_running_loop()
            latencies = []
            for n in range(2):
                sent = loop.time()
                dovecot.append(mail_user, make_message(subject=f"healthy {n}"))
                await harness.posts(n + 1, timeout=30)
                latencies.append(loop.time() - sent)
                await until(lambda: harness.idle_client(healthy), timeout=20)
            print(f"\nhealthy alert latency while {CONCURRENCY} servers hang: {latencies}")
            assert max(latencies) < HEALTHY_BOUND
            # Still hanging throughout: the healthy alerts did not wait for them to end.
            assert not any(harness.idle_client(a) for a in hung)
            assert watcher.slots.running + watcher.slots.overtime <= 2 * CONCURRENCY + 1
            for check in checks:  # answered once the hung polls' timeouts end them
                assert await harness.reply_text(check, timeout=100)
            titles = [p["embeds"][0]["title"] for p in await harness.posts(2)]
            assert titles[:2] == ["healthy 0", "healthy 1"]


WINDOW = 20.0  # the login budget's window, shrunk from 300 s
LOGINS = 10


async def test_drop_after_login_gets_at_most_10_logins_per_window(harness, dovecot, mail_user):
    """A server that drops every session after login gets at most 10 logins in any
    window however often a poll is asked for, and the account's error says why."""
    with HostileProxy(dovecot.imap_port, tls=_certs(dovecot)) as proxy:
        async with harness.running():
            watcher = harness.watcher
            watcher.sessions.logins = LoginBudget(LOGINS, WINDOW)
            await harness.add_account(
                mail_user, name="dropper", interval=60, host=proxy.host, port=proxy.port
            )
            account_id = harness.account_id("dropper")
            await until(lambda: harness.idle_client(account_id), timeout=20)

            fault = DropAfterLogin()
            proxy.set_fault(fault)
            for link in list(proxy.links):
                proxy.on_loop(link.close)
            loop = asyncio.get_running_loop()
            end = loop.time() + 1.5 * WINDOW
            while loop.time() < end:  # pushes, checks, the schedule: many asks for a poll
                watcher.request_poll(account_id)
                await asyncio.sleep(0.25)
            await until(lambda: not watcher._again, timeout=30)

            most = fault.logins_within(WINDOW)
            print(f"\nlogins: {len(fault.logins)} in {1.5 * WINDOW:.0f} s, most {most} per window")
            assert most <= LOGINS
            assert len(fault.logins) >= LOGINS - 1  # the budget was really spent
            health = await asyncio.to_thread(_health, harness, "dropper")
            assert health.last_error_kind == "login-limit"
            assert "keeps ending the session after login" in health.last_error
