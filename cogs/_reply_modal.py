"""The reply modal (SPEC section 13): inputs labelled exactly To, Cc, Subject, Message,
prefilled from the mail replied to (To from Reply-To, else From; Cc for Reply all: the
original To and Cc without the account's own address; Subject `Re: ...` once). Members
may edit To and Cc; everything is checked again on submit (mail/compose.py). Title and
labels are in the member's language; the English msgids are the spec's labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from i18n import N_, Translator
from mail import compose

if TYPE_CHECKING:
    from cogs.replies import Replies

REPLY_TITLE = N_("Reply")
REPLY_ALL_TITLE = N_("Reply all")
NEW_TITLE = N_("New message")


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


# The spec's labels: an English client shows exactly these; the catalogs translate them.
TO_LABEL, CC_LABEL, SUBJECT_LABEL, MESSAGE_LABEL = N_("To"), N_("Cc"), N_("Subject"), N_("Message")


class ReplyModal(discord.ui.Modal):
    def __init__(self, cog: Replies, context: ReplyContext, title: str, t: Translator) -> None:
        """`title`: a msgid above; `t`: the member's language."""
        super().__init__(title=t(title), timeout=1800)
        self.cog = cog
        self.context = context
        # Built here, not as class items: the labels are in the member's language.
        self.to = discord.ui.TextInput(
            label=t(TO_LABEL),
            custom_id="to",
            max_length=1000,
            required=True,
            default=context.to[:1000] or None,
        )
        self.cc = discord.ui.TextInput(
            label=t(CC_LABEL),
            custom_id="cc",
            max_length=1000,
            required=False,
            default=context.cc[:1000] or None,
        )
        self.subject = discord.ui.TextInput(
            label=t(SUBJECT_LABEL),
            custom_id="subject",
            max_length=compose.MAX_SUBJECT,
            required=True,
            default=context.subject[: compose.MAX_SUBJECT] or None,
        )
        self.message = discord.ui.TextInput(
            label=t(MESSAGE_LABEL),
            custom_id="message",
            style=discord.TextStyle.paragraph,
            max_length=compose.MAX_BODY,
            required=True,
        )
        for item in (self.to, self.cc, self.subject, self.message):
            self.add_item(item)

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
