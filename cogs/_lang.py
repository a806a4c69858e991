"""Which language a text is shown in. Replies follow the member (Interaction.locale);
channel posts follow the guild (/mail language, else `auto`: the guild's preferred locale
when it is a Community guild, else English). Command descriptions and choice names reach
Discord translated through CatalogTranslator; command and option names stay English."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from i18n import DEFAULT, Translator, catalog_language, translator
from storage import guild_language
from storage.guild_language import AUTO

if TYPE_CHECKING:
    from sqlalchemy import Engine

# Names are the contract users type and docs quote: never localized.
_NAMES = (Where.command_name, Where.group_name, Where.parameter_name)


def member_t(interaction: discord.Interaction) -> Translator:
    """The translator for the member who caused this interaction."""
    return translator(interaction.locale.value)


class GuildLanguages:
    """The stored setting of each guild, kept in memory so a notice rendered on the event
    loop or in a worker thread never waits for the store: loaded at start, updated by
    /mail language (a guild's interactions and its posts are handled by the same process:
    both follow its shard)."""

    def __init__(self, engine: Engine, client: discord.Client) -> None:
        self._engine = engine
        self._client = client
        self._stored: dict[int, str] = {}

    async def load(self) -> None:
        self._stored = await asyncio.to_thread(guild_language.all_set, self._engine)

    def setting(self, guild_id: int) -> str:
        """en, es, pt-BR or auto."""
        return self._stored.get(guild_id, AUTO)

    async def store(self, guild_id: int, language: str) -> None:
        await asyncio.to_thread(guild_language.set_language, self._engine, guild_id, language)
        if language == AUTO:
            self._stored.pop(guild_id, None)
        else:
            self._stored[guild_id] = language

    def __call__(self, guild_id: int) -> str:
        """The catalog language of the guild's channel posts, decided now."""
        setting = self.setting(guild_id)
        if setting != AUTO:
            return catalog_language(setting)
        guild = self._client.get_guild(guild_id)
        if guild is not None and "COMMUNITY" in guild.features:
            return catalog_language(guild.preferred_locale.value)
        return DEFAULT


class CatalogTranslator(app_commands.Translator):
    """Descriptions and choice names from the catalogs, for every Discord locale that has
    one (es-ES and es-419 share Spanish); None leaves Discord's default (English)."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if context.location in _NAMES:
            return None
        language = catalog_language(locale.value)
        if language == DEFAULT:
            return None
        text = translator(language)(string.message)
        return text if text != string.message else None
