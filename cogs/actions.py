"""Presses of the action buttons on alerts (SPEC section 8).

Nothing in a custom_id is trusted: a press is checked against the store (the account
exists in this server, the member has Manage Server or the account's actions_role, the
actions setting allows the action, the pressed message is a live alert of that account
with exactly this folder, UIDVALIDITY and UID) and then by mail/actions.perform against
the mailbox (UIDVALIDITY, the UID still there). Every refusal is an ephemeral line that
says why, and changes nothing. The checks are quick store reads, answered at once; the
mailbox work is deferred (type 6) and then the alert is edited in place."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from cogs._action_ids import ActionId
from cogs._alert_buttons import (
    ActionButton,
    ForeignButton,
    alert_embed,
    alert_view,
    allowed,
    status_line,
)
from cogs._errors import UserError, reply_ephemeral
from cogs._lang import member_t
from i18n import N_, Msg, translator
from mail import actions
from mail.actions import Action, MessageGoneError, StaleFolderError
from mail.errors import MailError
from mail.types import Protocol
from storage import live_alerts
from storage.live_alerts import GONE, MOVED, PRESENT, Change, Pressed
from storage.models import Account

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)

NOTHING = Msg(N_("Nothing was changed."))
MOVES = {Action.ARCHIVE, Action.TRASH}


class Actions(commands.Cog):
    def __init__(self, bot: MailsyncBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ActionButton, ForeignButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ActionButton, ForeignButton)

    async def press(self, interaction: discord.Interaction, action_id: ActionId | None) -> None:
        try:
            pressed = await self._checked(interaction, action_id)
        except UserError as exc:
            text = exc.render(member_t(interaction))
            await reply_ephemeral(interaction, f"\N{WARNING SIGN} {text}")
            return
        assert action_id is not None and pressed.account is not None  # noqa: S101
        assert pressed.live is not None and pressed.folder is not None  # noqa: S101
        await interaction.response.defer()  # type 6: the mailbox may take a moment
        await self._perform(interaction, action_id.action, pressed)

    async def _checked(
        self, interaction: discord.Interaction, action_id: ActionId | None
    ) -> Pressed:
        if action_id is None or interaction.message is None or interaction.guild_id is None:
            raise UserError(
                N_("This is not a button this bot made for an alert. {nothing}"), nothing=NOTHING
            )
        pressed = await asyncio.to_thread(
            live_alerts.press_context, self.bot.engine, action_id.account_id, interaction.message.id
        )
        account = pressed.account
        if account is None or account.guild_id != interaction.guild_id:
            raise UserError(
                N_("The mail account of this alert no longer exists here. {nothing}"),
                nothing=NOTHING,
            )
        name = discord.utils.escape_markdown(account.name)
        if not _may_press(interaction, account):
            if account.actions_role_id:
                raise UserError(
                    N_(
                        "Only members with **Manage Server** or the {role} role may use the "
                        "buttons of `{name}`. {nothing}"
                    ),
                    role=f"<@&{account.actions_role_id}>",
                    name=name,
                    nothing=NOTHING,
                )
            raise UserError(
                N_(
                    "Only members with **Manage Server** may use the buttons of `{name}`. {nothing}"
                ),
                name=name,
                nothing=NOTHING,
            )
        if account.protocol != Protocol.IMAP:
            raise UserError(
                N_("`{name}` is a POP3 account: POP3 cannot change mail. {nothing}"),
                name=name,
                nothing=NOTHING,
            )
        if account.actions == "off":
            raise UserError(
                N_("Buttons are turned off for `{name}` (`/mail edit actions:`). {nothing}"),
                name=name,
                nothing=NOTHING,
            )
        if action_id.action not in allowed(account.actions):
            raise UserError(
                N_("`{name}` allows only Mark read and Mark unread (`actions: read`). {nothing}"),
                name=name,
                nothing=NOTHING,
            )
        live = pressed.live
        if live is None:
            raise UserError(
                N_(
                    "This message is not a live alert of `{name}`: buttons work on "
                    "its newest 500 alerts of the last 7 days. {nothing}"
                ),
                name=name,
                nothing=NOTHING,
            )
        wanted = (action_id.folder_key, action_id.uidvalidity, action_id.uid)
        if (live.folder_id, live.uidvalidity, live.uid) != wanted:
            raise UserError(
                N_("This button does not belong to this alert. {nothing}"), nothing=NOTHING
            )
        if live.state != PRESENT or pressed.folder is None:
            done = status_line(live, member_t(interaction)) or Msg(
                N_("This message is no longer in its folder")
            )
            raise UserError(N_("{done}. {nothing}"), done=done, nothing=NOTHING)
        if pressed.folder.uidvalidity != live.uidvalidity:
            raise UserError(
                N_(
                    "The mail server renumbered this folder since the alert, so it "
                    "cannot tell which message this was any more. {nothing}"
                ),
                nothing=NOTHING,
            )
        return pressed

    async def _perform(self, interaction: discord.Interaction, action: Action, p: Pressed) -> None:
        account, live, folder = p.account, p.live, p.folder
        assert account is not None and live is not None and folder is not None  # noqa: S101
        target = actions.Target(folder.folder, live.uidvalidity, live.uid)
        work = functools.partial(actions.perform, target=target, action=action)
        watcher = self.bot.get_cog("Alerts").watcher  # type: ignore[union-attr]
        try:
            done = await watcher.on_session(account, work)
        except (StaleFolderError, MessageGoneError) as exc:
            event = "reset" if isinstance(exc, StaleFolderError) else "gone"
            await self._show(interaction, account, p, Change(live.id, state=GONE, event=event))  # type: ignore[arg-type]
            await self._refused(interaction, exc)
            return
        except MailError as exc:  # no Archive folder, a NO, the server unreachable
            await self._refused(interaction, exc)
            return
        moved = action in MOVES and (done.moved or done.left_deleted)
        change = Change(
            live.id,  # type: ignore[arg-type]
            flags=done.flags,
            state=MOVED if moved else None,
            event=action.value,
            event_by=interaction.user.id,
        )
        log.info("account %s: %s pressed on an alert", account.id, action.value)
        await self._show(interaction, account, p, change)

    async def _refused(self, interaction: discord.Interaction, exc: MailError) -> None:
        t = member_t(interaction)
        text = f"{exc.render(t)} {NOTHING.render(t)}"
        await interaction.followup.send(f"\N{WARNING SIGN} {text}", ephemeral=True)

    async def _show(
        self, interaction: discord.Interaction, account: Account, p: Pressed, change: Change
    ) -> None:
        """Store the new state and edit the pressed alert in place (through the outbox if
        that edit fails), so the next two-way check finds nothing to edit again."""
        live = await asyncio.to_thread(live_alerts.pressed, self.bot.engine, change)
        if live is None or p.embed is None:
            return
        try:
            t = translator(self.bot.languages(account.guild_id))  # a channel post
            await interaction.edit_original_response(
                embed=alert_embed(p.embed, live, t),
                view=alert_view(account, live, t),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.warning("editing a pressed alert failed (%s); queued instead", exc.status)
            await asyncio.to_thread(
                live_alerts.apply,
                self.bot.engine,
                account.id,
                [Change(live.id)],  # type: ignore[arg-type]
            )
            self.bot.get_cog("Alerts").sender.poke()  # type: ignore[union-attr]


def _may_press(interaction: discord.Interaction, account: Account) -> bool:
    if interaction.permissions.manage_guild:
        return True
    member = interaction.user
    role = account.actions_role_id
    return bool(role) and isinstance(member, discord.Member) and member.get_role(role) is not None  # type: ignore[arg-type]


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Actions(bot))
