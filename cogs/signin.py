"""OAuth2 sign-in from Discord (SPEC section 7): /mail add auth:oauth and /mail reauth.

The device flow (RFC 8628) shows a code and a link and polls the provider; the redirect
flow (code + PKCE S256) sends the member to the provider with a link whose single-use
`state` is bound to this guild, member and pending add, and the bot's web endpoint
receives the callback. Either way the tokens then go through the same checks as a
password: a login, the baseline, one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import discord
from aiohttp import web as aioweb
from discord import app_commands
from discord.app_commands import locale_str

from cogs._autocomplete import account_autocomplete, find_account
from cogs._errors import UserError
from cogs._group import MailCommandsCog, guild_id_of
from cogs._lang import member_t
from cogs.manage import verify_login
from i18n import N_, Msg
from mail import oauth, oauth_providers
from mail.errors import MailError
from storage import repo
from web.app import page

if TYPE_CHECKING:
    from bot import MailsyncBot
    from cogs.accounts import AccountDraft, Accounts
    from storage.models import Account

log = logging.getLogger(__name__)

PENDING_SECONDS = 600.0  # a redirect sign-in link works this long, once
OUTCOME_WAIT = 60.0  # how long the callback page waits for the add to finish


@dataclass(eq=False)
class _Pending:
    """A redirect sign-in waiting for its callback."""

    guild_id: int
    user_id: int
    provider: oauth.Provider
    verifier: str = field(repr=False)
    redirect_uri: str
    expires_at: float
    tokens: asyncio.Future[oauth.Tokens]
    outcome: asyncio.Future[str]


Report = Callable[[str], None]  # tells a waiting callback page how the add ended


class SignIn(MailCommandsCog):
    slow_down_step = 5.0  # RFC 8628 section 3.5: wait 5 s longer after each slow_down

    def __init__(self, bot: MailsyncBot) -> None:
        super().__init__(bot)
        self._pending: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        bot.web.add_get("/oauth/callback", self.callback)

    async def cog_unload(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().cog_unload()

    @property
    def accounts(self) -> Accounts:
        return self.bot.get_cog("Accounts")  # type: ignore[return-value]

    async def _begin(
        self,
        interaction: discord.Interaction,
        provider: oauth.Provider,
        work: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        """Answer the command now; the sign-in (minutes, maybe) runs as a task of its own."""
        if provider.flow == "redirect" and not self.bot.web.enabled:
            raise UserError(
                N_(
                    "`{provider}` signs in through the bot's web endpoint, which is off "
                    "(MAILSYNC_HTTP_PORT=0). Ask the bot's operator to turn it on."
                ),
                provider=provider.name,
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        task = asyncio.create_task(work())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _provider_for(self, host: str) -> oauth.Provider:
        try:
            return oauth_providers.provider_for(self.bot.settings.oauth_providers, host)
        except oauth.OAuthError as exc:
            raise UserError(N_("{exc} Nothing was saved."), exc=exc) from exc

    # ------------------------------------------------------------------ /mail add

    async def add(self, interaction: discord.Interaction, draft: AccountDraft) -> None:
        """/mail add auth:oauth: sign in, then the same checks and save as a password add."""
        provider = self._provider_for(draft.host)
        await self._begin(
            interaction, provider, lambda: self._run_add(interaction, draft, provider)
        )

    async def _run_add(
        self, interaction: discord.Interaction, draft: AccountDraft, provider: oauth.Provider
    ) -> None:
        from cogs.accounts import SignedIn

        report: Report = _ignore
        try:
            what = Msg(N_("add `{name}`"), name=draft.name)
            tokens, report = await self._sign_in(
                interaction, provider, draft.guild_id, draft.user_id, what
            )
            await self.accounts.finish_add(
                interaction, draft, signin=SignedIn(provider.name, tokens)
            )
        except UserError as exc:  # finish_add's refusals already name the account
            report(f"Not added: {exc}")
            await _say(interaction, exc.render(member_t(interaction)))
            return
        except MailError as exc:
            report(f"Not added: {exc} Nothing was saved.")
            t = member_t(interaction)
            await _say(
                interaction,
                t("Could not add `{name}`: {exc} Nothing was saved.", name=draft.name, exc=exc),
            )
            return
        report(f"Signed in: `{draft.name}` is watched now. You can close this page.")

    # ------------------------------------------------------------------ /mail reauth

    @app_commands.command(
        name="reauth", description=locale_str("Sign in again to an OAuth2 mail account")
    )
    @app_commands.describe(account=locale_str("the account to sign in again"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def reauth(self, interaction: discord.Interaction, account: str) -> None:
        found = await find_account(self.bot, interaction, account)
        if found.auth != "oauth":
            raise UserError(
                N_("`{name}` signs in with a password: replace it with `/mail password`."),
                name=found.name,
            )
        provider = self.bot.settings.oauth_providers.get(found.oauth_provider or "")
        if provider is None:
            raise UserError(
                N_(
                    "The OAuth provider `{oauth_provider}` of `{name}` is no longer "
                    "configured on this bot."
                ),
                oauth_provider=found.oauth_provider,
                name=found.name,
            )
        await self._begin(
            interaction, provider, lambda: self._run_reauth(interaction, found, provider)
        )

    async def _run_reauth(
        self, interaction: discord.Interaction, account: Account, provider: oauth.Provider
    ) -> None:
        report: Report = _ignore
        guild_id = guild_id_of(interaction)
        try:
            what = Msg(N_("sign `{name}` in"), name=account.name)
            tokens, report = await self._sign_in(
                interaction, provider, guild_id, interaction.user.id, what
            )
            cfg = replace(
                self.watcher.config_of_unchecked(account), oauth_token=tokens.access_token
            )
            await asyncio.to_thread(verify_login, cfg, self.bot.settings.allow_private_hosts)
        except (UserError, MailError) as exc:
            report(f"Not signed in: {exc}")
            t = member_t(interaction)
            await _say(
                interaction,
                t("`{name}` was not signed in again: {exc}", name=account.name, exc=exc),
            )
            return
        # Re-found by (guild, name): the account may have been removed meanwhile.
        current = await asyncio.to_thread(
            repo.find_account, self.bot.engine, guild_id, account.name
        )
        if current is None or current.id != account.id:
            report("Not signed in: the account was removed meanwhile.")
            t = member_t(interaction)
            await _say(
                interaction,
                t("`{name}` was removed meanwhile; nothing was saved.", name=account.name),
            )
            return
        sealed = self.bot.secrets.encrypt(tokens.to_json())
        updated = await asyncio.to_thread(
            repo.update_account,
            self.bot.engine,
            current.id,
            {"password_encrypted": sealed, "needs_reauth": False},
        )
        if updated is None:
            return
        if not updated.paused:
            self.watcher.schedule(updated)
            self.watcher.request_poll(updated.id)  # posts "recovered" if it was in trouble
        report(f"Signed in again: `{account.name}` is watched again. You can close this page.")
        t = member_t(interaction)
        await _say(
            interaction, t("Signed `{name}` in again; polling resumes now.", name=account.name)
        )

    # ------------------------------------------------------------------ the flows

    async def _sign_in(
        self,
        interaction: discord.Interaction,
        provider: oauth.Provider,
        guild_id: int,
        user_id: int,
        what: Msg,
    ) -> tuple[oauth.Tokens, Report]:
        if provider.flow == "device":
            return await self._device(interaction, provider, what), _ignore
        return await self._redirect(interaction, provider, guild_id, user_id, what)

    async def _device(
        self, interaction: discord.Interaction, provider: oauth.Provider, what: Msg
    ) -> oauth.Tokens:
        grant = await asyncio.to_thread(oauth.start_device_flow, provider)
        minutes = max(1, round((grant.expires_at - time.monotonic()) / 60))
        t = member_t(interaction)
        view = discord.ui.View()
        view.add_item(
            discord.ui.Button(
                label=t("Sign in"), url=grant.verification_uri_complete or grant.verification_uri
            )
        )
        await interaction.followup.send(
            t(
                "To {what}, open {url} and enter the code {code} (valid {minutes} min). This "
                "message updates when you are done.",
                what=what,
                url=grant.verification_uri,
                code="**`" + grant.user_code + "`**",
                minutes=minutes,
            ),
            view=view,
            ephemeral=True,
        )
        interval = grant.interval
        while True:
            if time.monotonic() >= grant.expires_at:
                raise oauth.FlowExpiredError(
                    N_("The sign-in code expired before it was used; nothing was saved.")
                )
            await asyncio.sleep(interval)
            answer = await asyncio.to_thread(oauth.poll_device_flow, provider, grant)
            if isinstance(answer, oauth.Tokens):
                return answer
            if answer == "slow_down":
                interval += self.slow_down_step

    async def _redirect(
        self,
        interaction: discord.Interaction,
        provider: oauth.Provider,
        guild_id: int,
        user_id: int,
        what: Msg,
    ) -> tuple[oauth.Tokens, Report]:
        loop = asyncio.get_running_loop()
        state = oauth.new_state()
        redirect_uri = self.bot.settings.callback_url
        url, verifier = oauth.authorization_url(provider, redirect_uri, state)
        pending = _Pending(
            guild_id,
            user_id,
            provider,
            verifier,
            redirect_uri,
            time.monotonic() + PENDING_SECONDS,
            loop.create_future(),
            loop.create_future(),
        )
        self._pending[state] = pending
        t = member_t(interaction)
        view = discord.ui.View()
        label = t("Sign in with {provider}", provider=provider.name)
        view.add_item(discord.ui.Button(label=label, url=url))
        await interaction.followup.send(
            t(
                "To {what}, sign in with the button. The link works once, for {minutes} minutes.",
                what=what,
                minutes=int(PENDING_SECONDS // 60),
            ),
            view=view,
            ephemeral=True,
        )
        try:
            tokens = await asyncio.wait_for(asyncio.shield(pending.tokens), PENDING_SECONDS)
        except TimeoutError:
            raise oauth.FlowExpiredError(
                N_("The sign-in link expired before it was used; nothing was saved.")
            ) from None
        finally:
            self._pending.pop(state, None)

        def report(text: str) -> None:
            if not pending.outcome.done():
                pending.outcome.set_result(text)

        return tokens, report

    async def callback(self, request: aioweb.Request) -> aioweb.Response:
        """GET /oauth/callback: exchange the code, then show how the add ended."""
        pending = self._pending.pop(request.query.get("state", ""), None)
        if pending is None or time.monotonic() > pending.expires_at:
            return page(
                "Sign-in link not valid",
                "This sign-in link is unknown, was already used, or expired. Nothing was "
                "saved. Start again from Discord.",
                400,
            )
        if "error" in request.query or not request.query.get("code"):
            declined = N_("The sign-in was declined; nothing was saved.")
            _fail(pending, oauth.FlowDeniedError(declined))
            return page("Sign-in declined", "Nothing was saved. You can close this page.", 400)
        try:
            tokens = await asyncio.to_thread(
                oauth.exchange_code,
                pending.provider,
                request.query["code"],
                pending.verifier,
                pending.redirect_uri,
            )
        except MailError as exc:
            _fail(pending, exc)
            return page("Sign-in failed", f"{exc} Nothing was saved.", 400)
        if not pending.tokens.done():
            pending.tokens.set_result(tokens)
        try:
            text = await asyncio.wait_for(asyncio.shield(pending.outcome), OUTCOME_WAIT)
        except TimeoutError:
            text = "Signed in; the bot is still checking the mailbox. Discord shows the result."
        ok = text.startswith("Signed")
        return page("Signed in" if ok else "Not added", text, 200 if ok else 400)


def _ignore(_text: str) -> None:
    return None


def _fail(pending: _Pending, exc: Exception) -> None:
    if not pending.tokens.done():
        pending.tokens.set_exception(exc)
    with contextlib.suppress(asyncio.InvalidStateError):
        pending.outcome.set_result(f"Not added: {exc}")


async def _say(interaction: discord.Interaction, text: str) -> None:
    with contextlib.suppress(discord.HTTPException):
        await interaction.followup.send(text, ephemeral=True)


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(SignIn(bot))
