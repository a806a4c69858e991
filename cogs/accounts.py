"""/mail add and /mail list: registering accounts and showing them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from cogs import _ui, _validate
from cogs._errors import UserError
from cogs._group import MailCommandsCog, guild_id_of
from cogs._lang import member_t
from i18n import N_, Translator
from mail import imap, oauth, pop3
from mail.errors import MailError
from mail.types import FolderBaseline, FolderState, Protocol, Security, ServerConfig
from storage import repo

if TYPE_CHECKING:
    from bot import MailsyncBot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedIn:
    """An OAuth2 sign-in that finished: the provider's name and the tokens it gave."""

    provider: str
    tokens: oauth.Tokens


@dataclass(frozen=True)
class AccountDraft:
    """What /mail add was given; the password arrives later through the modal."""

    guild_id: int
    user_id: int
    channel_id: int
    name: str
    protocol: Protocol
    host: str
    port: int
    security: Security
    username: str
    folders: tuple[str, ...]
    interval: int


class AddPasswordModal(_ui.PasswordModal):
    def __init__(self, cog: Accounts, draft: AccountDraft, t: Translator) -> None:
        super().__init__(t("Mail account password"), t)
        self.cog = cog
        self.draft = draft

    async def submitted(self, interaction: discord.Interaction, password: str) -> None:
        if interaction.guild_id != self.draft.guild_id:
            raise UserError(N_("This form belongs to another server; nothing was saved."))
        await self.cog.finish_add(interaction, self.draft, password)


