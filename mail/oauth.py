"""OAuth2 sign-in for mail servers (SPEC section 7): the device flow (RFC 8628),
the redirect flow (authorization code + PKCE S256), token refresh, and the SASL strings.

Token requests go through Authlib's OAuth2Session (on requests): it builds the PKCE pair,
the authorization URL and the token requests, and turns OAuth error answers into
exceptions. Everything here blocks; async callers use asyncio.to_thread. Tokens never
reach a log: they are kept out of every repr and every message here."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from i18n import N_
from mail.errors import AuthError
from mail.oauth_providers import OAuthError, Provider

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
HTTP_TIMEOUT = 20.0
REFRESH_AHEAD = 300.0  # refresh an access token this many seconds before it expires


class FlowDeniedError(OAuthError):
    kind = "oauth-denied"


class FlowExpiredError(OAuthError):
    kind = "oauth-expired"


class ReauthNeededError(AuthError):
    """The refresh token was refused (invalid_grant): only /mail reauth can fix it."""

    kind = "reauth"


@dataclass(frozen=True)
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float  # epoch seconds

    def due(self, now: float | None = None) -> bool:
        """Expired, or close enough that a new session should not start with it."""
        return (now or time.time()) >= self.expires_at - REFRESH_AHEAD

    def to_json(self) -> str:
        return json.dumps(
            {"access": self.access_token, "refresh": self.refresh_token, "exp": self.expires_at}
        )

    @classmethod
    def from_json(cls, text: str) -> Tokens:
        data = json.loads(text)
        return cls(data["access"], data.get("refresh") or "", float(data["exp"]))

    @classmethod
    def from_response(cls, token: Mapping[str, object], previous: Tokens | None = None) -> Tokens:
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise OAuthError(N_("The identity provider answered without an access token."))
        refresh = token.get("refresh_token") or (previous.refresh_token if previous else "")
        expires_in = token.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float | str) else 3600.0
        return cls(access, str(refresh), time.time() + lifetime)


@dataclass(frozen=True)
class DeviceGrant:
    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    interval: float
    expires_at: float  # monotonic


# ---------------------------------------------------------------- flows


def _session(provider: Provider, **kwargs: object) -> OAuth2Session:
    session = OAuth2Session(
        client_id=provider.client_id,
        client_secret=provider.client_secret or None,
        scope=" ".join(provider.scopes) or None,
        token_endpoint_auth_method="client_secret_post" if provider.client_secret else "none",
        **kwargs,
    )
    session.timeout = HTTP_TIMEOUT  # type: ignore[attr-defined]
    return session


def _unreachable(provider: Provider, exc: Exception) -> OAuthError:
    return OAuthError(
        N_("The sign-in service of `{provider}` could not be reached ({error})."),
        provider=provider.name,
        error=type(exc).__name__,
    )


def start_device_flow(provider: Provider) -> DeviceGrant:
    """RFC 8628 section 3.1: ask for a device code and the code the user types."""
    data = {"client_id": provider.client_id, "scope": " ".join(provider.scopes)}
    try:
        answer = requests.post(
            provider.device_authorization_endpoint, data=data, timeout=HTTP_TIMEOUT
        )
        body = answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise _unreachable(provider, exc) from exc
    if answer.status_code != 200 or "device_code" not in body or "user_code" not in body:
        error = str(body.get("error", answer.status_code))[:80]
        raise OAuthError(
            N_("`{provider}` refused to start a device sign-in ({error})."),
            provider=provider.name,
            error=error,
        )
    return DeviceGrant(
        device_code=str(body["device_code"]),
        user_code=str(body["user_code"])[:40],
        verification_uri=str(body.get("verification_uri") or body.get("verification_url")),
        verification_uri_complete=body.get("verification_uri_complete"),
        interval=float(body.get("interval") or 5),
        expires_at=time.monotonic() + float(body.get("expires_in") or 900),
    )


def poll_device_flow(provider: Provider, grant: DeviceGrant) -> Tokens | str:
    """One token request (RFC 8628 section 3.4): Tokens, or "authorization_pending" /
    "slow_down" for the caller to wait and ask again. Denied or expired: raises."""
    session = _session(provider)
    try:
        token = session.fetch_token(
            provider.token_endpoint, grant_type=DEVICE_GRANT, device_code=grant.device_code
        )
    except AuthlibBaseError as exc:  # OAuth error answers (RFC 6749 section 5.2)
        if exc.error in ("authorization_pending", "slow_down"):
            return exc.error
        if exc.error == "access_denied":
            raise FlowDeniedError(N_("The sign-in was declined; nothing was saved.")) from None
        if exc.error == "expired_token":
            raise FlowExpiredError(
                N_("The sign-in code expired before it was used; nothing was saved.")
            ) from None
        raise OAuthError(
            N_("`{provider}` refused the sign-in ({error})."),
            provider=provider.name,
            error=exc.error,
        ) from None
    except requests.RequestException as exc:
        raise _unreachable(provider, exc) from exc
    return Tokens.from_response(token)


def authorization_url(provider: Provider, redirect_uri: str, state: str) -> tuple[str, str]:
    """The URL to send the user to (PKCE S256) and the code verifier to keep."""
    verifier = generate_token(64)
    session = _session(provider, redirect_uri=redirect_uri, code_challenge_method="S256")
    url, _ = session.create_authorization_url(
        provider.authorization_endpoint,
        state=state,
        code_verifier=verifier,
        **dict(provider.extra_authorize_params),
    )
    return url, verifier


def exchange_code(provider: Provider, code: str, verifier: str, redirect_uri: str) -> Tokens:
    session = _session(provider, redirect_uri=redirect_uri)
    try:
        token = session.fetch_token(
            provider.token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
        )
    except AuthlibBaseError as exc:  # OAuth error answers (RFC 6749 section 5.2)
        raise OAuthError(
            N_("`{provider}` refused the sign-in ({error})."),
            provider=provider.name,
            error=exc.error,
        ) from None
    except requests.RequestException as exc:
        raise _unreachable(provider, exc) from exc
    return Tokens.from_response(token)


def refresh(provider: Provider, tokens: Tokens) -> Tokens:
    """A new access token (and the rotated refresh token, if the provider rotates)."""
    if not tokens.refresh_token:
        raise ReauthNeededError(N_("There is no refresh token: sign in again with /mail reauth."))
    session = _session(provider)
    try:
        token = session.refresh_token(provider.token_endpoint, refresh_token=tokens.refresh_token)
    except AuthlibBaseError as exc:  # OAuth error answers (RFC 6749 section 5.2)
        if exc.error == "invalid_grant":
            raise ReauthNeededError(
                N_(
                    "`{provider}` no longer accepts the stored sign-in (it was "
                    "revoked or expired): run `/mail reauth` to sign in again."
                ),
                provider=provider.name,
            ) from None
        raise OAuthError(
            N_("`{provider}` refused to refresh the token ({error})."),
            provider=provider.name,
            error=exc.error,
        ) from None
    except requests.RequestException as exc:
        raise _unreachable(provider, exc) from exc
    return Tokens.from_response(token, previous=tokens)


def new_state() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------- SASL


def xoauth2(user: str, token: str) -> bytes:
    """Google's and Microsoft's XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer(user: str, host: str, port: int, token: str) -> bytes:
    """RFC 7628 OAUTHBEARER initial response (before base64)."""
    user = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()
