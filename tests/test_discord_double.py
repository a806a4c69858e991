"""The Discord double drives the real discord.py client end to end."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands, ui
from discord.ext import commands

from tests.plugins.discord_double import MANAGE_GUILD, DiscordDouble

CHANNEL_POSTS = r"^/channels/\d+/messages$"


class PasswordModal(ui.Modal, title="Account password"):
    """A modal mixing the two layouts discord.py 2.7 sends: an action row and a label."""

    host = ui.TextInput(label="Host")
    password = ui.Label(text="Password", component=ui.TextInput())

    def __init__(self, bot: MailBot, channel_id: int) -> None:
        super().__init__()
        self.bot = bot
        self.channel_id = channel_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        secret = self.password.component.value  # type: ignore[attr-defined]
        self.bot.seen["modal"] = (self.host.value, secret)
        channel = interaction.client.get_channel(self.channel_id)
        await channel.send(  # type: ignore[union-attr]
            f"@everyone account on {self.host.value} saved",
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await interaction.response.send_message("saved", ephemeral=True)


class ClickView(ui.View):
    def __init__(self, bot: MailBot) -> None:
        super().__init__(timeout=None)
        self.bot = bot

    @ui.button(label="Pause", custom_id="mailsync:pause")
    async def pause(self, interaction: discord.Interaction, button: ui.Button) -> None:
        self.bot.seen["clicked"] = interaction.user.id
        await interaction.response.edit_message(content="paused", view=None)


class MailBot(commands.Bot):
    """A small bot shaped like Mailsync: one /mail group, synced to the test guild."""

    def __init__(self, guild_id: int, *, intents: discord.Intents | None = None) -> None:
        super().__init__(command_prefix=commands.when_mentioned, intents=intents or _intents())
        self.guild_id = guild_id
        self.seen: dict[str, Any] = {}
        self.removed: asyncio.Event = asyncio.Event()
        self.resumed: asyncio.Event = asyncio.Event()
        self.synced: list[app_commands.AppCommand] = []
        self.tree.add_command(self._mail_group(), guild=discord.Object(guild_id))

    async def setup_hook(self) -> None:
        self.synced = await self.tree.sync(guild=discord.Object(self.guild_id))

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.seen["removed"] = guild.id
        self.removed.set()

    async def on_resumed(self) -> None:
        self.resumed.set()

    def _mail_group(self) -> app_commands.Group:
        bot = self
        mail = app_commands.Group(name="mail", description="Mail accounts")

        @mail.command(name="add", description="Add an account")
        async def add(
            interaction: discord.Interaction, channel: discord.TextChannel, name: str, port: int
        ) -> None:
            bot.seen["add"] = (channel, name, port, interaction.permissions.manage_guild)
            await interaction.response.send_message(f"{channel.id}:{name}:{port}", ephemeral=True)

        @mail.command(name="password", description="Set a password")
        async def password(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
            await interaction.response.send_modal(PasswordModal(bot, channel.id))

        @mail.command(name="remove", description="Remove an account")
        async def remove(interaction: discord.Interaction, account: str) -> None:
            await interaction.response.send_message(account, ephemeral=True)

        @remove.autocomplete("account")
        async def remove_account(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            names = ["ops@example.org", "support@example.org", "billing@example.com"]
            return [app_commands.Choice(name=n, value=n) for n in names if current in n]

        @mail.command(name="check", description="Check now")
        async def check(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True, ephemeral=True)
            await interaction.followup.send("checked", ephemeral=True)
            await interaction.edit_original_response(content="done")

        return mail


def _intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True  # exercises READY's member chunking (op 8)
    return intents


@pytest.fixture(autouse=True)
async def clean_finish(caplog: pytest.LogCaptureFixture) -> AsyncIterator[None]:
    """Fail a test that leaves tasks running or during which discord.py logged an error
    (a payload it could not parse, an exception in a command)."""
    yield
    me = asyncio.current_task()
    left: list[asyncio.Task[Any]] = []
    for _ in range(50):
        left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not left:
            break
        await asyncio.sleep(0.01)
    assert not left, f"tasks left running: {left}"
    records = caplog.get_records("setup") + caplog.get_records("call") + caplog.records
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    assert not errors, errors


@pytest.fixture
async def bot(discord_double: DiscordDouble) -> AsyncIterator[MailBot]:
    bot = MailBot(discord_double.guild_id)
    async with discord_double.running(bot):
        yield bot


async def test_client_reaches_ready_and_sees_the_guild(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """READY and GUILD_CREATE give discord.py the guild, its channels, roles and members."""
    d = discord_double
    guild = bot.get_guild(d.guild_id)
    assert guild is not None and guild.name == d.guild.name
    channel = bot.get_channel(d.channel_id)
    assert isinstance(channel, discord.TextChannel) and channel.guild == guild
    assert guild.default_role.id == guild.id
    assert guild.me is not None and guild.me.guild_permissions.send_messages
    assert guild.get_member(d.admin_id).guild_permissions.manage_guild  # type: ignore[union-attr]
    assert not guild.get_member(d.member_id).guild_permissions.manage_guild  # type: ignore[union-attr]
    assert bot.user is not None and bot.user.id == d.bot_user_id
    assert bot.latency < 1  # the first heartbeat was acknowledged
    assert bot.application_id == d.application_id
    assert [(r.method, r.path) for r in d.requests[:2]] == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
    ]
    assert d.gateway_connections[0] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    identify = next(f for f in d.gateway_log if f["dir"] == "in" and f["op"] == 2)
    assert identify["d"]["intents"] == bot.intents.value
    assert any(f["dir"] == "in" and f["op"] == 8 for f in d.gateway_log)  # members chunked


async def test_tree_sync_to_a_guild_records_the_put(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """tree.sync(guild=...) is a bulk PUT the double stores and echoes with ids."""
    d = discord_double
    put = await d.wait_for(method="PUT", path=r"/guilds/\d+/commands$")
    assert put.path == f"/applications/{d.application_id}/guilds/{d.guild_id}/commands"
    assert [c["name"] for c in put.json] == ["mail"]
    subcommands = [o["name"] for o in put.json[0]["options"]]
    assert subcommands == ["add", "password", "remove", "check"]
    stored = d.synced_commands(d.guild_id)
    assert [c.id for c in bot.synced] == [int(c["id"]) for c in stored]
    assert d.synced_commands() == []


async def test_slash_command_in_a_group_with_a_channel_option(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """/mail add resolves its channel option and the ephemeral reply is recorded."""
    d = discord_double
    call = await d.slash_command(
        d.guild_id,
        d.channel_id,
        d.admin_id,
        "mail add",
        {"channel": d.channel_id, "name": "ops", "port": 993},
    )
    reply = await call.wait_for_reply()
    assert reply["kind"] == "callback"
    assert reply["type"] == 4
    assert reply["body"]["data"]["flags"] == 64
    assert reply["body"]["data"]["content"] == f"{d.channel_id}:ops:993"
    channel, name, port, manage_guild = bot.seen["add"]
    assert isinstance(channel, discord.TextChannel) and channel.id == d.channel_id
    assert (name, port, manage_guild) == ("ops", 993, True)
    assert call.payload["data"]["resolved"]["channels"][str(d.channel_id)]["type"] == 0
    assert d.interaction_replies(call.token) == [reply]


async def test_member_permissions_follow_the_member_or_the_override(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """member.permissions is the member's resolved permissions unless overridden."""
    d = discord_double
    plain = await d.slash_command(
        d.guild_id,
        d.channel_id,
        d.member_id,
        "mail add",
        {"channel": d.channel_id, "name": "a", "port": 1},
    )
    await plain.wait_for_reply()
    assert bot.seen["add"][3] is False
    forced = await d.slash_command(
        d.guild_id,
        d.channel_id,
        d.member_id,
        "mail add",
        {"channel": d.channel_id, "name": "b", "port": 2},
        permissions=MANAGE_GUILD,
    )
    await forced.wait_for_reply()
    assert bot.seen["add"][3] is True