class Accounts(MailCommandsCog):
    @app_commands.command(
        name="add", description=locale_str("Watch a mail account (asks the password next)")
    )
    @app_commands.describe(
        protocol=locale_str(
            "imap keeps mail on the server; pop3 downloads it into the bot's archive"
        ),
        host=locale_str("mail server host name, e.g. imap.example.com"),
        username=locale_str("login name, often the full address"),
        channel=locale_str("where alerts are posted"),
        port=locale_str(
            "default: 993 imap/tls, 143 imap/starttls, 995 pop3/tls, 110 pop3/starttls"
        ),
        security=locale_str("tls (default), starttls, or none (unencrypted, not advised)"),
        name=locale_str("a short name for this account (default username@host)"),
        folders=locale_str("IMAP folders to watch, comma-separated (default INBOX)"),
        interval=locale_str("minutes between polls (default 5, at least 1)"),
        auth=locale_str("password (asked next, default) or oauth (sign in at your mail provider)"),
    )
    async def add(
        self,
        interaction: discord.Interaction,
        protocol: Protocol,
        host: str,
        username: str,
        channel: discord.TextChannel,
        port: int | None = None,
        security: Security = Security.TLS,
        name: str | None = None,
        folders: str | None = None,
        interval: int | None = None,
        auth: Literal["password", "oauth"] = "password",
    ) -> None:
        guild_id = guild_id_of(interaction)
        host = _validate.host(host)
        username = _validate.username(username)
        draft = AccountDraft(
            guild_id=guild_id,
            user_id=interaction.user.id,
            channel_id=channel.id,
            name=_validate.account_name(name, username, host),
            protocol=protocol,
            host=host,
            port=_validate.port(port, protocol, security),
            security=security,
            username=username,
            folders=_validate.folders(folders, protocol),
            interval=_validate.interval(interval),
        )
        # The modal must be the first response, so these checks stay cheap (indexed rows).
        if await asyncio.to_thread(
            repo.account_name_taken, self.bot.engine, draft.guild_id, draft.name
        ):
            raise UserError(
                N_("An account named `{name}` already exists in this server."), name=draft.name
            )
        await self._check_room(draft.guild_id)
        if auth == "oauth":
            await self.bot.get_cog("SignIn").add(interaction, draft)  # type: ignore[union-attr]
            return
        await interaction.response.send_modal(AddPasswordModal(self, draft, member_t(interaction)))

    async def _check_room(self, guild_id: int) -> None:
        limit = self.bot.settings.max_accounts_per_guild
        if await asyncio.to_thread(repo.count_accounts, self.bot.engine, guild_id) >= limit:
            raise UserError(
                N_(
                    "This server already has {limit} mail accounts, the most allowed;"
                    " remove one with `/mail remove` first."
                ),
                limit=limit,
            )

    async def finish_add(
        self,
        interaction: discord.Interaction,
        draft: AccountDraft,
        password: str = "",
        signin: SignedIn | None = None,
    ) -> None:
        """Verify, baseline and save; with `signin` the account logs in with OAuth2."""
        cfg = ServerConfig(
            protocol=draft.protocol,
            host=draft.host,
            port=draft.port,
            security=draft.security,
            username=draft.username,
            password=password,
            oauth_token=signin.tokens.access_token if signin else None,
        )
        await self._check_room(draft.guild_id)
        allow_private = self.bot.settings.allow_private_hosts
        baselines: list[FolderBaseline] = []
        pop3_uidls: frozenset[str] = frozenset()
        try:
            if draft.protocol is Protocol.IMAP:
                baselines = await asyncio.to_thread(
                    imap.verify_and_baseline, cfg, draft.folders, allow_private
                )
            else:
                found = await asyncio.to_thread(pop3.baseline, cfg, allow_private)
                pop3_uidls = found.uidls
                baselines = [_pop3_summary(found.count, found.newest)]
        except MailError as exc:
            raise UserError(
                N_("Could not add `{name}`: {exc} Nothing was saved."), name=draft.name, exc=exc
            ) from exc
        new = repo.NewAccount(
            guild_id=draft.guild_id,
            channel_id=draft.channel_id,
            name=draft.name,
            protocol=draft.protocol.value,
            host=draft.host,
            port=draft.port,
            security=draft.security.value,
            username=draft.username,
            password_encrypted=self.bot.secrets.encrypt(
                signin.tokens.to_json() if signin else password
            ),
            folders=draft.folders,
            interval_minutes=draft.interval,
            created_by=draft.user_id,
            auth="oauth" if signin else "password",
            oauth_provider=signin.provider if signin else None,
        )
        try:
            account = await asyncio.to_thread(
                repo.create_account,
                self.bot.engine,
                new,
                baselines if draft.protocol is Protocol.IMAP else (),
                pop3_uidls,
            )
        except repo.DuplicateAccountError as exc:
            raise UserError(
                N_("An account named `{name}` already exists."), name=draft.name
            ) from exc
        self.watcher.schedule(account)
        log.info("guild %s added account %s (%s)", draft.guild_id, account.id, draft.protocol)
        text = _added_text(draft, baselines, member_t(interaction))
        await interaction.followup.send(text, ephemeral=True)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Leaving a guild deletes its accounts and their secrets."""
        ids = await asyncio.to_thread(repo.delete_guild, self.bot.engine, guild.id)
        for account_id in ids:
            self.watcher.unschedule(account_id)
            self.alerts.digests.unschedule(account_id)
            self.watcher.boards.discard(account_id)
        if ids:
            log.info("left guild %s: deleted %d account(s)", guild.id, len(ids))

    @app_commands.command(name="list", description=locale_str("This server's mail accounts"))
    async def list_(self, interaction: discord.Interaction) -> None:
        guild_id = guild_id_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        rows = await asyncio.to_thread(repo.list_accounts, self.bot.engine, guild_id)
        quiet = self.watcher.last_poll
        t = member_t(interaction)
        if not rows:
            await interaction.followup.send(
                t("No mail accounts yet. Add one with `/mail add`."), ephemeral=True
            )
            return
        embed = discord.Embed(title=t("Mail accounts"), colour=_ui.NEW_MAIL_COLOUR)
        for row in rows[:25]:
            a, h = row.account, row.health
            state = t("paused") if a.paused else t("active")
            # quiet sweeps are kept in memory, not written: show the later of the two
            polled = _latest(h and h.last_poll_at, quiet.get(a.id))
            lines = [
                f"{a.protocol.upper()} · `{a.host}:{a.port}` · `{a.username}`",
                t(
                    "{channel} · every {minutes} min · {state}",
                    channel=_ui.channel_ref(a.channel_id),
                    minutes=a.interval_minutes,
                    state=state,
                ),
                t("last poll: {when}", when=_ui.relative_time(polled, t)),
            ]
            if a.protocol == "imap" or a.mailbox_limit_mb:
                read = _latest(h and h.quota_read_at, self.watcher.quota_read.get(a.id))
                lines.append(t("quota read: {when}", when=_ui.relative_time(read, t)))
            if h and h.last_error:
                raised = self.watcher.poll_health.last_error.get(a.id)  # in the member's language
                error = _ui.truncate(raised.render(t) if raised else h.last_error, 300)
                if h.consecutive_failures:
                    lines.append(
                        t.ngettext(
                            "last error ({count} in a row): {error}",
                            "last error ({count} in a row): {error}",
                            h.consecutive_failures,
                            error=error,
                        )
                    )
                else:
                    lines.append(t("last error: {error}", error=error))
            if a.channel_broken:
                held = t(
                    "alerts held: {reason}; fix with `/mail edit channel:`",
                    reason=a.channel_broken,
                )
                lines.append(f"\N{WARNING SIGN} {held}")
            embed.add_field(name=_ui.truncate(a.name, 256), value="\n".join(lines), inline=False)
        await interaction.followup.send(embed=_ui.fit(embed), ephemeral=True)


def _latest(*moments: datetime | None) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)


def _pop3_summary(count: int, newest: tuple[str, str] | None) -> FolderBaseline:
    """POP3 has one mailbox and no unread flag; shown like an IMAP folder baseline."""
    return FolderBaseline("INBOX", FolderState(0, 0), messages=count, unseen=None, newest=newest)


def _added_text(draft: AccountDraft, baselines: list[FolderBaseline], t: Translator) -> str:
    watching = t(
        "Watching `{name}`: alerts go to {channel}, checked every {minutes} min. Mail "
        "already there is not announced.",
        name=draft.name,
        channel=_ui.channel_ref(draft.channel_id),
        minutes=draft.interval,
    )
    lines = [f"\N{WHITE HEAVY CHECK MARK} {watching}"]
    for b in baselines:
        counts = t.ngettext("{count} message", "{count} messages", b.messages)
        if b.unseen is not None:
            counts += ", " + t("{count} unread", count=t.number(b.unseen))
        lines.append(f"• `{b.folder}`: {counts}")
        if b.newest:
            sender, subject = b.newest
            who, what = _ui.mail_text(sender, 80), _ui.mail_text(subject, 120)
            lines.append(
                "  "
                + t(
                    "newest: {sender} \N{EM DASH} {subject}", sender="**" + who + "**", subject=what
                )
            )
    if draft.protocol is Protocol.POP3:
        lines.append(
            t(
                "POP3: new mail is downloaded into the bot's archive (`/mail archive`); the "
                "server copy is kept (change with `/mail edit retention:`)."
            )
        )
    if draft.security is Security.NONE:
        unencrypted = t("security `none`: the password and mail travel unencrypted.")
        lines.append(f"\N{WARNING SIGN} {unencrypted}")
    return "\n".join(lines)


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Accounts(bot))
