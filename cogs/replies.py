"""Answering mail from Discord (SPEC section 13): /mail smtp, /mail compose, /mail reply,
the Reply / Reply all buttons and their modal, and Resend / Discard on the notice of a
send whose outcome is unknown. The message is stored before SMTP starts and sent by the
engine step watch/replies.py; this cog checks who may send and what they typed. Answers
and errors are in the member's language; what is posted or edited in a channel (the
alert's "Replied by" line, a notice's Resend / Discard outcome) in the guild's."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str

from cogs._autocomplete import account_autocomplete, find_account
from cogs._errors import UserError, reply_ephemeral
from cogs._group import MailCommandsCog, guild_id_of
from cogs._lang import member_t
from cogs._reply_buttons import ReplyButton
from cogs._reply_modal import NEW_TITLE, REPLY_ALL_TITLE, REPLY_TITLE, ReplyContext, ReplyModal
from cogs._reply_modal import context_of as reply_context
from cogs._smtp_setup import REMOVE_CHANGES, REMOVED, smtp_changes
from i18n import ENGLISH, N_, Msg, Translator, translator
from mail import compose
from storage import outgoing, reply_sources, repo
from storage.models import Account, OutgoingMail
from watch.replies import ReplySender

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)

MAX_FILES = 3
MAX_FILE_BYTES = 10 * 1024 * 1024
READ_TIMEOUT = 60.0  # seconds to fetch one attachment from Discord's CDN
# Whole sentences (the catalogs translate each one); "Nothing was sent." ends every refusal.
NO_RIGHTS = N_("Only members with **Manage Server** may send mail from `{name}`. Nothing was sent.")
NO_RIGHTS_ROLE = N_(
    "Only members with **Manage Server** or the {role} role may send mail from `{name}`. "
    "Nothing was sent."
)
REPLIES_OFF = N_("Replies are off for `{name}` (`/mail edit replies:on`). Nothing was sent.")
NO_SMTP = N_("`{name}` has no outgoing server (`/mail smtp`). Nothing was sent.")
GONE = N_("The mail account of this alert no longer exists here.")
NO_SOURCE = N_(
    "This alert's reply details are no longer kept (alerts older than 7 days cannot be "
    "answered from Discord)."
)
NOT_A_THREAD = N_(
    "Use `/mail reply` inside a conversation's thread (or forum post) of an account with "
    "threads on; its newest mail is the one answered."
)
CAPPED = N_(
    "`{name}` already sent {cap} messages in the last hour, the limit "
    "(MAILSYNC_MAX_SENDS_PER_HOUR). The next one can go {at}. Nothing was sent."
)
BAD_INPUT = N_("{error} Nothing was sent.")
QUEUED = N_("Sending to {to}. The conversation shows it once the server has taken it.")
FILE_LARGE = N_("`{file}` is larger than 10 MB. Nothing was sent.")
EMPTY = N_("The message is empty. Nothing was sent.")
NOT_YOURS = N_("Only the member who sent it, or Manage Server, may resend or discard it.")
RESENT = N_("Resent by {member}: sent once more.")
DISCARDED = N_("Discarded by {member}: not sent again.")
SETTLED = N_("This message was already resent or discarded.")
REPLIED_FIELD = N_("Reply sent")  # the alert's field heading (the noun; "Reply" is the verb)
REPLIED = N_("Replied by {member}")


class Replies(MailCommandsCog):
    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.add_dynamic_items(ReplyButton)
        self.sender = ReplySender(
            self.bot.engine,
            self.watcher,
            self.bot.settings.allow_private_hosts,
            on_queued=lambda: self.alerts.sender.poke(),
            on_sent=self._mark_alert,
            language=self._guild_t,  # its notices are channel posts
        )
        if not self.bot.sync_only:  # `mailsync sync-commands` touches no store
            self.sender.start()

    async def cog_unload(self) -> None:
        if not self.bot.sync_only:
            await self.sender.stop()
        self.bot.remove_dynamic_items(ReplyButton)
        await super().cog_unload()

    # ---------------------------------------------------------------- commands

    @app_commands.command(
        name="smtp", description=locale_str("Set the outgoing (SMTP) server for replies")
    )
    @app_commands.describe(
        account=locale_str("the account that sends"),
        host=locale_str("SMTP host (known providers: filled in)"),
        port=locale_str("465 for tls, 587 for starttls"),
        security=locale_str("tls (port 465) or starttls (587)"),
        sent_copy=locale_str("auto (skip where the provider files it itself), on or off"),
        from_address=locale_str("the address replies come from (default: the user name)"),
        remove=locale_str("true: turn sending off for this account"),
    )
    @app_commands.autocomplete(account=account_autocomplete)
    async def smtp(
        self,
        interaction: discord.Interaction,
        account: str,
        host: str | None = None,
        port: int | None = None,
        security: Literal["tls", "starttls"] | None = None,
        sent_copy: Literal["auto", "on", "off"] | None = None,
        from_address: str | None = None,
        remove: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        if remove:
            changes, said = dict(REMOVE_CHANGES), Msg(REMOVED, name=found.name)
        else:
            changes, said = await smtp_changes(
                self.bot, found, host, port, security, sent_copy, from_address
            )
        if await asyncio.to_thread(repo.update_account, self.bot.engine, found.id, changes) is None:
            raise UserError(N_("That account was removed meanwhile; nothing was changed."))
        await interaction.followup.send(said.render(member_t(interaction)), ephemeral=True)

    @app_commands.command(
        name="compose", description=locale_str("Write a new message from an account")
    )
    @app_commands.describe(account=locale_str("the account that sends"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def compose_(self, interaction: discord.Interaction, account: str) -> None:
        found = await find_account(self.bot, interaction, account)
        self._may_send(interaction, found)
        context = ReplyContext(account_id=found.id)  # type: ignore[arg-type]
        t = member_t(interaction)
        await interaction.response.send_modal(ReplyModal(self, context, NEW_TITLE, t))

    @app_commands.command(
        name="reply", description=locale_str("Reply to this conversation's newest mail")
    )
    @app_commands.describe(
        attachment1=locale_str("a file to attach (up to 10 MB)"),
        attachment2=locale_str("another file"),
        attachment3=locale_str("another file"),
    )
    async def reply(
        self,
        interaction: discord.Interaction,
        attachment1: discord.Attachment | None = None,
        attachment2: discord.Attachment | None = None,
        attachment3: discord.Attachment | None = None,
    ) -> None:
        guild_id = guild_id_of(interaction)
        found = await asyncio.to_thread(
            reply_sources.newest_in_thread, self.bot.engine, interaction.channel_id
        )
        if found is None:
            raise UserError(NOT_A_THREAD)
        account_id, _outbox_id, reply = found
        account = await asyncio.to_thread(repo.get_account, self.bot.engine, account_id)
        if account is None or account.guild_id != guild_id:
            raise UserError(GONE)
        self._may_send(interaction, account)
        files = tuple(a for a in (attachment1, attachment2, attachment3) if a is not None)
        for file in files:
            if file.size > MAX_FILE_BYTES:
                raise UserError(FILE_LARGE, file=discord.utils.escape_markdown(file.filename))
        context = reply_context(account_id, account.smtp_from, reply, everyone=False)
        context = _with(context, attachments=files)
        t = member_t(interaction)
        await interaction.response.send_modal(ReplyModal(self, context, REPLY_TITLE, t))

    # ---------------------------------------------------------------- buttons

    async def pressed(self, interaction: discord.Interaction, op: str, row_id: int) -> None:
        try:
            if op in ("reply", "all"):
                await self._reply_pressed(interaction, row_id, everyone=op == "all")
            else:
                await self._outcome_pressed(interaction, op, row_id)
        except UserError as exc:
            text = exc.render(member_t(interaction))
            await reply_ephemeral(interaction, f"\N{WARNING SIGN} {text}")

    async def _reply_pressed(
        self, interaction: discord.Interaction, outbox_id: int, everyone: bool
    ) -> None:
        found = await asyncio.to_thread(reply_sources.of_alert, self.bot.engine, outbox_id)
        if found is None:
            raise UserError(NO_SOURCE)
        account_id, reply = found
        account = await asyncio.to_thread(repo.get_account, self.bot.engine, account_id)
        if account is None or account.guild_id != interaction.guild_id:
            raise UserError(GONE)
        self._may_send(interaction, account)
        context = reply_context(account_id, account.smtp_from, reply, everyone)
        message = interaction.message
        context = _with(
            context,
            alert_channel_id=message.channel.id if message else None,
            alert_message_id=message.id if message else None,
        )
        title = REPLY_ALL_TITLE if everyone else REPLY_TITLE
        t = member_t(interaction)
        await interaction.response.send_modal(ReplyModal(self, context, title, t))

    async def _outcome_pressed(
        self, interaction: discord.Interaction, op: str, row_id: int
    ) -> None:
        row = await asyncio.to_thread(outgoing.get, self.bot.engine, row_id)
        account = row and await asyncio.to_thread(repo.get_account, self.bot.engine, row.account_id)
        if row is None or not account or account.guild_id != interaction.guild_id:
            raise UserError(GONE)
        if interaction.user.id != row.sent_by and not interaction.permissions.manage_guild:
            raise UserError(NOT_YOURS)
        change = outgoing.resend if op == "resend" else outgoing.discard
        if not await asyncio.to_thread(change, self.bot.engine, row_id):
            raise UserError(SETTLED)
        log.info("outgoing %s: %s by a member", row_id, op)
        # The notice is a channel post: its outcome line is in the guild's language.
        t = self._guild_t(account.guild_id)
        member = f"<@{interaction.user.id}>"
        done = RESENT if op == "resend" else DISCARDED
        said = t(done, member=member)
        await interaction.response.edit_message(
            content=said, view=None, allowed_mentions=discord.AllowedMentions.none()
        )
        if op == "resend":
            self.sender.poke()

    # ---------------------------------------------------------------- sending

    def _guild_t(self, guild_id: int) -> Translator:
        return translator(self.bot.languages(guild_id))

    def _may_send(self, interaction: discord.Interaction, account: Account) -> None:
        name = discord.utils.escape_markdown(account.name)
        if not account.smtp_host:
            raise UserError(NO_SMTP, name=name)
        if not account.replies:
            raise UserError(REPLIES_OFF, name=name)
        if interaction.permissions.manage_guild:
            return
        member, role = interaction.user, account.reply_role_id
        if role and isinstance(member, discord.Member) and member.get_role(role) is not None:
            return
        if role:
            raise UserError(NO_RIGHTS_ROLE, role=f"<@&{role}>", name=name)
        raise UserError(NO_RIGHTS, name=name)

    async def submitted(
        self,
        interaction: discord.Interaction,
        context: ReplyContext,
        to: str,
        cc: str,
        subject: str,
        body: str,
    ) -> None:
        account = await asyncio.to_thread(repo.get_account, self.bot.engine, context.account_id)
        if account is None or account.guild_id != interaction.guild_id:
            raise UserError(GONE)
        self._may_send(interaction, account)  # rights or settings may have changed meanwhile
        try:
            to_list, cc_list = compose.recipients(to, cc)
            subject = compose.subject(subject)
        except compose.ComposeError as exc:
            raise UserError(BAD_INPUT, error=exc) from exc
        if not body.strip():
            raise UserError(EMPTY)
        files = [await _read(a) for a in context.attachments]
        sender = account.smtp_from or ""
        draft = compose.Draft(
            from_address=sender,
            to=tuple(to_list),
            cc=tuple(cc_list),
            subject=subject,
            body=compose.with_signature(body, account.signature),
            message_id=compose.new_message_id(sender),
            in_reply_to=context.parent_id,
            references=tuple(compose.references(context.refs, context.parent_id))
            if context.parent_id
            else (),
            attachments=tuple(files),
        )
        row = OutgoingMail(
            account_id=account.id,  # type: ignore[arg-type]
            sent_by=interaction.user.id,
            message_ref=draft.message_id,
            raw=await asyncio.to_thread(compose.build, draft),  # MBs of base64 with files
            sender=sender,
            recipients="\n".join(draft.recipients),
            to_addrs="\n".join(draft.to),
            cc_addrs="\n".join(draft.cc),
            subject=subject,
            body=body,
            attachments="\n".join(f.filename for f in files),
            in_reply_to=draft.in_reply_to,
            reference_ids="\n".join(draft.references) or None,
            alert_channel_id=context.alert_channel_id,
            alert_message_id=context.alert_message_id,
        )
        cap = self.bot.settings.max_sends_per_hour
        try:
            await asyncio.to_thread(outgoing.queue, self.bot.engine, row, cap)
        except outgoing.SendCapError as exc:
            name = discord.utils.escape_markdown(account.name)
            at = f"<t:{int(exc.next_at.timestamp())}:R>"
            raise UserError(CAPPED, name=name, cap=exc.cap, at=at) from exc
        self.sender.poke()
        said = ", ".join(f"`{a}`" for a in draft.recipients)
        t = member_t(interaction)
        await interaction.followup.send(t(QUEUED, to=said), ephemeral=True)

    async def _mark_alert(self, row: OutgoingMail) -> None:
        """The alert replied to shows "Replied by @member" (a mention in an embed never
        pings; allowed mentions stay none), in the guild's language when it is added."""
        if not row.alert_channel_id or not row.alert_message_id:
            return
        account = await asyncio.to_thread(repo.get_account, self.bot.engine, row.account_id)
        t = self._guild_t(account.guild_id) if account is not None else ENGLISH
        member = f"<@{row.sent_by}>"
        heading, line = t(REPLIED_FIELD), t(REPLIED, member=member)
        await asyncio.to_thread(
            reply_sources.mark_replied, self.bot.engine, row.alert_message_id, heading, line
        )
        channel = self.bot.get_channel(row.alert_channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(row.alert_channel_id)
        message = await channel.fetch_message(row.alert_message_id)  # type: ignore[union-attr]
        if not message.embeds:
            return
        embed = message.embeds[0]
        if any(f.value == line for f in embed.fields):
            return
        embed.add_field(name=heading, value=line, inline=False)
        await message.edit(embed=embed, allowed_mentions=discord.AllowedMentions.none())


def _with(context: ReplyContext, **changes: object) -> ReplyContext:
    return replace(context, **changes)  # type: ignore[arg-type]


async def _read(file: discord.Attachment) -> compose.Attachment:
    if file.size > MAX_FILE_BYTES:
        raise UserError(FILE_LARGE, file=discord.utils.escape_markdown(file.filename))
    async with asyncio.timeout(READ_TIMEOUT):
        data = await file.read()
    if len(data) > MAX_FILE_BYTES:
        raise UserError(FILE_LARGE, file=discord.utils.escape_markdown(file.filename))
    return compose.Attachment(file.filename, file.content_type or "application/octet-stream", data)


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Replies(bot))
