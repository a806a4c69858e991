"""The Discord double's buttons, component interactions, roles, threads and forum posts,
driven by the real discord.py client (a small bot per test)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import ui

from cogs._action_ids import TEMPLATE, ActionId, from_match
from mail.actions import Action
from tests.plugins.discord_double import MANAGE_GUILD, ChannelSpec, DiscordDouble, GuildSpec

SEEN: dict[str, Any] = {}  # what the DynamicItem saw, across bot instances


class ActionButton(ui.DynamicItem[ui.Button], template=TEMPLATE):
    """Shaped as the alert buttons will be: the custom_id carries everything, so any bot
    instance (after a restart too) can handle a press."""

    def __init__(self, action_id: ActionId, label: str) -> None:
        super().__init__(ui.Button(label=label, custom_id=action_id.encode()))
        self.action_id = action_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]) -> ActionButton:
        return cls(from_match(match), item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        SEEN["pressed"] = (interaction.client, self.action_id, interaction.user.id)
        view = ui.View(timeout=None)
        view.add_item(ui.Button(label="Mark unread", custom_id="later", disabled=True))
        await interaction.response.edit_message(content="Read by someone", view=view)


class Bot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default())
        self.seen: dict[str, Any] = {}

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ActionButton)


class RolesView(ui.View):
    """Reports who pressed, with roles and permissions, and answers in several ways."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(timeout=None)
        self.bot = bot

    @ui.button(label="Who", custom_id="who")
    async def who(self, interaction: discord.Interaction, button: ui.Button) -> None:
        member = interaction.user
        assert isinstance(member, discord.Member)
        self.bot.seen["who"] = (
            member.id,
            sorted(r.name for r in member.roles),
            interaction.permissions.manage_guild,
            interaction.channel_id,
        )
        await interaction.response.send_message("only you see this", ephemeral=True)

    @ui.button(label="Later", custom_id="later")
    async def later(self, interaction: discord.Interaction, button: ui.Button) -> None:
        await interaction.response.defer()  # type 6: the message is edited afterwards
        await interaction.edit_original_response(content="handled later", view=None)
        await interaction.followup.send("done", ephemeral=True)

    @ui.button(label="Off", custom_id="off", disabled=True)
    async def off(self, interaction: discord.Interaction, button: ui.Button) -> None:
        raise AssertionError("a disabled button cannot be pressed")

    def link(self) -> RolesView:
        self.add_item(ui.Button(label="Docs", url="https://example.com/"))
        return self


@pytest.fixture(autouse=True)
async def clean_finish(caplog: pytest.LogCaptureFixture) -> AsyncIterator[None]:
    """No discord.py error logged (a payload it could not parse, a failed callback)."""
    SEEN.clear()
    yield
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


@pytest.fixture
async def bot(discord_double: DiscordDouble) -> AsyncIterator[Bot]:
    client = Bot()
    async with discord_double.running(client):
        yield client


