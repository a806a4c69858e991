"""/mail check: poll an account on demand."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs._errors import AccountNotFound
from cogs._group import attach_to_mail_group, detach_from_mail_group, guild_id_of
from storage import repo

if TYPE_CHECKING:
    from bot import MailsyncBot
    from cogs.alerts import Alerts


async def account_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    bot: MailsyncBot = interaction.client  # type: ignore[assignment]
    names = await asyncio.to_thread(repo.account_names, bot.engine, interaction.guild_id, current)
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names]


class Status(commands.Cog):
    def __init__(self, bot: MailsyncBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self._names = [c.name for c in self.__cog_app_commands__]
        attach_to_mail_group(self, self.bot.mail_group)

    async def cog_unload(self) -> None:
        detach_from_mail_group(self.bot.mail_group, self._names)

    @app_commands.command(name="check", description="Poll an account now")
    @app_commands.describe(account="the account to poll")
    @app_commands.autocomplete(account=account_autocomplete)
    async def check(self, interaction: discord.Interaction, account: str) -> None:
        guild_id = guild_id_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await asyncio.to_thread(repo.find_account, self.bot.engine, guild_id, account)
        if found is None or found.id is None:
            raise AccountNotFound(account)
        alerts: Alerts = self.bot.get_cog("Alerts")  # type: ignore[assignment]
        posted = await alerts.poll(found.id)
        noun = "message" if posted == 1 else "messages"
        await interaction.followup.send(
            f"Checked `{found.name}`: {posted} new {noun} posted to <#{found.channel_id}>.",
            ephemeral=True,
        )


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Status(bot))
