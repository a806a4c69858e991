"""The secret an account logs in with: its password, or an OAuth2 access token that is
refreshed first when due (or when the server said it expired). A rotated refresh token
is stored with its access token in one write."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy import Engine

from i18n import N_
from mail import oauth
from mail.errors import MailError
from mail.types import Protocol, Security, ServerConfig
from storage import repo
from storage.crypto import SecretBox, SecretKeyError
from storage.models import Account


class StoredSecretError(MailError):
    kind = "secret"


class Credentials:
    def __init__(
        self, engine: Engine, secrets: SecretBox, providers: Mapping[str, oauth.Provider]
    ) -> None:
        self._engine = engine
        self._secrets = secrets
        self._providers = providers
        self._refreshing: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._stale: set[int] = set()  # the server said the access token expired

    def token_expired(self, account_id: int) -> None:
        """Refresh before the next login whatever the token's own expiry says."""
        self._stale.add(account_id)

    @staticmethod
    def unchecked(account: Account) -> ServerConfig:
        """The server settings without the stored secret (for replacing it)."""
        return ServerConfig(
            protocol=Protocol(account.protocol),
            host=account.host,
            port=account.port,
            security=Security(account.security),
            username=account.username,
            password="",
        )

    def with_password(self, account: Account) -> ServerConfig:
        try:
            password = self._secrets.decrypt(account.password_encrypted)
        except SecretKeyError as exc:
            raise StoredSecretError(
                N_(
                    "The stored password cannot be decrypted with the current "
                    "MAILSYNC_SECRET_KEY; set it again with /mail password."
                )
            ) from exc
        return replace(self.unchecked(account), password=password)

    async def of(self, account: Account) -> ServerConfig:
        """The server settings with a usable secret."""
        if account.auth != "oauth":
            return self.with_password(account)
        if account.id is None:
            raise ValueError("only a stored account has credentials")
        provider = self._providers.get(account.oauth_provider or "")
        if provider is None:
            raise oauth.OAuthError(
                N_("The OAuth provider `{oauth_provider}` is no longer configured."),
                oauth_provider=account.oauth_provider,
            )
        async with self._refreshing[account.id]:
            stored = await asyncio.to_thread(repo.secret_of, self._engine, account.id)
            stored = stored or account.password_encrypted
            tokens = self._tokens(stored)
            if tokens.due() or account.id in self._stale:
                fresh = await asyncio.to_thread(oauth.refresh, provider, tokens)
                sealed = self._secrets.encrypt(fresh.to_json())
                await asyncio.to_thread(
                    repo.replace_secret, self._engine, account.id, stored, sealed
                )
                self._stale.discard(account.id)
                tokens = fresh
        return replace(self.unchecked(account), oauth_token=tokens.access_token)

    def _tokens(self, sealed: str) -> oauth.Tokens:
        try:
            return oauth.Tokens.from_json(self._secrets.decrypt(sealed))
        except SecretKeyError as exc:
            raise StoredSecretError(
                N_(
                    "The stored sign-in cannot be decrypted with the current "
                    "MAILSYNC_SECRET_KEY; sign in again with /mail reauth."
                )
            ) from exc
