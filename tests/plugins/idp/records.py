"""What the identity provider remembers: recorded requests, device grants, authorization
codes and tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordedRequest:
    """One HTTP request the IdP received, with the answer it gave."""

    index: int
    method: str
    path: str  # e.g. "/token"
    query: dict[str, str]
    form: dict[str, str]  # the form-encoded body (empty for GET)
    headers: dict[str, str]
    timestamp: float  # time.time() on arrival
    monotonic: float  # time.monotonic() on arrival
    status: int = 0
    response: Any = None  # the JSON body answered, or the Location of a redirect
    location: str | None = None  # the Location header of a redirect

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400

    @property
    def grant_type(self) -> str | None:
        return self.form.get("grant_type")

    @property
    def error(self) -> str | None:
        """The OAuth error code answered (JSON ``error``), if any."""
        if isinstance(self.response, dict):
            return self.response.get("error")
        return None


@dataclass
class DeviceGrant:
    """One device authorization (RFC 8628), from POST /device/code to its redemption."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    created: float  # monotonic
    expires_at: float  # monotonic
    interval: float  # seconds; grows by `slow_down_increment` on each slow_down
    status: str = "pending"  # pending | approved | denied | redeemed | revoked
    username: str | None = None
    last_poll: float | None = None  # monotonic time of the last token poll
    polls: int = 0
    slow_downs: int = 0

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


@dataclass
class AuthorizationCode:
    """One authorization code of the redirect flow, bound to its PKCE challenge."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    username: str
    code_challenge: str
    state: str | None
    expires_at: float  # monotonic
    used: bool = False
    family: str = ""  # tokens issued for it share this family (revoked on code replay)


@dataclass
class Token:
    """An access or refresh token the IdP issued."""

    value: str
    kind: str  # "access" | "refresh"
    username: str
    client_id: str
    scope: str
    issued_at: float  # time.time()
    expires_at: float | None  # monotonic; None for refresh tokens (they do not expire)
    family: str = ""
    revoked: bool = False
    rotated: bool = False  # a refresh token that was used (and replaced)
    replaced_by: str | None = None  # for a rotated refresh token: its successor

    def active(self, now: float) -> bool:
        if self.revoked or self.rotated:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass
class Failure:
    """An injected answer for the next request(s) to a path."""

    method: str
    path: str  # a regex, searched
    status: int
    body: dict[str, Any] | None = field(default=None)
