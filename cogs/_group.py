"""The one `/mail` group. Each feature cog attaches its own subcommands to it, so a
feature stays in its own file while users see a single group."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

if TYPE_CHECKING:
    from bot import MailsyncBot
    from cogs.alerts import Alerts
    from watch.engine import Watcher


class MailGroup(app_commands.Group):
    def __init__(self) -> None:
        super().__init__(
            name="mail",
            description=locale_str("Watch mail accounts and post alerts to channels"),
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Admins can override command permissions in the server settings, so the bot
        # checks Manage Server itself as well.
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True


class MailCommandsCog(commands.Cog):
    """A cog whose app commands are /mail subcommands: they are moved under the shared
    group when the cog loads (Cog._inject reads __cog_app_commands__ right after
    cog_load) and taken out again when it unloads."""

    def __init__(self, bot: MailsyncBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self._names = [c.name for c in self.__cog_app_commands__]
        for command in self.__cog_app_commands__:
            self.bot.mail_group.add_command(command, override=True)
        self.__cog_app_commands__ = []

    async def cog_unload(self) -> None:
        for name in self._names:
            self.bot.mail_group.remove_command(name)

    @property
    def alerts(self) -> Alerts:
        return self.bot.get_cog("Alerts")  # type: ignore[return-value]

    @property
    def watcher(self) -> Watcher:
        return self.alerts.watcher


def guild_id_of(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id
