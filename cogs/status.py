"""/mail check, folders and quota: what an account looks like right now."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str

from cogs import _ui
from cogs._autocomplete import account_autocomplete, find_account
from cogs._group import MailCommandsCog
from cogs._lang import member_t
from i18n import Translator
from mail import imap, imap_quota, pop3
from mail.quota import QuotaReport, QuotaResource, QuotaRoot
from mail.types import Protocol
from storage.models import Account

if TYPE_CHECKING:
    from bot import MailsyncBot


class Status(MailCommandsCog):
    async def _account(self, interaction: discord.Interaction, name: str) -> Account:
        return await find_account(self.bot, interaction, name)

    @app_commands.command(
        name="folders", description=locale_str("Every folder with its message counts")
    )
    @app_commands.describe(account=locale_str("the account to show"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def folders(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self._account(interaction, account)
        t = member_t(interaction)
        title = t("Folders of {account}", account=_ui.truncate(found.name, 150))
        if found.protocol == Protocol.POP3:
            cfg = await self.watcher.credentials(found)
            box = await asyncio.to_thread(pop3.baseline, cfg, self.bot.settings.allow_private_hosts)
            embed = discord.Embed(
                title=title,
                description=_ui.pop3_folders_text(box.count, box.size_bytes, t),
                colour=_ui.NEW_MAIL_COLOUR,
            )
            await interaction.followup.send(embed=embed, ephemeral=True)
            return
        statuses = await self.watcher.on_session(found, imap.folder_statuses)
        pages = _ui.folder_pages(statuses, t=t)
        for number, page in enumerate(pages, start=1):
            numbered = f"{title} ({number}/{len(pages)})" if len(pages) > 1 else title
            embed = discord.Embed(title=numbered, description=page, colour=_ui.NEW_MAIL_COLOUR)
            await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="quota", description=locale_str("Mailbox usage against its limit"))
    @app_commands.describe(account=locale_str("the account to show"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def quota(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self._account(interaction, account)
        t = member_t(interaction)
        if found.protocol == Protocol.POP3:
            await interaction.followup.send(embed=await self._pop3_quota(found, t), ephemeral=True)
            return
        report = await self.watcher.on_session(found, imap_quota.quota)
        embed = _ui.quota_report_embed(found.name, report, t)
        await interaction.followup.send(embed=embed, ephemeral=True)

    async def _pop3_quota(self, account: Account, t: Translator) -> discord.Embed:
        """POP3 has no quota command: the STAT size against the declared mailbox limit."""
        if not account.mailbox_limit_mb:
            report = QuotaReport(supported=False)
            embed = _ui.quota_report_embed(account.name, report, t)
            embed.description = t(
                "POP3 has no quota command. Declare the mailbox size with "
                "`/mail edit mailbox_limit_mb:` to see usage and get warnings."
            )
            return embed
        cfg = await self.watcher.credentials(account)
        box = await asyncio.to_thread(pop3.baseline, cfg, self.bot.settings.allow_private_hosts)
        limit = QuotaResource("STORAGE", box.size_bytes // 1024, account.mailbox_limit_mb * 1024)
        report = QuotaReport(True, (QuotaRoot(t("declared mailbox limit"), (limit,)),))
        return _ui.quota_report_embed(account.name, report, t)

    @app_commands.command(name="check", description=locale_str("Poll an account now"))
    @app_commands.describe(account=locale_str("the account to poll"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def check(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self._account(interaction, account)
        posted = await self.watcher.poll(found.id, with_quota=True)
        t = member_t(interaction)
        text = t.ngettext(
            "Checked `{name}`: {count} new message posted to {channel}.",
            "Checked `{name}`: {count} new messages posted to {channel}.",
            posted,
            name=found.name,
            channel=_ui.channel_ref(found.channel_id),
        )
        await interaction.followup.send(text, ephemeral=True)


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Status(bot))
