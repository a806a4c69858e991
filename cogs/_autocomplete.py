"""Autocomplete for `account` options: only the names of the invoking guild's accounts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from cogs._errors import AccountNotFound
from cogs._group import guild_id_of
from cogs._validate import printable
from storage import repo
from storage.models import Account

if TYPE_CHECKING:
    from bot import MailsyncBot


async def account_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    if interaction.guild_id is None:
        return []
    bot: MailsyncBot = interaction.client  # type: ignore[assignment]
    if not interaction.permissions.manage_guild:  # autocomplete skips the group's check
        return []
    typed = "".join(c for c in current if printable(c))[:100]
    names = await asyncio.to_thread(repo.account_names, bot.engine, interaction.guild_id, typed)
    return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names]


async def find_account(bot: MailsyncBot, interaction: discord.Interaction, name: str) -> Account:
    """The guild's account by name; any other guild's account is 'not found', word for word."""
    guild_id = guild_id_of(interaction)
    if not printable(name) or len(name) > 100:  # no stored name can match; spare the DB
        raise AccountNotFound(name[:100])
    found = await asyncio.to_thread(repo.find_account, bot.engine, guild_id, name)
    if found is None or found.id is None:
        raise AccountNotFound(name)
    return found


async def still_same(bot: MailsyncBot, account: Account) -> Account:
    """A form or button opened earlier names an account object; ids can be reused after a
    removal, so confirm the same (guild, name) still maps to the same id before acting."""
    current = await asyncio.to_thread(repo.find_account, bot.engine, account.guild_id, account.name)
    if current is None or current.id != account.id:
        raise AccountNotFound(account.name)
    return current
