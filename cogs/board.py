"""/mail board: an account's status message, kept current by the engine (watch/board.py)
through the outbox. Ending a board (remove:true, or /mail remove) deletes its message:
a status that no longer updates would mislead whoever reads the channel."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str

from cogs._autocomplete import account_autocomplete, find_account
from cogs._errors import UserError
from cogs._group import MailCommandsCog
from cogs._lang import member_t
from i18n import N_
from storage import boards
from storage.models import Board

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)


async def delete_board_message(bot: MailsyncBot, board: Board) -> bool:
    """Best effort: False when Discord would not delete it (already gone counts as done)."""
    if board.message_id is None:
        return True
    try:
        await bot.http.delete_message(board.channel_id, board.message_id)
    except discord.NotFound:
        return True
    except (discord.HTTPException, OSError) as exc:
        log.warning("board message of account %s not deleted: %s", board.account_id, exc)
        return False
    return True


async def end_board(bot: MailsyncBot, account_id: int) -> tuple[Board | None, bool]:
    """Stop the account's board: no more edits, its waiting edit dropped, its message
    deleted. Returns the board it had (None: none) and whether the message is gone."""
    board = await asyncio.to_thread(boards.remove, bot.engine, account_id)
    alerts = bot.get_cog("Alerts")
    if alerts is not None:
        alerts.watcher.boards.discard(account_id)  # type: ignore[attr-defined]
    if board is None:
        return None, True
    return board, await delete_board_message(bot, board)


class BoardCommands(MailCommandsCog):
    @app_commands.command(
        name="board", description=locale_str("A status message for an account, kept current")
    )
    @app_commands.describe(
        account=locale_str("the account to show"),
        channel=locale_str("where to post it (default: the account's alert channel)"),
        remove=locale_str("true: stop the board and delete its message"),
    )
    @app_commands.autocomplete(account=account_autocomplete)
    async def board(
        self,
        interaction: discord.Interaction,
        account: str,
        channel: discord.TextChannel | None = None,
        remove: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        if remove:
            if channel is not None:
                raise UserError(N_("Give `remove` alone: the board is removed wherever it is."))
            board, deleted = await end_board(self.bot, found.id)
            if board is None:
                raise UserError(N_("`{name}` has no status board."), name=found.name)
            t = member_t(interaction)
            if deleted:
                text = t(
                    "Stopped the status board of `{name}` and deleted its message.", name=found.name
                )
            else:
                text = t(
                    "Stopped the status board of `{name}` and could not delete its message.",
                    name=found.name,
                )
            await interaction.followup.send(text, ephemeral=True)
            return
        if channel is None and isinstance(
            self.bot.get_channel(found.channel_id), discord.ForumChannel
        ):
            raise UserError(
                N_(
                    "<#{channel_id}> is a forum, which takes only posts: give "
                    "`channel` a text channel for the board."
                ),
                channel_id=found.channel_id,
            )
        target = channel.id if channel is not None else found.channel_id
        before = await asyncio.to_thread(boards.start, self.bot.engine, found.id, target)
        if before is not None and before.channel_id != target:
            await delete_board_message(self.bot, before)  # moved: the old one would go stale
        self.watcher.boards.add(found.id)
        t = member_t(interaction)
        where = f"<#{target}>"
        if before is not None and before.channel_id == target and before.message_id:
            text = t(
                "The status board of `{name}` in {channel} is refreshed now; it is edited in "
                "place when something changes, at most once a minute. "
                "`/mail board remove:true` stops it.",
                name=found.name,
                channel=where,
            )
        else:
            text = t(
                "The status board of `{name}` is posted in {channel}; it is edited in place "
                "when something changes, at most once a minute. `/mail board remove:true` "
                "stops it.",
                name=found.name,
                channel=where,
            )
        await interaction.followup.send(text, ephemeral=True)


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(BoardCommands(bot))
