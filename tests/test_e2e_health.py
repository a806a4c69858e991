"""End to end, the web endpoint's /healthz and /metrics (SPEC section 10) on a running bot."""

import dataclasses
import socket

import aiohttp
import pytest

from tests.plugins.dovecot import make_message


@pytest.fixture
def web_harness(harness):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    harness.settings = dataclasses.replace(harness.settings, http_port=port)
    harness.base = f"http://127.0.0.1:{port}"
    return harness


def _metric(text, name, labels=""):
    """The value of one sample line of the Prometheus text (0 when absent)."""
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


async def test_healthz_and_metrics_reflect_the_bot(web_harness, dovecot, mail_user):
    """Connected and the store answering: 200 with shards, accounts and the outbox; the
    poll and alert counters move when mail is announced; a closed bot is not healthy."""
    harness = web_harness
    async with harness.running() as bot, aiohttp.ClientSession() as http:
        await harness.add_account(mail_user, name="m", folders="Sent")
        async with http.get(f"{harness.base}/healthz") as answer:
            assert answer.status == 200
            body = await answer.json()
        assert body["shards"]["0"]["connected"] is True
        assert body["store"] == "ok"
        assert body["accounts_watched"] == 1
        assert body["outbox_backlog"] == 0
        async with http.get(f"{harness.base}/metrics") as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("text/plain")
            before = await answer.text()
        dovecot.append(mail_user, make_message(subject="counted"), folder="Sent")
        await harness.reply_text(await harness.command("mail check", {"account": "m"}))
        assert await harness.titles(1) == ["counted"]
        async with http.get(f"{harness.base}/metrics") as answer:
            after = await answer.text()
        polls = 'protocol="imap"'
        assert _metric(after, "mailsync_polls_total", polls) > _metric(
            before, "mailsync_polls_total", polls
        )
        assert _metric(after, "mailsync_alerts_queued_total") >= 1
        assert _metric(after, "mailsync_alerts_sent_total") >= 1
        assert _metric(after, "mailsync_outbox_backlog") == 0
        assert "mailsync_poll_duration_seconds_bucket" in after
        await bot.close()  # the gateway is gone: /healthz says so until the process ends
        healthy, body = await bot.health()
        assert not healthy
        assert body["shards"]["0"]["connected"] is False
