"""The buttons of SPEC section 13, as DynamicItems (they work after a restart): Reply and
Reply all on a single new-mail alert (the id names the alert's outbox row, whose payload
keeps the mail's reply headers), Resend and Discard on the notice of a send whose outcome
is unknown. Presses are handled by cogs/replies.py. Labels are in the guild's language
when the message is posted or edited."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import ui

from i18n import ENGLISH, N_, Translator

PREFIX = "mailsync:r1:"
TEMPLATE = re.compile(re.escape(PREFIX) + r"(?P<op>reply|all|resend|discard):(?P<id>[0-9]{1,19})")
LABELS = {
    "reply": N_("Reply"),
    "all": N_("Reply all"),
    "resend": N_("Resend"),
    "discard": N_("Discard"),
}
STYLES = {"resend": discord.ButtonStyle.primary, "discard": discord.ButtonStyle.danger}


def _button(op: str, row_id: int, t: Translator) -> ui.Button:
    return ui.Button(
        label=t(LABELS[op]),
        style=STYLES.get(op, discord.ButtonStyle.secondary),
        custom_id=f"{PREFIX}{op}:{row_id}",
    )


def with_buttons(
    view: ui.View | None, wanted: dict[str, Any], outbox_id: int, t: Translator = ENGLISH
) -> ui.View | None:
    """`view` (a live alert's buttons, or None) plus those the payload's "view" asks for,
    labelled with `t` (the guild's language)."""
    ops: list[tuple[str, int]] = []
    if wanted.get("reply"):
        ops += [("reply", outbox_id), ("all", outbox_id)]
    if isinstance(wanted.get("outgoing"), int):
        ops += [("resend", wanted["outgoing"]), ("discard", wanted["outgoing"])]
    if not ops:
        return view
    view = view or ui.View(timeout=None)
    present = {getattr(item, "custom_id", None) for item in view.children}
    for op, row_id in ops:
        button = _button(op, row_id, t)
        if button.custom_id not in present:  # a live alert's view may carry them already
            view.add_item(ReplyButton(button))
    view.stop()  # the DynamicItem template handles presses
    return view


class ReplyButton(ui.DynamicItem[ui.Button], template=TEMPLATE):
    def __init__(self, button: ui.Button) -> None:
        super().__init__(button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: ui.Item[Any], match: re.Match[str]
    ) -> ReplyButton:
        return cls(ui.Button(label=getattr(item, "label", None), custom_id=match.string))

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        match = TEMPLATE.fullmatch(self.custom_id)
        if match is None:
            return
        cog = interaction.client.get_cog("Replies")  # type: ignore[attr-defined]
        await cog.pressed(interaction, match["op"], int(match["id"]))