async def _until(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_buttons_are_stored_and_a_press_carries_member_roles(discord_double, bot):
    """Components sent with a post are stored as sent; a press dispatches type 3 with the
    message and the member's roles and permissions; an ephemeral type 4 reply is recorded."""
    d = discord_double
    channel = bot.get_channel(d.channel_id)
    message = await channel.send("new mail", view=RolesView(bot).link())
    assert [b["label"] for b in d.buttons(message.id)] == ["Who", "Later", "Off", "Docs"]
    assert d.button_labels(message.id) == ["Who", "Later", "Docs"]
    fetched = await channel.fetch_message(message.id)
    assert [c.label for c in fetched.components[0].children][:2] == ["Who", "Later"]

    press = await d.press(message.id, d.member_id, label="Who")
    reply = await press.wait_for_reply()
    assert press.payload["type"] == 3 and press.payload["data"]["custom_id"] == "who"
    assert press.payload["message"]["id"] == str(message.id)
    assert (reply["type"], reply["body"]["data"]["flags"] & 64) == (4, 64)
    assert bot.seen["who"] == (d.member_id, ["@everyone"], False, d.channel_id)
    await d.press(message.id, d.admin_id, custom_id="who")
    await _until(lambda: bot.seen["who"][0] == d.admin_id)
    assert bot.seen["who"][1:3] == (["@everyone", "Admins"], True)


async def test_press_refuses_what_a_member_cannot_press(discord_double, bot):
    """A disabled button, a link button, a missing one or an unknown message: LookupError,
    and nothing is dispatched."""
    d = discord_double
    message = await bot.get_channel(d.channel_id).send("x", view=RolesView(bot).link())
    for kwargs in ({"label": "Off"}, {"label": "Docs"}, {"custom_id": "nope"}):
        with pytest.raises(LookupError):
            await d.press(message.id, d.admin_id, **kwargs)
    with pytest.raises(LookupError):
        await d.press(12345, d.admin_id, label="Who")
    assert not any(f.get("t") == "INTERACTION_CREATE" for f in d.gateway_log)


async def test_deferred_update_then_edit_and_followup(discord_double, bot):
    """defer() on a button is callback type 6; edit_original_response then edits the
    message the button is on; a followup is recorded after it."""
    d = discord_double
    message = await bot.get_channel(d.channel_id).send("x", view=RolesView(bot))
    press = await d.press(message.id, d.admin_id, label="Later")
    followup = await press.wait_for_reply(kind="followup")
    kinds = [(r["kind"], r["type"]) for r in press.replies]
    assert kinds == [("callback", 6), ("edit", None), ("followup", None)]
    assert d.message(message.id)["content"] == "handled later"
    assert d.buttons(message.id) == []
    assert followup["body"]["flags"] & 64


async def test_dynamic_item_buttons_survive_a_restart(discord_double):
    """A DynamicItem button posted by one bot instance is handled by the next one (no view
    kept in memory), which edits the message in place (type 7) with new buttons."""
    d = discord_double
    action_id = ActionId(Action.READ, 7, 3, 1700000000, 42)
    first = Bot()
    async with d.running(first):
        view = ui.View(timeout=None)
        view.add_item(ActionButton(action_id, "Mark read"))
        message = await first.get_channel(d.channel_id).send("new mail", view=view)
    second = Bot()
    async with d.running(second):
        press = await d.press(message.id, d.admin_id, label="Mark read")
        reply = await press.wait_for_reply()
    assert reply["type"] == 7
    assert SEEN["pressed"] == (second, action_id, d.admin_id)
    assert d.message(message.id)["content"] == "Read by someone"
    assert [(b["label"], b.get("disabled")) for b in d.buttons(message.id)] == [
        ("Mark unread", True)
    ]


async def test_roles_and_members_added_while_running(discord_double, bot):
    """A new role with Manage Server and a member holding it reach discord.py's cache, and
    a press by that member carries the role and the computed permission."""
    d = discord_double
    role = await d.add_role(d.guild_id, "Inbox team", MANAGE_GUILD)
    member = await d.add_member(d.guild_id, "alice", [role.id])
    watcher = await d.add_member(d.guild_id, "bob")
    assert d.has_manage_guild(d.guild_id, member.user_id)
    assert not d.has_manage_guild(d.guild_id, watcher.user_id)
    guild = bot.get_guild(d.guild_id)
    await _until(lambda: guild.get_role(role.id) is not None)
    message = await bot.get_channel(d.channel_id).send("x", view=RolesView(bot))
    await d.press(message.id, member.user_id, label="Who")
    await _until(lambda: "who" in bot.seen)
    assert bot.seen["who"][:3] == (member.user_id, ["@everyone", "Inbox team"], True)
    await d.set_member_roles(d.guild_id, watcher.user_id, [role.id])
    assert d.has_manage_guild(d.guild_id, watcher.user_id)


async def test_thread_from_a_message_and_posts_into_it(discord_double, bot):
    """create_thread on a message makes a thread with the message's id (THREAD_CREATE
    reaches the bot); sends go into it; a second thread on that message is refused; a
    button pressed inside the thread reports the thread as the channel."""
    d = discord_double
    message = await bot.get_channel(d.channel_id).send("first alert")
    thread = await message.create_thread(name="Re: plans")
    assert thread.id == message.id and thread.parent_id == d.channel_id
    await _until(lambda: bot.get_channel(thread.id) is not None)
    reply = await thread.send("second alert", view=RolesView(bot))
    assert d.thread_of(message.id)["name"] == "Re: plans"
    assert [m["content"] for m in d.messages_in(thread.id)] == ["second alert"]
    assert d.message(message.id)["thread"]["id"] == str(thread.id)
    with pytest.raises(discord.HTTPException) as refused:
        await message.create_thread(name="again")
    assert refused.value.code == 160004
    await d.press(reply.id, d.admin_id, label="Who")
    await _until(lambda: "who" in bot.seen)
    assert bot.seen["who"][3] == thread.id


async def test_forum_post_is_a_thread_titled_by_name(make_discord_double):
    """In a forum, create_thread with a message makes a post titled by `name` whose first
    message has the thread's id; posting to the forum itself is refused."""
    forum_spec = ChannelSpec(name="inbox", type=15)
    d: DiscordDouble = await make_discord_double([GuildSpec(channels=[ChannelSpec(), forum_spec])])
    bot = Bot()
    async with d.running(bot):
        forum = bot.get_channel(forum_spec.id)
        assert isinstance(forum, discord.ForumChannel)
        embed = discord.Embed(title="Quarterly numbers")
        post = await forum.create_thread(
            name="Quarterly numbers",
            embed=embed,
            view=RolesView(bot),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await post.thread.send("a reply in the same post")
        with pytest.raises(discord.HTTPException) as refused:
            await bot.get_partial_messageable(forum.id).send("not a post")
    assert refused.value.code == 50008
    (thread,) = d.threads(forum_spec.id)
    assert thread["name"] == "Quarterly numbers" and thread["id"] == str(post.thread.id)
    starter, second = d.messages_in(post.thread.id)
    assert starter["id"] == str(post.thread.id) == str(post.message.id)
    assert starter["embeds"][0]["title"] == "Quarterly numbers"
    assert [b["label"] for b in d.buttons(int(starter["id"]))][:1] == ["Who"]
    assert second["content"] == "a reply in the same post"
    assert d.channel_messages(post.thread.id)[0]["allowed_mentions"] == {"parse": []}
