"""The reply modal (SPEC section 13): inputs labelled exactly To, Cc, Subject, Message,
prefilled from the mail replied to (To from Reply-To, else From; Cc for Reply all: the
original To and Cc without the account's own address; Subject `Re: ...` once). Members
may edit To and Cc; everything is checked again on submit (mail/compose.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from mail import compose

if TYPE_CHECKING:
    from cogs.replies import Replies

REPLY_TITLE = "Reply"
REPLY_ALL_TITLE = "Reply all"
NEW_TITLE = "New message"


@dataclass(frozen=True)
class ReplyContext:
    """What a send answers (nothing for /mail compose) and where its alert is."""

    account_id: int
    parent_id: str | None = None
    refs: tuple[str, ...] = ()
    to: str = ""
    cc: str = ""
    subject: str = ""
    alert_channel_id: int | None = None
    alert_message_id: int | None = None
    # Discord attachments of /mail reply, read once the modal is submitted.
    attachments: tuple[discord.Attachment, ...] = field(default=(), repr=False)


def context_of(
    account_id: int, own: str | None, reply: dict[str, Any], everyone: bool
) -> ReplyContext:
    """The prefilled fields for a reply to the mail whose headers are `reply`."""
    own = (own or "").lower()

    def addresses(key: str) -> list[str]:
        found = reply.get(key) or []
        return [a for a in found if isinstance(a, str) and compose.ADDRESS.fullmatch(a)]

    sender = reply.get("from")
    to = addresses("reply_to") or ([sender] if isinstance(sender, str) and sender else [])
    to = [a for a in to if a.lower() != own] or to
    cc: list[str] = []
    if everyone:
        taken = {a.lower() for a in to} | {own}
        cc = [a for a in dict.fromkeys(addresses("to") + addresses("cc")) if a.lower() not in taken]
    parent = reply.get("id")
    refs = tuple(r for r in reply.get("refs") or [] if isinstance(r, str))
    return ReplyContext(
        account_id=account_id,
        parent_id=parent if isinstance(parent, str) else None,
        refs=refs,
        to=", ".join(to),
        cc=", ".join(cc[: compose.MAX_RECIPIENTS]),
        subject=compose.reply_subject(str(reply.get("subject") or "")),
    )


class ReplyModal(discord.ui.Modal):
    to: discord.ui.TextInput = discord.ui.TextInput(
        label="To", custom_id="to", max_length=1000, required=True
    )
    cc: discord.ui.TextInput = discord.ui.TextInput(
        label="Cc", custom_id="cc", max_length=1000, required=False
    )
    subject: discord.ui.TextInput = discord.ui.TextInput(
        label="Subject", custom_id="subject", max_length=compose.MAX_SUBJECT, required=True
    )
    message: discord.ui.TextInput = discord.ui.TextInput(
        label="Message",
        custom_id="message",
        style=discord.TextStyle.paragraph,
        max_length=compose.MAX_BODY,
        required=True,
    )

    def __init__(self, cog: Replies, context: ReplyContext, title: str) -> None:
        super().__init__(title=title, timeout=1800)
        self.cog = cog
        self.context = context
        self.to.default = context.to[:1000] or None
        self.cc.default = context.cc[:1000] or None
        self.subject.default = context.subject[: compose.MAX_SUBJECT] or None

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.cog.submitted(
            interaction,
            self.context,
            self.to.value,
            self.cc.value or "",
            self.subject.value,
            self.message.value,
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await interaction.client.tree.on_error(interaction, error)  # type: ignore[arg-type]
