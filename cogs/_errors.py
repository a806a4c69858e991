"""One place that turns command failures into a short ephemeral reply."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from mail.errors import MailError

log = logging.getLogger(__name__)


class UserError(Exception):
    """Bad input or a refused action; the message is shown to the user as is."""


NOT_FOUND = "No account named `{name}` in this server. `/mail list` shows the accounts."


class AccountNotFound(UserError):
    def __init__(self, name: str) -> None:
        super().__init__(NOT_FOUND.format(name=discord.utils.escape_markdown(name)))


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


class MailTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, UserError | MailError):
            text = str(cause)
        elif isinstance(cause, app_commands.MissingPermissions):
            text = "You need the **Manage Server** permission to use /mail."
        elif isinstance(cause, app_commands.NoPrivateMessage):
            text = "/mail works inside a server, not in direct messages."
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.exception("command /%s failed", command, exc_info=cause)
            text = "Something went wrong on the bot's side; the error was logged."
        try:
            await reply_ephemeral(interaction, f"\N{WARNING SIGN} {text}")
        except discord.HTTPException:
            log.warning("could not deliver an error reply", exc_info=True)
