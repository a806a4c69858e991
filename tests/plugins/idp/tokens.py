"""POST /token (client check, dispatch by grant type, the refresh grant with rotation),
issuing tokens, revocation and expiry, and POST /introspect as Dovecot calls it."""

from __future__ import annotations

import dataclasses
import hmac
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .device import _name
from .records import Token
from .wire import DEVICE_GRANT, OAuthError, client_credentials, json_response, new_secret, number

if TYPE_CHECKING:
    from .server import Call


class TokensMixin:
    """Tokens of `IdentityProvider`."""

    # ----------------------------------------------------------------- test controls

    def issue_tokens(
        self, username: Any, scope: str = "", client_id: str | None = None
    ) -> dict[str, Any]:
        """Tokens for ``username`` (a str or a ``MailUser``) without any flow: the same JSON a
        successful POST /token answers (access_token, token_type, expires_in, refresh_token,
        scope). Not recorded as a request."""
        with self._lock:
            self._token_response(
                _name(username), client_id or self.client_id, scope, family=new_secret("f-", 8)
            )
            return dict(self._last_issued)

    def revoke(self, username: Any) -> None:
        """Revoke every token of ``username``: refresh answers ``invalid_grant``, introspection
        ``{"active": false}``. Approved device grants and unused codes for them die too.
        Tokens issued afterwards (a new sign-in) work."""
        name = _name(username)
        with self._lock:
            for token in self._tokens.values():
                if token.username == name:
                    token.revoked = True
            for grant in self._grants.values():
                if grant.username == name and grant.status == "approved":
                    grant.status = "revoked"
            for code in self._codes.values():
                if code.username == name:
                    code.used = True

    def expire_access_tokens(self, username: Any = None) -> None:
        """Existing access tokens of ``username`` (everyone's if None) expire now: they are
        inactive at introspection. Refresh tokens keep working."""
        name = None if username is None else _name(username)
        with self._lock:
            now = self._now()
            for token in self._tokens.values():
                if token.kind == "access" and (name is None or token.username == name):
                    token.expires_at = min(token.expires_at or now, now)

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued since the IdP started (reset() does not
        forget them), oldest first: for checking that none leaks into logs or storage."""
        with self._lock:
            return list(self._all_tokens)

    def tokens(self, username: Any = None, kind: str | None = None) -> list[Token]:
        """Copies of this test's tokens, oldest first, by user and kind ("access"/"refresh")."""
        name = None if username is None else _name(username)
        with self._lock:
            return [
                dataclasses.replace(t)
                for t in self._tokens.values()
                if (name is None or t.username == name) and (kind is None or t.kind == kind)
            ]

    def is_active(self, token: str) -> bool:
        """What introspection would answer for ``token`` now."""
        with self._lock:
            found = self._tokens.get(token)
            return found is not None and found.active(self._now())

    # ----------------------------------------------------------------- internals

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _authenticate_client(self, call: Call) -> str:
        client_id, secret, basic = client_credentials(call.headers, call.form)
        status = 401 if basic else 400
        if not client_id:
            raise OAuthError("invalid_request", "client_id is required")
        if client_id != self.client_id:
            raise OAuthError("invalid_client", "unknown client", 401 if basic else 400)
        if self.client_secret and not hmac.compare_digest(
            (secret or "").encode(), self.client_secret.encode()
        ):
            raise OAuthError("invalid_client", "client authentication failed", status)
        return client_id

    def _issue(self, kind: str, username: str, client_id: str, scope: str, family: str) -> Token:
        ttl = self.access_ttl if kind == "access" else None
        token = Token(
            value=new_secret("at-" if kind == "access" else "rt-"),
            kind=kind,
            username=username,
            client_id=client_id,
            scope=scope,
            issued_at=time.time(),
            expires_at=None if ttl is None else self._now() + ttl,
            family=family,
        )
        self._tokens[token.value] = token
        self._all_tokens.append(token.value)
        return token

    def _token_response(
        self, username: str, client_id: str, scope: str, *, family: str, refresh: bool = True
    ) -> web.Response:
        access = self._issue("access", username, client_id, scope, family)
        body: dict[str, Any] = {
            "access_token": access.value,
            "token_type": "Bearer",
            "expires_in": number(self.access_ttl),
        }
        if refresh:
            body["refresh_token"] = self._issue("refresh", username, client_id, scope, family).value
        body["scope"] = scope
        self._last_issued = body
        return json_response(body)

    def _revoke_family(self, family: str) -> None:
        for token in self._tokens.values():
            if token.family == family:
                token.revoked = True

    # ----------------------------------------------------------------- endpoints

    def _token(self, call: Call) -> web.Response:
        client_id = self._authenticate_client(call)
        grant_type = call.form.get("grant_type")
        if grant_type == DEVICE_GRANT:
            return self._device_code_grant(call, client_id)
        if grant_type == "authorization_code":
            return self._authorization_code_grant(call, client_id)
        if grant_type == "refresh_token":
            return self._refresh_grant(call, client_id)
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _refresh_grant(self, call: Call, client_id: str) -> web.Response:
        value = call.form.get("refresh_token")
        if not value:
            raise OAuthError("invalid_request", "refresh_token is required")
        old = self._tokens.get(value)
        if old is None or old.kind != "refresh" or old.client_id != client_id:
            raise OAuthError("invalid_grant", "unknown refresh token")
        if old.revoked:
            raise OAuthError("invalid_grant", "the refresh token was revoked")
        if old.rotated:
            raise OAuthError("invalid_grant", "the refresh token was already used (rotated)")
        scope = old.scope
        if "scope" in call.form:
            asked = set(call.form["scope"].split())
            if not asked <= set(old.scope.split()):
                raise OAuthError("invalid_scope", "more scope than originally granted")
            scope = " ".join(s for s in old.scope.split() if s in asked)
        rotate = self.rotate_refresh_tokens
        response = self._token_response(
            old.username, client_id, scope, family=old.family, refresh=rotate
        )
        if rotate:
            old.rotated = True
            old.replaced_by = self._last_issued["refresh_token"]
        return response

    def _introspect(self, call: Call) -> web.Response:
        value = call.form.get("token")
        if not value:
            raise OAuthError("invalid_request", "token is required")
        token = self._tokens.get(value)
        if token is None or token.kind != "access" or not token.active(call.now):
            return json_response({"active": False})
        return json_response({"active": True, "username": token.username})
