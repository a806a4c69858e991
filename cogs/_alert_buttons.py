"""How a live alert looks (SPEC section 8): its status line and the buttons that still make
sense, rendered from the stored state whenever the alert is posted or edited; and the
DynamicItem buttons that discord.py matches on every press (no view kept in memory, so
they work after a restart). The press itself is handled in cogs/actions.py."""

from __future__ import annotations

import asyncio
import copy
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import ui

from cogs._action_ids import PREFIX, TEMPLATE, ActionId, InvalidActionId, from_match
from cogs._reply_buttons import with_buttons
from cogs._ui import FIELD_MAX, fit, truncate
from i18n import ENGLISH, N_, Translator, translator
from mail.actions import Action
from storage import live_alerts
from storage.live_alerts import PRESENT
from storage.models import Account, LiveAlert

if TYPE_CHECKING:
    from bot import MailsyncBot

# msgids: labels and lines are rendered in the guild's language (channel posts)
LABELS = {
    Action.READ: N_("Mark read"),
    Action.UNREAD: N_("Mark unread"),
    Action.FLAG: N_("Flag"),
    Action.UNFLAG: N_("Unflag"),
    Action.ARCHIVE: N_("Archive"),
    Action.TRASH: N_("Trash"),
}
STYLES = {Action.TRASH: discord.ButtonStyle.danger}
MODES = {"read": {Action.READ, Action.UNREAD}, "triage": set(Action)}

_PRESSED = {
    "read": N_("Read by {who}"),
    "unread": N_("Marked unread by {who}"),
    "flag": N_("Flagged by {who}"),
    "unflag": N_("Unflagged by {who}"),
    "archive": N_("Archived by {who}"),
    "trash": N_("Moved to Trash by {who}"),
}
_CLIENT = {
    "read": N_("read"),
    "unread": N_("marked unread"),
    "flag": N_("flagged"),
    "unflag": N_("unflagged"),
    "delete": N_("marked deleted"),
    "undelete": N_("no longer marked deleted"),
}
GONE_LINE = N_("Moved or deleted in another mail client")
RESET_LINE = N_("The server renumbered this folder: the message can no longer be found")


def allowed(mode: str) -> set[Action]:
    return MODES.get(mode, set())


def actions_for(mode: str, live: LiveAlert) -> list[Action]:
    """The buttons that make sense now: none once the message left its folder."""
    if live.state != PRESENT or mode not in MODES:
        return []
    shown = [Action.UNREAD if live.seen else Action.READ]
    if mode == "triage":
        shown += [Action.UNFLAG if live.flagged else Action.FLAG, Action.ARCHIVE, Action.TRASH]
    return shown


def status_line(live: LiveAlert, t: Translator = ENGLISH) -> str | None:
    """Who did what last, e.g. "Read by <@1>" (a mention in an embed never pings)."""
    event = live.event
    if not event:
        return None
    if event in _PRESSED:
        who = f"<@{live.event_by}>" if live.event_by else t("someone")
        return t(_PRESSED[event], who=who)
    if event == "gone":
        return t(GONE_LINE)
    if event == "reset":
        return t(RESET_LINE)
    if event.startswith("client:"):
        parts = [t(_CLIENT[p]) for p in event[7:].split("+") if p in _CLIENT]
        if not parts:
            return None
        if len(parts) == 1:
            said = parts[0]
        else:
            said = t("{some} and {last}", some=", ".join(parts[:-1]), last=parts[-1])
        line = t("{what} in another mail client", what=said)
        return f"{line[0].upper()}{line[1:]}"
    return None


def alert_embed(
    original: dict[str, Any], live: LiveAlert, t: Translator = ENGLISH
) -> discord.Embed:
    """The alert as first posted, with its status line as the last field."""
    embed = discord.Embed.from_dict(copy.deepcopy(original))
    line = status_line(live, t)
    if line:
        embed.add_field(name=t("Status"), value=truncate(line, FIELD_MAX), inline=False)
    return fit(embed)


def alert_view(account: Account, live: LiveAlert, t: Translator = ENGLISH) -> ui.View | None:
    """The alert's buttons, or None (an edit with view=None removes them)."""
    shown = actions_for(account.actions, live)
    if not shown or account.id is None or live.id is None:
        return None
    view = ui.View(timeout=None)
    for action in shown:
        action_id = ActionId(action, account.id, live.folder_id, live.uidvalidity, live.uid)
        view.add_item(ActionButton.made(action_id, t))
    view.stop()  # nothing to keep in memory: the DynamicItem template handles presses
    replies = account.replies and bool(account.smtp_host)  # Reply stays beside them
    return with_buttons(view, {"reply": replies}, live.outbox_id, t)


async def view_of_post(bot: MailsyncBot, outbox_id: int) -> ui.View | None:
    """A new alert's buttons as its live alert stands when the outbox sends it."""
    live_id = await asyncio.to_thread(live_alerts.of_outbox, bot.engine, outbox_id)
    found = live_id and await asyncio.to_thread(live_alerts.for_edit, bot.engine, live_id)
    if not found:
        return None
    live, account, _embed = found
    return alert_view(account, live, translator(bot.languages(account.guild_id)))


class ActionButton(ui.DynamicItem[ui.Button], template=TEMPLATE):
    """A mailbox-action button; everything it needs is in its custom_id, checked on press."""

    def __init__(self, button: ui.Button, action_id: ActionId | None) -> None:
        super().__init__(button)
        self.action_id = action_id

    @classmethod
    def made(cls, action_id: ActionId, t: Translator = ENGLISH) -> ActionButton:
        style = STYLES.get(action_id.action, discord.ButtonStyle.secondary)
        button = ui.Button(
            label=t(LABELS[action_id.action]), style=style, custom_id=action_id.encode()
        )
        return cls(button, action_id)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str]
    ) -> ActionButton:
        try:
            action_id: ActionId | None = from_match(match)
        except InvalidActionId:  # out of range: refused in the callback, not dropped silently
            action_id = None
        custom_id = match.string
        return cls(ui.Button(label=getattr(item, "label", None), custom_id=custom_id), action_id)

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await interaction.client.get_cog("Actions").press(interaction, self.action_id)  # type: ignore[union-attr]


class ForeignButton(
    ui.DynamicItem[ui.Button], template=re.compile(re.escape(PREFIX) + r"[^\n]{0,88}")
):
    """Any other id with the action prefix (malformed or forged): answered, not ignored.
    discord.py runs every matching DynamicItem, so a well-formed id is left to ActionButton."""

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str]
    ) -> ForeignButton:
        return cls(ui.Button(custom_id=match.string))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        if TEMPLATE.fullmatch(self.custom_id):
            return
        await interaction.client.get_cog("Actions").press(interaction, None)  # type: ignore[union-attr]
