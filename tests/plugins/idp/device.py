"""The device authorization grant (RFC 8628): POST /device/code, the polling answers of
POST /token, and the test's hand in it (approve, deny, the codes shown to the user)."""

from __future__ import annotations

import dataclasses
import html
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from .records import DeviceGrant
from .wire import (
    OAuthError,
    json_response,
    new_secret,
    new_user_code,
    normalize_user_code,
    number,
)

if TYPE_CHECKING:
    from .server import Call


def _name(user: Any) -> str:
    """A username, or anything with a ``.name`` (a dovecot ``MailUser``)."""
    return user if isinstance(user, str) else str(user.name)


class DeviceFlowMixin:
    """Device flow of `IdentityProvider`."""

    # ----------------------------------------------------------------- test controls

    def approve(self, user_code: str, username: Any) -> None:
        """The person signs in as ``username`` (a str or a ``MailUser``) and approves
        ``user_code``: the next poll after the interval gets tokens for that user."""
        with self._lock:
            grant = self._grant_by_user_code(user_code)
            if grant.status not in ("pending", "approved"):
                raise ValueError(f"user code {user_code} is already {grant.status}")
            grant.status, grant.username = "approved", _name(username)

    def deny(self, user_code: str) -> None:
        """The person refuses ``user_code``: the next poll gets ``access_denied``."""
        with self._lock:
            grant = self._grant_by_user_code(user_code)
            if grant.status not in ("pending", "denied"):
                raise ValueError(f"user code {user_code} is already {grant.status}")
            grant.status = "denied"

    def pending_user_codes(self) -> list[str]:
        """User codes neither approved, denied, redeemed nor expired, oldest first."""
        with self._lock:
            now = self._now()
            return [
                g.user_code
                for g in self._grants.values()
                if g.status == "pending" and not g.expired(now)
            ]

    def last_user_code(self) -> str | None:
        """The user code of the latest device authorization request (any state), or None."""
        with self._lock:
            grants = list(self._grants.values())
            return grants[-1].user_code if grants else None

    def device_grant(self, user_code: str) -> DeviceGrant:
        """A copy of one device grant: its status, current interval, polls and slow_downs."""
        with self._lock:
            return dataclasses.replace(self._grant_by_user_code(user_code))

    async def wait_for_user_code(self, timeout: float = 10.0, after: int = 0) -> str:
        """The user code of the first device authorization request in ``requests[after:]``
        that was answered, waiting for it (polling; safe on any event loop)."""
        request = await self.wait_for(
            method="POST", path=r"^/device/code$", status=200, after=after, timeout=timeout
        )
        return request.response["user_code"]

    def _grant_by_user_code(self, user_code: str) -> DeviceGrant:
        device_code = self._user_codes.get(normalize_user_code(user_code))
        if device_code is None:
            raise KeyError(f"no device authorization with user code {user_code!r}")
        return self._grants[device_code]

    # ----------------------------------------------------------------- endpoints

    def _device_code(self, call: Call) -> web.Response:
        client_id = self._authenticate_client(call)
        scope = call.form.get("scope", "")
        user_code = new_user_code()
        while user_code in self._user_codes:
            user_code = new_user_code()
        grant = DeviceGrant(
            device_code=new_secret("dc-"),
            user_code=user_code,
            client_id=client_id,
            scope=scope,
            created=call.now,
            expires_at=call.now + self.device_expires_in,
            interval=float(self.device_interval),
        )
        self._grants[grant.device_code] = grant
        self._user_codes[user_code] = grant.device_code
        return json_response(
            {
                "device_code": grant.device_code,
                "user_code": user_code,
                "verification_uri": self.verification_uri,
                "verification_uri_complete": (
                    f"{self.verification_uri}?user_code={quote(user_code)}"
                ),
                "expires_in": number(self.device_expires_in),
                "interval": number(self.device_interval),
            }
        )

    def _verification_page(self, call: Call) -> web.Response:
        code = html.escape(call.query.get("user_code", ""))
        page = (
            "<!doctype html><title>Sign in</title>"
            f"<p>Enter the code shown by the application: <input value='{code}'></p>"
        )
        return web.Response(text=page, content_type="text/html")

    def _device_code_grant(self, call: Call, client_id: str) -> web.Response:
        device_code = call.form.get("device_code")
        if not device_code:
            raise OAuthError("invalid_request", "device_code is required")
        grant = self._grants.get(device_code)
        if grant is None or grant.client_id != client_id:
            raise OAuthError("invalid_grant", "unknown device_code")
        if grant.status in ("redeemed", "revoked"):
            raise OAuthError("invalid_grant", "the device_code was already used")
        grant.polls += 1
        if grant.expired(call.now):
            raise OAuthError("expired_token", "the device_code has expired")
        previous, grant.last_poll = grant.last_poll, call.now
        slack = max(self.poll_slack, 0.2 * grant.interval)
        if previous is not None and call.now - previous < grant.interval - slack:
            # RFC 8628 3.5: this and every later request waits 5 s longer.
            grant.interval += self.slow_down_increment
            grant.slow_downs += 1
            raise OAuthError("slow_down", f"poll at most every {number(grant.interval)} s")
        if grant.status == "denied":
            raise OAuthError("access_denied", "the user refused the request")
        if grant.status == "pending":
            raise OAuthError("authorization_pending", "the user has not signed in yet")
        grant.status = "redeemed"
        assert grant.username is not None
        return self._token_response(grant.username, client_id, grant.scope, family=device_code)
