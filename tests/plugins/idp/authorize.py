"""The authorization code grant with PKCE S256 (RFC 6749 4.1, RFC 7636): GET /authorize
answers for the person the test signed in, and POST /token exchanges the code once."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from .device import _name
from .records import AuthorizationCode
from .wire import OAuthError, new_secret, s256, valid_verifier

if TYPE_CHECKING:
    from .server import Call


def _with_query(uri: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(uri).query else "?"
    return f"{uri}{separator}{urlencode(params)}"


def _page(status: int, text: str) -> web.Response:
    return web.Response(
        status=status,
        text=f"<!doctype html><title>Sign in</title><p>{text}</p>",
        content_type="text/html",
    )


class RedirectFlowMixin:
    """Redirect flow of `IdentityProvider`."""

    # ----------------------------------------------------------------- test controls

    def sign_in_as(self, username: Any) -> None:
        """Every later GET /authorize is answered as if ``username`` (a str or a ``MailUser``)
        signed in and consented, until changed, ``sign_out()`` or ``reset()``."""
        with self._lock:
            self._signed_in = _name(username)

    def sign_out(self) -> None:
        """Nobody is signed in: GET /authorize shows a sign-in page (200) and redirects
        nowhere, as a real provider waits for the person."""
        with self._lock:
            self._signed_in = None

    def deny_next_authorize(self) -> None:
        """The next GET /authorize redirects with ``error=access_denied`` (the person
        refused); later ones are answered as usual."""
        with self._lock:
            self._deny_authorize += 1

    def authorization_codes(self) -> list[AuthorizationCode]:
        """Every authorization code issued in this test, oldest first."""
        with self._lock:
            return list(self._codes.values())

    # ----------------------------------------------------------------- endpoints

    def _authorize(self, call: Call) -> web.Response:
        query = call.query
        client_id, redirect_uri = query.get("client_id"), query.get("redirect_uri")
        # Errors about the client or redirect URI are shown, never redirected (RFC 6749 4.1.2.1).
        if client_id != self.client_id:
            return _page(400, "invalid_request: unknown client_id")
        if not redirect_uri or not urlsplit(redirect_uri).scheme:
            return _page(400, "invalid_request: redirect_uri is required")
        if self.redirect_uris is not None and redirect_uri not in self.redirect_uris:
            return _page(400, "invalid_request: redirect_uri is not registered")

        state = query.get("state")

        def back(params: dict[str, str]) -> web.Response:
            if state is not None:
                params["state"] = state
            return web.Response(status=302, headers={"Location": _with_query(redirect_uri, params)})

        def refuse(error: str, description: str) -> web.Response:
            return back({"error": error, "error_description": description})

        if query.get("response_type") != "code":
            return refuse("unsupported_response_type", "only response_type=code")
        challenge = query.get("code_challenge")
        if not challenge:
            return refuse("invalid_request", "code_challenge is required (PKCE)")
        if query.get("code_challenge_method") != "S256":
            return refuse("invalid_request", "code_challenge_method must be S256")
        if self._deny_authorize:
            self._deny_authorize -= 1
            return refuse("access_denied", "the user refused the request")
        if self._signed_in is None:
            return _page(200, "Sign in to continue.")
        code = AuthorizationCode(
            code=new_secret("ac-"),
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=query.get("scope", ""),
            username=self._signed_in,
            code_challenge=challenge,
            state=state,
            expires_at=call.now + self.code_ttl,
        )
        code.family = code.code
        self._codes[code.code] = code
        return back({"code": code.code})

    def _authorization_code_grant(self, call: Call, client_id: str) -> web.Response:
        form = call.form
        value = form.get("code")
        if not value:
            raise OAuthError("invalid_request", "code is required")
        code = self._codes.get(value)
        if code is None or code.client_id != client_id:
            raise OAuthError("invalid_grant", "unknown authorization code")
        if code.used:
            # RFC 6749 4.1.2: a replayed code revokes what it already granted.
            self._revoke_family(code.family)
            raise OAuthError("invalid_grant", "the authorization code was already used")
        code.used = True
        if call.now >= code.expires_at:
            raise OAuthError("invalid_grant", "the authorization code has expired")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization")
        verifier = form.get("code_verifier")
        if not verifier:
            raise OAuthError("invalid_grant", "code_verifier is required (PKCE)")
        if not valid_verifier(verifier) or not hmac.compare_digest(
            s256(verifier), code.code_challenge
        ):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        return self._token_response(code.username, client_id, code.scope, family=code.family)
