"""Fixtures that run bot.py's MailsyncBot against the Discord double and a real mail server
(Dovecot, or the one MAILSYNC_TEST_IMAP_SERVER selects)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
from cryptography.fernet import Fernet

import bot as bot_module
from mail import net
from storage import outbox, repo
from tests.plugins.discord_double import DiscordDouble
from tests.plugins.dovecot import Dovecot, MailUser
from tests.plugins.mailserver import MailServer

T = TypeVar("T")


class Harness:
    """Drives the bot the way a server admin would: slash commands, modals, channel posts."""

    def __init__(self, double: DiscordDouble, server: MailServer, settings: bot_module.Settings):
        self.double = double
        self.server = server  # the selected mail server: any_server tests use this one
        self.settings = settings
        self.bot: bot_module.MailsyncBot | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[bot_module.MailsyncBot]:
        """Start bot.py's bot (setup_hook: migrations, cogs, scheduler, sync); close on exit."""
        self.bot = bot_module.build_bot(self.settings)
        mark = self.double.mark()
        try:
            async with self.double.running(self.bot, token=self.settings.discord_token):
                await self.double.wait_for(method="PUT", path=r"/commands$", after=mark)
                yield self.bot
        finally:
            self.bot.engine.dispose()

    @property
    def dovecot(self) -> Dovecot:
        """The server when it is Dovecot (tests about Dovecot's particulars use this)."""
        if not isinstance(self.server, Dovecot):
            raise TypeError(f"this test needs Dovecot, the selected server is {self.server.name}")
        return self.server

    async def posts(self, at_least: int = 0, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Channel posts once the outbox has nothing pending (and at least `at_least` exist)."""
        assert self.bot is not None
        async with asyncio.timeout(timeout):
            while True:
                pending = await asyncio.to_thread(outbox.pending_count, self.bot.engine)
                posts = self.double.channel_messages(self.double.channel_id)
                if pending == 0 and len(posts) >= at_least:
                    return posts
                await asyncio.sleep(0.05)

    async def settled(self, at_least: int = 0, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Channel posts once no poll runs or waits and the outbox has nothing pending."""
        await until(lambda: not self.watcher._again, timeout)
        return await self.posts(at_least, timeout)

    def idle_client(self, account_id: int) -> Any:
        """The connection the bot's IDLE hub is watching for the account, or None."""
        watch = self.watcher.hub._watches.get(account_id)
        return None if watch is None else watch.client

    async def titles(self, at_least: int = 0) -> list[str]:
        return [p["embeds"][0]["title"] for p in await self.posts(at_least)]

    def account_id(self, name: str) -> int:
        assert self.bot is not None
        account = repo.find_account(self.bot.engine, self.double.guild_id, name)
        assert account is not None, name
        return account.id

    @property
    def alerts(self):
        assert self.bot is not None
        return self.bot.get_cog("Alerts")

    @property
    def watcher(self):
        return self.alerts.watcher

    async def command(self, name: str, options: dict[str, Any] | None = None, **kw: Any):
        return await self.double.slash_command(
            kw.pop("guild_id", self.double.guild_id),
            kw.pop("channel_id", self.double.channel_id),
            kw.pop("user_id", self.double.admin_id),
            name,
            options or {},
            **kw,
        )

    async def reply_text(self, handle, timeout: float = 15.0) -> str:
        """The text of the interaction's first message reply (callback type 4 or followup)."""
        async with asyncio.timeout(timeout):
            while not (replies := [r for r in handle.replies if not _is_placeholder(r)]):
                await asyncio.sleep(0.02)
        body = replies[0]["body"]
        data = body.get("data", body)
        parts = [data.get("content") or ""]
        for embed in data.get("embeds") or []:
            parts.append(embed.get("title") or "")
            parts.append(embed.get("description") or "")
            parts.extend(f"{f['name']}: {f['value']}" for f in embed.get("fields") or [])
        return "\n".join(parts)

    def add_options(self, user: MailUser, **extra: Any) -> dict[str, Any]:
        options = {
            "protocol": "imap",
            "host": self.server.host,
            "username": user.name,
            "channel": self.double.channel_id,
            "port": self.server.imaps_port,
        }
        options.update(extra)
        return options

    async def add_account(
        self, user: MailUser, password: str | None = None, timeout: float = 15.0, **extra: Any
    ):
        """/mail add, then the password modal; returns (modal-submit handle, reply text).
        TimeoutError when the modal or the reply takes longer than `timeout`."""
        handle = await self.command("mail add", self.add_options(user, **extra))
        await handle.wait_for_modal(timeout=timeout)
        submit = await self.double.submit_modal(
            self.double.guild_id,
            self.double.channel_id,
            self.double.admin_id,
            values={"password": user.password if password is None else password},
        )
        return submit, await self.reply_text(submit, timeout)


async def until(condition: Callable[[], T], timeout: float = 15.0) -> T:
    """Wait until `condition()` is true (checked every 50 ms); returns its value."""
    async with asyncio.timeout(timeout):
        while not (value := condition()):
            await asyncio.sleep(0.05)
    return value


def _is_placeholder(reply: dict[str, Any]) -> bool:
    """A deferred 'thinking' callback (type 5) or a modal (type 9) carries no text."""
    return reply["kind"] == "callback" and reply["type"] in (5, 6, 9)


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def harness(discord_double, mail_server, database_url, monkeypatch, secret_key) -> Harness:
    monkeypatch.setenv("SSL_CERT_FILE", mail_server.ca_file)
    net.reset_tls_context()
    settings = bot_module.Settings(
        discord_token="fake-token",
        secret_key=secret_key,
        database_url=database_url,
        guild_id=discord_double.guild_id,
        allow_private_hosts=True,  # the mail server listens on loopback
    )
    yield Harness(discord_double, mail_server, settings)
    net.reset_tls_context()