async def test_modal_submit_reaches_on_submit_and_posts_without_mentions(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """A modal's inputs (row and label layouts) reach on_submit; its post pings nobody."""
    d = discord_double
    call = await d.slash_command(
        d.guild_id, d.channel_id, d.admin_id, "mail password", {"channel": d.channel_id}
    )
    modal = await call.wait_for_modal()
    assert modal["title"] == "Account password"
    assert [c["type"] for c in modal["components"]] == [1, 18]
    submit = await d.submit_modal(
        d.guild_id,
        d.channel_id,
        d.admin_id,
        values={"Host": "imap.example.org", "Password": "s3cret"},
    )
    reply = await submit.wait_for_reply()
    assert (reply["type"], reply["body"]["data"]["flags"]) == (4, 64)
    assert bot.seen["modal"] == ("imap.example.org", "s3cret")
    [posted] = d.channel_messages(d.channel_id)
    assert posted["content"] == "@everyone account on imap.example.org saved"
    assert posted["allowed_mentions"] == {"parse": []}


async def test_autocomplete_returns_choices(discord_double: DiscordDouble, bot: MailBot) -> None:
    """An autocomplete interaction comes back as a type 8 callback with the bot's choices."""
    d = discord_double
    choices = await d.autocomplete_choices(
        d.guild_id, d.channel_id, d.admin_id, "mail remove", {"account": "example.org"}, "account"
    )
    assert choices == [
        {"name": "ops@example.org", "value": "ops@example.org"},
        {"name": "support@example.org", "value": "support@example.org"},
    ]


async def test_defer_followup_and_edit_are_recorded_in_order(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """Defer, followup and edit of the original reply are one ordered reply list."""
    d = discord_double
    call = await d.slash_command(d.guild_id, d.channel_id, d.admin_id, "mail check", {})
    await call.wait_for_reply(kind="edit")
    kinds = [(r["kind"], r["type"]) for r in call.replies]
    assert kinds == [("callback", 5), ("followup", None), ("edit", None)]
    assert call.replies[0]["body"]["data"]["flags"] == 64
    assert call.replies[1]["body"]["content"] == "checked"
    assert d.message(int(call.replies[2]["message_id"]))["content"] == "done"  # type: ignore[index]


async def test_rate_limit_then_server_error_delivers_the_post_once(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """discord.py waits out a 429 itself, raises on 503; one retry then posts exactly once."""
    d = discord_double
    d.fail_next("POST", CHANNEL_POSTS, statuses=[429, 503], retry_after=0.2)
    channel = bot.get_channel(d.channel_id)
    assert isinstance(channel, discord.TextChannel)
    started = time.monotonic()
    with pytest.raises(discord.DiscordServerError):
        await channel.send("new mail")
    message = await channel.send("new mail")
    posts = d.find("POST", CHANNEL_POSTS)
    assert [r.status for r in posts] == [429, 503, 200]
    assert posts[1].monotonic - posts[0].monotonic >= 0.2
    assert time.monotonic() - started < 2
    assert [m["content"] for m in d.channel_messages(d.channel_id)] == ["new mail"]
    assert message.id == int(posts[2].response["id"])
    assert message.author.id == d.bot_user_id


async def test_persistent_status_until_cleared(discord_double: DiscordDouble, bot: MailBot) -> None:
    """set_status answers every matching request until clear_status."""
    d = discord_double
    d.set_status("POST", CHANNEL_POSTS, 403)
    channel = bot.get_channel(d.channel_id)
    assert isinstance(channel, discord.TextChannel)
    for _ in range(2):
        with pytest.raises(discord.Forbidden):
            await channel.send("x")
    d.clear_status()
    await channel.send("y")
    assert [m["content"] for m in d.channel_messages(d.channel_id)] == ["y"]


async def test_unknown_routes_are_recorded_as_404(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """A route the double lacks answers 404 JSON and stays visible in the record."""
    d = discord_double
    with pytest.raises(discord.NotFound):
        await bot.fetch_invite("abc")
    assert d.requests[-1].status == 404
    assert d.requests[-1].response == {"message": "Unknown", "code": 0}


async def test_button_click_updates_the_message(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """A button press dispatches to the view and its edit_message is a type 7 callback."""
    d = discord_double
    channel = bot.get_channel(d.channel_id)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("new mail", view=ClickView(bot))
    click = await d.click_button(d.guild_id, d.channel_id, d.admin_id, "mailsync:pause", message.id)
    reply = await click.wait_for_reply()
    assert reply["type"] == 7
    assert bot.seen["clicked"] == d.admin_id
    assert d.message(message.id)["content"] == "paused"  # type: ignore[index]


async def test_guild_removal_and_gateway_resume(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """GUILD_DELETE reaches on_guild_remove; a dropped socket is RESUMEd on the same session."""
    d = discord_double
    await d.disconnect_gateway()
    await asyncio.wait_for(bot.resumed.wait(), 5)
    resume = next(f for f in d.gateway_log if f["dir"] == "in" and f["op"] == 6)
    assert resume["d"]["session_id"] == bot.ws.session_id
    await d.remove_guild(d.guild_id)
    await asyncio.wait_for(bot.removed.wait(), 5)
    assert bot.seen["removed"] == d.guild_id
    assert bot.get_guild(d.guild_id) is None


async def test_multipart_posts_are_parsed(discord_double: DiscordDouble, bot: MailBot) -> None:
    """A post with a file records payload_json as the body and the file's bytes."""
    d = discord_double
    channel = bot.get_channel(d.channel_id)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("digest", file=discord.File(io.BytesIO(b"hello"), "digest.txt"))
    [posted] = d.channel_messages(d.channel_id)
    assert posted["content"] == "digest"
    request = d.find("POST", CHANNEL_POSTS)[-1]
    assert [(f["filename"], f["data"]) for f in request.files] == [("digest.txt", b"hello")]
    assert [(a.filename, a.size) for a in message.attachments] == [("digest.txt", 5)]


async def test_driving_an_unknown_command_or_option_fails_loudly(
    discord_double: DiscordDouble, bot: MailBot
) -> None:
    """The double refuses commands that were never synced and options they do not have."""
    d = discord_double
    with pytest.raises(LookupError, match="never synced"):
        await d.slash_command(d.guild_id, d.channel_id, d.admin_id, "nope", {})
    with pytest.raises(LookupError, match="no option 'chanel'"):
        await d.slash_command(d.guild_id, d.channel_id, d.admin_id, "mail add", {"chanel": 1})
    with pytest.raises(LookupError, match="no subcommand"):
        await d.slash_command(d.guild_id, d.channel_id, d.admin_id, "mail nope", {})
