"""/mail edit, password, pause, resume and remove: an account after it exists. Every
option is checked before anything is saved, and changes land in one transaction or none."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str

from cogs import _ui, _validate
from cogs._autocomplete import account_autocomplete, find_account, still_same
from cogs._edit_changes import PRIVACY_SAID, THREADS_SAID, actions_changes, delivery_changes
from cogs._errors import AccountNotFound, UserError
from cogs._group import MailCommandsCog
from cogs._lang import member_t
from cogs._reply_settings import reply_changes
from cogs.board import end_board
from i18n import N_, Msg, Translator
from mail import imap, pop3
from mail.errors import MailError
from mail.quota import parse_thresholds
from mail.types import FolderBaseline, Protocol, ServerConfig
from storage import repo
from storage.archive import Retention
from storage.models import Account

if TYPE_CHECKING:
    from bot import MailsyncBot

MAX_MAILBOX_MB = 10_000_000


class Manage(MailCommandsCog):
    @app_commands.command(
        name="remove", description=locale_str("Stop watching an account and delete it")
    )
    @app_commands.describe(account=locale_str("the account to delete, with its state and archive"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def remove(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        self.watcher.unschedule(found.id)
        self.alerts.digests.unschedule(found.id)
        board, _deleted = await end_board(self.bot, found.id)  # its message goes too
        await asyncio.to_thread(repo.delete_account, self.bot.engine, found.id)
        t = member_t(interaction)
        if board is not None:
            text = t(
                "Removed `{name}` with its stored password, state, archive and status board.",
                name=found.name,
            )
        else:
            text = t(
                "Removed `{name}` with its stored password, state and archive.", name=found.name
            )
        await interaction.followup.send(text, ephemeral=True)

    @app_commands.command(
        name="pause", description=locale_str("Stop polling an account, keeping its state")
    )
    @app_commands.describe(account=locale_str("the account to pause"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def pause(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        self.watcher.unschedule(found.id)
        await asyncio.to_thread(repo.update_account, self.bot.engine, found.id, {"paused": True})
        self.watcher.boards.touch(found.id)  # a status board says "paused" now
        t = member_t(interaction)
        await interaction.followup.send(
            t("Paused `{name}`. `/mail resume` picks up where it left off.", name=found.name),
            ephemeral=True,
        )

    @app_commands.command(name="resume", description=locale_str("Poll a paused account again"))
    @app_commands.describe(account=locale_str("the account to resume"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def resume(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        updated = await asyncio.to_thread(
            repo.update_account, self.bot.engine, found.id, {"paused": False}
        )
        if updated is None:
            raise UserError(N_("That account was removed meanwhile."))
        self.watcher.schedule(updated)
        self.watcher.request_poll(updated.id)  # mail that came while paused is announced now
        t = member_t(interaction)
        await interaction.followup.send(t("Resumed `{name}`.", name=found.name), ephemeral=True)

    @app_commands.command(
        name="password", description=locale_str("Replace an account's stored password")
    )
    @app_commands.describe(account=locale_str("the account whose password changed"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def password(self, interaction: discord.Interaction, account: str) -> None:
        # The modal must be the first response: a quick lookup only, no deferral.
        found = await find_account(self.bot, interaction, account)
        await interaction.response.send_modal(NewPasswordModal(self, found, member_t(interaction)))

    async def replace_password(
        self, interaction: discord.Interaction, account: Account, password: str
    ) -> None:
        cfg = replace(self.watcher.config_of_unchecked(account), password=password)
        try:
            await asyncio.to_thread(verify_login, cfg, self.bot.settings.allow_private_hosts)
        except MailError as exc:
            raise UserError(N_("The new password was not saved: {exc}"), exc=exc) from exc
        encrypted = self.bot.secrets.encrypt(password)
        updated = await asyncio.to_thread(
            repo.update_account, self.bot.engine, account.id, {"password_encrypted": encrypted}
        )
        if updated is None:
            raise UserError(N_("That account was removed meanwhile; nothing was saved."))
        if not updated.paused:
            self.watcher.schedule(updated)
            self.watcher.request_poll(updated.id)
        t = member_t(interaction)
        await interaction.followup.send(
            t("Password of `{name}` replaced; the login was checked first.", name=account.name),
            ephemeral=True,
        )

    @app_commands.command(name="edit", description=locale_str("Change an account's settings"))
    @app_commands.describe(
        account=locale_str("the account to change"),
        channel=locale_str("post alerts here instead"),
        interval=locale_str("minutes between polls (at least 1)"),
        folders=locale_str("IMAP folders to watch, comma-separated"),
        quota_warn=locale_str("warning thresholds in percent, e.g. 80,90,95"),
        retention=locale_str("POP3: keep, delete, or days:N (delete N days after download)"),
        mailbox_limit_mb=locale_str(
            "POP3: the mailbox size limit in MB, for warnings (0 removes it)"
        ),
        mention=locale_str("a role to mention on alerts (pick @everyone to stop mentioning)"),
        privacy=locale_str(
            "how much of a message alerts show: minimal, headers, snippet (default), full"
        ),
        delivery=locale_str(
            "instant (default), or collect new mail into an hourly or daily digest"
        ),
        digest_time=locale_str("daily digest time, HH:MM on a 24-hour clock (MAILSYNC_TIMEZONE)"),
        actions=locale_str(
            "IMAP: buttons on new alerts: off, read (Mark read/unread), triage (+ Flag, "
            "Archive, Trash)"
        ),
        actions_role=locale_str(
            "a role whose members may press them (Manage Server always may; "
            "@everyone: only Manage Server)"
        ),
        threads=locale_str(
            "on: replies go into a thread on the first alert (in a forum: into its post)"
        ),
        replies=locale_str("on: Reply buttons on new alerts (needs /mail smtp)"),
        reply_role=locale_str(
            "a role whose members may send replies (@everyone: only Manage Server)"
        ),
        signature=locale_str(
            "added under every reply and new message (up to 500 characters; - removes)"
        ),
    )
    @app_commands.autocomplete(account=account_autocomplete)
    async def edit(
        self,
        interaction: discord.Interaction,
        account: str,
        channel: discord.TextChannel | discord.ForumChannel | None = None,
        interval: int | None = None,
        folders: str | None = None,
        quota_warn: str | None = None,
        retention: str | None = None,
        mailbox_limit_mb: int | None = None,
        mention: discord.Role | None = None,
        privacy: Literal["minimal", "headers", "snippet", "full"] | None = None,
        delivery: Literal["instant", "hourly", "daily"] | None = None,
        digest_time: str | None = None,
        actions: Literal["off", "read", "triage"] | None = None,
        actions_role: discord.Role | None = None,
        threads: Literal["on", "off"] | None = None,
        replies: Literal["on", "off"] | None = None,
        reply_role: discord.Role | None = None,
        signature: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        threaded = self._thread_changes(found, channel, threads)
        changes, said = self._plain_changes(
            found, channel, interval, quota_warn, retention, mailbox_limit_mb, mention
        )
        actions_changes(found, actions, actions_role, changes, said)
        reply_changes(found, replies, reply_role, signature, changes, said)
        if privacy is not None:
            changes["privacy"] = privacy
            said.append(Msg(N_("alerts show {what}"), what=Msg(PRIVACY_SAID[privacy])))
        changes.update(delivery_changes(found, delivery, digest_time))
        if threaded is not None:
            changes["threads"] = threaded
            said.append(Msg(THREADS_SAID[threaded]))
        added: list[FolderBaseline] = []
        dropped: list[str] = []
        if folders is not None:
            wanted = _validate.folders(folders, Protocol(found.protocol))
            added, dropped = await self._folder_changes(found, wanted)
            changes["folders"] = "\n".join(wanted)
            said.append(Msg(N_("folders {folders}"), folders=", ".join(f"`{f}`" for f in wanted)))
        if not changes:
            raise UserError(N_("Nothing to change: give at least one option besides `account`."))
        updated = await asyncio.to_thread(
            repo.update_account, self.bot.engine, found.id, changes, added, dropped
        )
        if updated is None:
            raise UserError(N_("That account was removed meanwhile; nothing was changed."))
        if not updated.paused:
            self.watcher.schedule(updated)
        if "delivery" in changes or "digest_time" in changes:
            await self.alerts.digests.schedule(updated)  # instant: what waited goes out now
            said.append(self._delivery_said(updated))
        self.alerts.sender.poke()  # alerts held for a broken channel may go out now
        t = member_t(interaction)
        done = "; ".join(m.render(t) for m in said)
        await interaction.followup.send(
            t("Updated `{name}`: {changes}.", name=found.name, changes=done), ephemeral=True
        )

    def _thread_changes(
        self,
        account: Account,
        channel: discord.TextChannel | discord.ForumChannel | None,
        threads: str | None,
    ) -> bool | None:
        """The new threads setting (None: unchanged). A forum takes only posts, so alerts
        may go to one only with threads on (each conversation a post)."""
        on = account.threads if threads is None else threads == "on"
        target = channel if channel is not None else self.bot.get_channel(account.channel_id)
        if isinstance(target, discord.ForumChannel):
            if not on:
                raise UserError(
                    N_(
                        "<#{id}> is a forum, which takes only posts: alerts can go there "
                        "with `threads: on` (each conversation a post). Nothing was "
                        "changed."
                    ),
                    id=target.id,
                )
            if target.flags.require_tag:
                raise UserError(
                    N_(
                        "<#{id}> requires a tag on every post, which Mailsync does not "
                        "set: pick another forum or lift the requirement. Nothing was "
                        "changed."
                    ),
                    id=target.id,
                )
        return None if threads is None else on

    def _delivery_said(self, account: Account) -> Msg:
        if account.delivery == "instant":
            return Msg(N_("new mail is posted as it arrives (delivery `instant`)"))
        zone = self.bot.settings.timezone
        next_at = self.alerts.digests.next_run(account.id)
        if account.delivery == "hourly":
            when = Msg(N_("every hour ({zone})"), zone=zone)
        else:
            when = Msg(N_("daily at {time} ({zone})"), time=account.digest_time, zone=zone)
        if next_at is None:
            return Msg(N_("new mail waits for a digest {when}"), when=when)
        return Msg(
            N_("new mail waits for a digest {when}, next {next}"),
            when=when,
            next=f"<t:{int(next_at.timestamp())}:R>",
        )

    def _plain_changes(
        self,
        account: Account,
        channel: discord.TextChannel | discord.ForumChannel | None,
        interval: int | None,
        quota_warn: str | None,
        retention: str | None,
        mailbox_limit_mb: int | None,
        mention: discord.Role | None,
    ) -> tuple[dict[str, Any], list[Msg]]:
        changes: dict[str, Any] = {}
        said: list[Msg] = []
        pop3 = account.protocol == Protocol.POP3
        if channel is not None:
            changes["channel_id"] = channel.id
            changes["channel_broken"] = None
            said.append(Msg(N_("alerts go to {channel}"), channel=f"<#{channel.id}>"))
        if interval is not None:
            changes["interval_minutes"] = _validate.interval(interval)
            said.append(Msg(N_("every {minutes} min"), minutes=interval))
        if quota_warn is not None:
            try:
                thresholds = parse_thresholds(quota_warn)
            except ValueError as exc:
                raise UserError(N_("quota_warn: {exc}."), exc=exc) from exc
            changes["quota_warn"] = ",".join(map(str, thresholds))
            changes["quota_level"] = 0  # new lines: warn afresh for whichever is crossed
            percents = ", ".join(f"{p} %" for p in thresholds)
            said.append(Msg(N_("quota warnings at {percents}"), percents=percents))
        if retention is not None:
            if not pop3:
                raise UserError(
                    N_("`retention` applies to POP3 accounts; IMAP mail stays on the server.")
                )
            try:
                changes["retention"] = str(Retention.parse(retention))
            except ValueError as exc:
                raise UserError(N_("{exc}."), exc=exc) from exc
            said.append(Msg(N_("retention `{retention}`"), retention=changes["retention"]))
        if mailbox_limit_mb is not None:
            if not pop3:
                raise UserError(
                    N_("`mailbox_limit_mb` is for POP3; IMAP servers report their own quota.")
                )
            if not 0 <= mailbox_limit_mb <= MAX_MAILBOX_MB:
                raise UserError(
                    N_("mailbox_limit_mb must be 0 to {max_mailbox_mb}."),
                    max_mailbox_mb=format(MAX_MAILBOX_MB, ","),
                )
            changes["mailbox_limit_mb"] = mailbox_limit_mb or None
            changes["quota_level"] = 0
            if mailbox_limit_mb:
                said.append(Msg(N_("mailbox limit {mb} MB"), mb=f"{mailbox_limit_mb:,}"))
            else:
                said.append(Msg(N_("no mailbox limit")))
        if mention is not None:
            if mention.is_default():
                changes["mention_role_id"] = None
                said.append(Msg(N_("no role mention")))
            else:
                changes["mention_role_id"] = mention.id
                said.append(Msg(N_("alerts mention {role}"), role=f"<@&{mention.id}>"))
        return changes, said

    async def _folder_changes(
        self, account: Account, wanted: tuple[str, ...]
    ) -> tuple[list[FolderBaseline], list[str]]:
        """Baseline new folders on the server (so their old mail is not announced)."""
        current = account.folder_list
        new = [f for f in wanted if f not in current]
        dropped = [f for f in current if f not in wanted]
        if not new or account.protocol == Protocol.POP3:
            return [], dropped
        try:
            added = await asyncio.to_thread(
                imap.verify_and_baseline,
                await self.watcher.credentials(account),
                new,
                self.bot.settings.allow_private_hosts,
            )
        except MailError as exc:
            raise UserError(
                N_("Could not change the folders: {exc} Nothing was changed."), exc=exc
            ) from exc
        return added, dropped


def verify_login(cfg: ServerConfig, allow_private: bool) -> None:
    """Log in and out (blocking): proves a password before it is stored."""
    if cfg.protocol is Protocol.POP3:
        with pop3.session(cfg, allow_private):
            return
    with imap.session(cfg, allow_private):
        return


class NewPasswordModal(_ui.PasswordModal):
    def __init__(self, cog: Manage, account: Account, t: Translator) -> None:
        super().__init__(t("New mail password"), t)
        self.cog = cog
        self.account = account

    async def submitted(self, interaction: discord.Interaction, password: str) -> None:
        if interaction.guild_id != self.account.guild_id:
            raise AccountNotFound(self.account.name)
        account = await still_same(self.cog.bot, self.account)
        await self.cog.replace_password(interaction, account, password)


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Manage(bot))
