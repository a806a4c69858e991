"""/mail language: the language of what the bot posts in this server's channels (alerts,
digests, notices, boards, thread names). Replies to a member follow that member's own
Discord language whatever this says."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str

from cogs._group import MailCommandsCog, guild_id_of
from cogs._lang import member_t
from i18n import Translator, catalog_language
from storage import repo
from storage.guild_language import AUTO

if TYPE_CHECKING:
    from bot import MailsyncBot

# Each language by its own name, as language pickers show them.
NAMES = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)"}
CHOICES = [
    app_commands.Choice(name="English", value="en"),
    app_commands.Choice(name="Español", value="es"),
    app_commands.Choice(name="Português (Brasil)", value="pt-BR"),
    app_commands.Choice(
        name=locale_str("auto: the server's language if it is a Community server"), value=AUTO
    ),
]


class Language(MailCommandsCog):
    @app_commands.command(
        name="language",
        description=locale_str("Set or show the language of this server's alerts and posts"),
    )
    @app_commands.describe(
        language=locale_str("en, es, pt-BR, or auto (leave it out to see the current setting)")
    )
    @app_commands.choices(language=CHOICES)
    async def language(
        self, interaction: discord.Interaction, language: app_commands.Choice[str] | None = None
    ) -> None:
        guild_id = guild_id_of(interaction)
        languages = self.bot.languages
        t = member_t(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if language is not None:
            await languages.store(guild_id, language.value)
            # boards are edited in the new language now (their hash changes with it)
            rows = await asyncio.to_thread(repo.list_accounts, self.bot.engine, guild_id)
            for row in rows:
                self.watcher.boards.touch(row.account.id)
        said = _setting(t, languages.setting(guild_id), NAMES[languages(guild_id)])
        if language is None:
            text = t(
                "Channel posts in this server (alerts, digests, notices, boards, thread "
                "names) use: {setting}. Change it with `/mail language language:`.",
                setting=said,
            )
        else:
            text = t(
                "\N{WHITE HEAVY CHECK MARK} Channel posts in this server (alerts, digests, "
                "notices, boards, thread names) now use: {setting}. Replies to each member "
                "follow that member's Discord language.",
                setting=said,
            )
        await interaction.followup.send(text, ephemeral=True)


def _setting(t: Translator, setting: str, effective: str) -> str:
    if setting != AUTO:
        return NAMES[catalog_language(setting)]
    return t(
        "auto, which is {language} now (the server's language when it is a Community "
        "server, else English)",
        language=effective,
    )


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Language(bot))
