"""/mail check, folders and quota: what an account looks like right now."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs import _ui
from cogs._errors import AccountNotFound
from cogs._group import attach_to_mail_group, detach_from_mail_group, guild_id_of
from mail import imap
from mail.types import Protocol
from storage import repo
from storage.models import Account

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

    @property
    def alerts(self) -> Alerts:
        return self.bot.get_cog("Alerts")  # type: ignore[return-value]

    async def _account(self, interaction: discord.Interaction, name: str) -> Account:
        found = await asyncio.to_thread(
            repo.find_account, self.bot.engine, guild_id_of(interaction), name
        )
        if found is None or found.id is None:
            raise AccountNotFound(name)
        return found

    @app_commands.command(name="folders", description="Every folder with its message counts")
    @app_commands.describe(account="the account to show")
    @app_commands.autocomplete(account=account_autocomplete)
    async def folders(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self._account(interaction, account)
        if found.protocol != Protocol.IMAP:
            raise AccountNotFound(account)  # POP3 folders arrive with POP3 support
        statuses = await asyncio.to_thread(
            imap.account_folders,
            self.alerts.config_of(found),
            self.bot.settings.allow_private_hosts,
        )
        pages = _ui.folder_pages(statuses)
        for number, page in enumerate(pages, start=1):
            title = f"Folders of {_ui.truncate(found.name, 150)}"
            if len(pages) > 1:
                title += f" ({number}/{len(pages)})"
            embed = discord.Embed(title=title, description=page, colour=_ui.NEW_MAIL_COLOUR)
            await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="quota", description="Mailbox usage against its limit")
    @app_commands.describe(account="the account to show")
    @app_commands.autocomplete(account=account_autocomplete)
    async def quota(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self._account(interaction, account)
        report = await asyncio.to_thread(
            imap.account_quota,
            self.alerts.config_of(found),
            self.bot.settings.allow_private_hosts,
        )
        embed = _ui.quota_report_embed(found.name, report)
        await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="check", description="Poll an account now")
    @app_commands.describe(account="the account to poll")
    @app_commands.autocomplete(account=account_autocomplete)
    async def check(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self._account(interaction, account)
        posted = await self.alerts.poll(found.id)
        noun = "message" if posted == 1 else "messages"
        await interaction.followup.send(
            f"Checked `{found.name}`: {posted} new {noun} posted to <#{found.channel_id}>.",
            ephemeral=True,
        )


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Status(bot))
