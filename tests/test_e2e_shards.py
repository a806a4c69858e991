"""Several bot processes over one PostgreSQL store, end to end (SPEC section 10): real
`python bot.py` processes, one Discord shard each, against the Discord double (sharded as
Discord does) and a real Dovecot. Each alert is posted once; a process killed with SIGKILL
is replaced without losing or doubling mail; a process started for a held shard waits,
doubles nothing, and takes over once the holder stops; /healthz and /metrics say so."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bench._bot_process import BotProcess
from storage import outbox, repo
from storage.db import make_engine
from tests.plugins.database import backend
from tests.plugins.discord_double import GuildSpec, snowflake_on_shard
from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import Harness, until

pytestmark = pytest.mark.skipif(
    backend() != "postgresql",
    reason="several processes need a shared PostgreSQL store (SQLite is refused for a "
    "partial shard set, see tests/test_shards.py); set MAILSYNC_TEST_DATABASE_URL",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Shard:
    """One `python bot.py` process running one shard, with its web endpoint."""

    def __init__(self, env: dict[str, str], double, shard: int, log: Path) -> None:
        self.port = _free_port()
        self.log = log
        self.process = BotProcess(
            {**env, "MAILSYNC_SHARD_IDS": str(shard), "MAILSYNC_HTTP_PORT": str(self.port)},
            double.api_base,
            double.ws_url,
            log,
        )

    async def get(self, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.port}{path}") as answer,
        ):
            return answer.status, await answer.text()

    async def health(self) -> tuple[int, dict]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.port}/healthz") as answer,
        ):
            return answer.status, await answer.json()

    async def metric(self, name: str) -> float:
        _status, text = await self.get("/metrics")
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[-1])
        return 0.0

    async def until_healthy(self, timeout: float = 60.0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                if self.process.process.poll() is not None:
                    raise AssertionError(f"the bot exited: {self.log.read_text()[-2000:]}")
                try:
                    status, body = await self.health()
                    if status == 200:
                        return body
                except aiohttp.ClientError:
                    pass  # not listening yet
                await asyncio.sleep(0.1)

    def logged(self, text: str) -> bool:
        return text in self.log.read_text()


def _guild(shard: int) -> GuildSpec:
    return GuildSpec(id=snowflake_on_shard(shard, 2), name=f"shard {shard}")


async def _add(harness: Harness, guild: GuildSpec, user, name: str) -> None:
    """/mail add in `guild` and the password modal, as its admin."""
    channel, admin = guild.channels[0].id, guild.members[0].user_id
    options = {
        **harness.add_options(user, name=name, interval=1),
        "channel": channel,
    }
    handle = await harness.double.slash_command(guild.id, channel, admin, "mail add", options)
    await handle.wait_for_modal(timeout=30)
    submit = await harness.double.submit_modal(
        guild.id, channel, admin, values={"password": user.password}
    )
    reply = await harness.reply_text(submit, timeout=30)
    assert "Watching" in reply, reply


def _titles(double, guild: GuildSpec) -> list[str]:
    return [p["embeds"][0]["title"] for p in double.channel_messages(guild.channels[0].id)]


async def test_two_processes_share_the_work_and_survive_kill_and_takeover(
    make_discord_double, dovecot, database_url, tmp_path
):
    """Shards 0 and 1 in two processes: each alert once; a standby for shard 1 waits
    (unhealthy, no gateway session) and doubles nothing; shard 0's process is SIGKILLed
    with an alert waiting in the outbox and mail arriving meanwhile: its replacement posts
    each once, the other process sends none of them; shard 1's holder stops and the
    standby takes over; a waiting process stops cleanly on SIGTERM. /healthz and /metrics
    follow all of it."""
    g0, g1 = _guild(0), _guild(1)
    double = await make_discord_double(guilds=[g0, g1], shard_count=2)
    harness = Harness(double, dovecot, settings=None)  # its command drivers only
    env = {
        "DISCORD_TOKEN": "fake-token",
        "MAILSYNC_SECRET_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "MAILSYNC_ALLOW_PRIVATE_HOSTS": "1",
        "MAILSYNC_SHARD_COUNT": "2",
        "SSL_CERT_FILE": dovecot.ca_file,
        "LOG_LEVEL": "INFO",
        "BENCH_FIRST_POLL_SPREAD": "1",  # a restart's first polls within a second
    }
    u0, u1 = dovecot.add_user(), dovecot.add_user()
    procs: list[Shard] = []

    def start(shard: int, name: str) -> Shard:
        procs.append(Shard(env, double, shard, tmp_path / f"{name}.log"))
        return procs[-1]

    engine = make_engine(database_url)
    try:
        p0, p1 = start(0, "p0"), start(1, "p1")
        for proc, shard in ((p0, "0"), (p1, "1")):
            body = await proc.until_healthy()
            assert list(body["shards"]) == [shard]  # only its own shard
            assert body["shards"][shard]["state"] == "connected"
        await _add(harness, g0, u0, "a0")
        await _add(harness, g1, u1, "a1")
        dovecot.append(u0, make_message(subject="first zero"))
        dovecot.append(u1, make_message(subject="first one"))
        await until(lambda: _titles(double, g0) and _titles(double, g1), 30)
        for proc in (p0, p1):
            _status, body = await proc.health()
            assert body["accounts_watched"] == 1
            assert body["outbox_backlog"] == 0
            assert await proc.metric("mailsync_alerts_sent_total") == 1
        assert _titles(double, g0) == ["first zero"]
        assert _titles(double, g1) == ["first one"]

        # A standby for shard 1 waits: unhealthy, no IDENTIFY, nothing doubled.
        standby = start(1, "standby")
        await until(lambda: standby.logged("waiting to take over"), 60)
        status, body = await standby.health()
        assert status == 503
        assert body["shards"]["1"] == {"connected": False, "state": "waiting", "latency_s": None}
        assert body["accounts_watched"] == 0
        dovecot.append(u1, make_message(subject="second one"))
        await until(lambda: len(_titles(double, g1)) == 2, 30)
        assert double.shard_sessions(1) == 1

        # SIGKILL shard 0's process with an alert waiting in the outbox.
        a0 = repo.find_account(engine, g0.id, "a0").id
        double.set_status("POST", rf"^/channels/{g0.channels[0].id}/messages$", 503)
        dovecot.append(u0, make_message(subject="waiting zero"))
        await until(lambda: outbox.pending_count(engine, a0) == 1, 30)
        p0.process.process.send_signal(signal.SIGKILL)
        p0.process.process.wait(10)
        dovecot.append(u0, make_message(subject="meanwhile zero"))
        double.clear_status()
        sent_by_p1 = await p1.metric("mailsync_alerts_sent_total")
        p0b = start(0, "p0b")
        await p0b.until_healthy()
        await until(lambda: len(_titles(double, g0)) == 3, 60)
        await until(lambda: outbox.pending_count(engine) == 0, 30)
        assert sorted(_titles(double, g0)) == ["first zero", "meanwhile zero", "waiting zero"]
        assert await p1.metric("mailsync_alerts_sent_total") == sent_by_p1
        assert await p0b.metric("mailsync_alerts_sent_total") == 2
        assert await p0b.metric('mailsync_polls_total{protocol="imap"}') >= 1

        # Shard 1's holder stops: the standby takes over and watches a1.
        p1.process.process.terminate()
        p1.process.process.wait(30)
        body = await standby.until_healthy()
        assert body["accounts_watched"] == 1
        assert standby.logged("took over shard(s) 1 of 2")
        assert double.shard_sessions(1) == 2
        dovecot.append(u1, make_message(subject="third one"))
        await until(lambda: len(_titles(double, g1)) == 3, 60)
        await until(lambda: outbox.pending_count(engine) == 0, 30)
        assert _titles(double, g1) == ["first one", "second one", "third one"]
        assert await standby.metric("mailsync_alerts_sent_total") == 1

        # A waiting process stops cleanly when told to (systemd stopping a standby).
        late = start(0, "late")
        await until(lambda: late.logged("waiting to take over"), 60)
        late.process.process.terminate()
        assert await asyncio.to_thread(late.process.process.wait, 30) == 0
        assert double.shard_sessions(0) == 2  # p0 and its replacement only
    finally:
        for proc in procs:
            proc.process.stop()
        engine.dispose()
