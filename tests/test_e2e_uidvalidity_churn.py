"""End to end, UIDVALIDITY churn (issue 20, item 4): a server (the hostile proxy in front
of Dovecot) that answers every SELECT, EXAMINE and STATUS with a new UIDVALIDITY. The bot
re-baselines the folder at most 3 times within the window (an hour), then pauses the
account with exactly one notice that says why; /mail resume starts it again."""

from __future__ import annotations

import asyncio

from storage import repo
from tests.plugins.dovecot import make_message
from tests.plugins.hostile import HostileProxy
from tests.plugins.hostile.session_faults import ChurnUidvalidity
from tests.plugins.mailsync import until

RESET = "Folder reset by the server"
PAUSED = "Mail account paused"


def _titles(harness) -> list[str]:
    return [
        p["embeds"][0]["title"] for p in harness.double.channel_messages(harness.double.channel_id)
    ]


def _overview(harness, name: str):
    rows = repo.list_accounts(harness.bot.engine, harness.double.guild_id)
    return next(row for row in rows if row.account.name == name)


async def test_uidvalidity_churn_rebaselines_3_times_then_pauses_with_one_notice(
    harness, dovecot, mail_user
):
    """At most 3 re-baselines, then paused with exactly one notice; /mail resume clears
    it and mail is announced again."""
    certs = (str(dovecot.cert_file), str(dovecot.key_file))
    # UIDs to renumber: a folder that never had mail takes a new UIDVALIDITY without a
    # reset (Courier makes one up at each STATUS of such a folder; see docs/servers.md).
    dovecot.append(mail_user, make_message(subject="already there"))
    with HostileProxy(dovecot.imap_port, tls=certs) as proxy:
        async with harness.running():
            await harness.add_account(
                mail_user, name="churn", interval=60, host=proxy.host, port=proxy.port
            )
            account_id = harness.account_id("churn")
            await until(lambda: harness.idle_client(account_id), timeout=20)

            fault = ChurnUidvalidity()
            proxy.set_fault(fault)
            for link in list(proxy.links):
                proxy.on_loop(link.close)  # the reconnect's poll meets the churn
            await until(lambda: PAUSED in _titles(harness), timeout=60)
            await asyncio.sleep(5)  # time for any further poll, notice or re-baseline
            await harness.settled(timeout=30)
            titles = _titles(harness)
            print(f"\nre-baselines before the pause: {titles.count(RESET)}")
            assert titles.count(RESET) == 3
            assert titles.count(PAUSED) == 1
            paused = next(
                p
                for p in harness.double.channel_messages(harness.double.channel_id)
                if p["embeds"][0]["title"] == PAUSED
            )
            assert "UIDVALIDITY" in paused["embeds"][0]["description"]
            assert paused["allowed_mentions"] == {"parse": []}
            overview = await asyncio.to_thread(_overview, harness, "churn")
            assert overview.account.paused
            assert overview.health.last_error_kind == "uidvalidity"
            assert not harness.watcher.scheduled(account_id)
            assert harness.idle_client(account_id) is None
            selects = fault.selects
            await asyncio.sleep(3)
            assert fault.selects == selects  # paused: the server is left alone

            proxy.set_fault(None)  # the server is fixed
            resume = await harness.command("mail resume", {"account": "churn"})
            assert "Resumed" in await harness.reply_text(resume)
            await until(lambda: harness.idle_client(account_id), timeout=30)
            dovecot.append(mail_user, make_message(subject="after resume"))
            await until(lambda: "after resume" in _titles(harness), timeout=30)
            await harness.settled(timeout=30)
            titles = _titles(harness)
            assert titles.count(PAUSED) == 1
            assert titles[-1] == "after resume"
            overview = await asyncio.to_thread(_overview, harness, "churn")
            assert not overview.account.paused and overview.health.last_error is None
