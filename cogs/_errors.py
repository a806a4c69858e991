"""One place that turns command failures into a short ephemeral reply, in the language of
the member who ran the command."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from cogs._lang import member_t
from i18n import N_, Explained

log = logging.getLogger(__name__)


class UserError(Explained):
    """Bad input or a refused action; the message is shown to the user, translated:
    `UserError(N_("... `{name}` ..."), name=name)`."""


NOT_FOUND = N_("No account named `{name}` in this server. `/mail list` shows the accounts.")


class AccountNotFound(UserError):
    def __init__(self, name: str) -> None:
        super().__init__(NOT_FOUND, name=discord.utils.escape_markdown(name))


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
        t = member_t(interaction)
        if isinstance(cause, Explained):  # UserError, MailError: a sentence for the member
            text = cause.render(t)
        elif isinstance(cause, app_commands.MissingPermissions):
            text = t("You need the **Manage Server** permission to use /mail.")
        elif isinstance(cause, app_commands.NoPrivateMessage):
            text = t("/mail works inside a server, not in direct messages.")
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.exception("command /%s failed", command, exc_info=cause)
            text = t("Something went wrong on the bot's side; the error was logged.")
        try:
            await reply_ephemeral(interaction, f"\N{WARNING SIGN} {text}")
        except discord.HTTPException:
            log.warning("could not deliver an error reply", exc_info=True)
