"""The one `/mail` group. Each feature cog attaches its own subcommands to it, so a
feature stays in its own file while users see a single group."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands


class MailGroup(app_commands.Group):
    def __init__(self) -> None:
        super().__init__(
            name="mail",
            description="Watch mail accounts and post alerts to channels",
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


def attach_to_mail_group(cog: commands.Cog, group: app_commands.Group) -> None:
    """Move the cog's (already bound) app commands under /mail instead of the top level.
    Call from cog_load: Cog._inject reads __cog_app_commands__ right after it."""
    for command in cog.__cog_app_commands__:
        group.add_command(command, override=True)
    cog.__cog_app_commands__ = []


def detach_from_mail_group(group: app_commands.Group, names: list[str]) -> None:
    for name in names:
        group.remove_command(name)


def guild_id_of(interaction: discord.Interaction) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id
