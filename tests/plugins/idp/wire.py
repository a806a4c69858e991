"""HTTP details: JSON answers and RFC 6749 errors, client credentials (form or HTTP Basic),
random codes and tokens, and PKCE S256."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import string
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

DEVICE_PATH = "/device/code"
VERIFICATION_PATH = "/device"
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"
INTROSPECT_PATH = "/introspect"

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

# RFC 8628 6.1: a short alphabet without vowels or look-alikes, typed by a person.
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_VERIFIER_CHARS = set(string.ascii_letters + string.digits + "-._~")


class OAuthError(Exception):
    """An RFC 6749 error answer: ``{"error": code, "error_description": description}``."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


def json_response(body: Any, status: int = 200) -> web.Response:
    # Token answers must not be cached (RFC 6749 5.1).
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={
            "Content-Type": "application/json",
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
        },
    )


def number(value: float) -> int | float:
    """An int in JSON when the value is whole (expires_in, interval), else the float."""
    return int(value) if float(value).is_integer() else float(value)


def client_credentials(headers: Any, form: dict[str, str]) -> tuple[str | None, str | None, bool]:
    """(client_id, client_secret, via_basic) from an HTTP Basic header or the form.

    Basic credentials are form-encoded before base64 (RFC 6749 2.3.1). Both at once must
    agree on the client id.
    """
    header = headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401) from exc
        user, sep, password = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401)
        client_id, secret = unquote_plus(user), unquote_plus(password)
        if "client_id" in form and form["client_id"] != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
        if "client_secret" in form:
            raise OAuthError("invalid_request", "client credentials sent twice")
        return client_id, secret, True
    return form.get("client_id"), form.get("client_secret"), False


def new_secret(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}{secrets.token_urlsafe(nbytes)}"


def new_user_code() -> str:
    chars = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalize_user_code(user_code: str) -> str:
    """Case and dashes do not matter to a person typing the code (RFC 8628 6.1)."""
    bare = "".join(c for c in user_code.upper() if c.isalnum())
    return f"{bare[:4]}-{bare[4:]}" if len(bare) == 8 else bare


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of ``verifier`` (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def valid_verifier(verifier: str) -> bool:
    """43 to 128 unreserved characters (RFC 7636 4.1)."""
    return 43 <= len(verifier) <= 128 and set(verifier) <= _VERIFIER_CHARS
