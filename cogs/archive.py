"""/mail archive: search the POP3 archive (the bot's local copy of downloaded mail)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str

from cogs import _ui
from cogs._autocomplete import account_autocomplete, find_account, still_same
from cogs._errors import UserError
from cogs._group import MailCommandsCog
from cogs._lang import member_t
from i18n import N_, Translator
from mail.types import Protocol
from storage import archive
from storage.models import Account

if TYPE_CHECKING:
    from bot import MailsyncBot

PAGE_SIZE = 10
MAX_QUERY = 100


class ArchivePager(discord.ui.View):
    """Older/Newer buttons. Only the member who searched, in the same guild, can page."""

    def __init__(
        self, bot: MailsyncBot, user_id: int, account: Account, query: str | None, t: Translator
    ):
        super().__init__(timeout=600)
        self.t = t  # the searcher's language: only they can page
        self.newer.label = t("Newer")
        self.older.label = t("Older")
        self.bot = bot
        self.user_id = user_id
        self.account = account
        self.query = query
        self.page = 0
        self.total = 0

    async def render(self) -> discord.Embed:
        self.account = await still_same(self.bot, self.account)
        rows, self.total = await asyncio.to_thread(
            archive.search,
            self.bot.engine,
            self.account.id,
            self.query,
            PAGE_SIZE,
            self.page * PAGE_SIZE,
        )
        pages = max(1, -(-self.total // PAGE_SIZE))
        self.newer.disabled = self.page == 0
        self.older.disabled = self.page + 1 >= pages
        return _ui.archive_embed(
            self.account.name, self.query, rows, self.page, pages, self.total, self.t
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.user_id and interaction.guild_id == self.account.guild_id

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, _item: discord.ui.Item
    ) -> None:
        await interaction.client.tree.on_error(interaction, error)  # type: ignore[arg-type]

    @discord.ui.button(label=N_("Newer"), style=discord.ButtonStyle.secondary)
    async def newer(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.page = max(0, self.page - 1)
        await interaction.response.edit_message(embed=await self.render(), view=self)

    @discord.ui.button(label=N_("Older"), style=discord.ButtonStyle.secondary)
    async def older(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.page += 1
        await interaction.response.edit_message(embed=await self.render(), view=self)


class Archive(MailCommandsCog):
    @app_commands.command(
        name="archive", description=locale_str("Search the mail the bot downloaded (POP3)")
    )
    @app_commands.describe(
        account=locale_str("the POP3 account"), query=locale_str("words in the sender or subject")
    )
    @app_commands.autocomplete(account=account_autocomplete)
    async def archive_(
        self, interaction: discord.Interaction, account: str, query: str | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        if found.protocol != Protocol.POP3:
            raise UserError(
                N_(
                    "IMAP mail stays on the server, so there is no local archive to "
                    "search; the archive holds what POP3 accounts download."
                )
            )
        query = (query or "").strip()[:MAX_QUERY] or None
        pager = ArchivePager(self.bot, interaction.user.id, found, query, member_t(interaction))
        embed = await pager.render()
        await interaction.followup.send(embed=embed, view=pager, ephemeral=True)


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Archive(bot))
