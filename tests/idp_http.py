"""An HTTP client for the identity-provider double's tests: requests, device and code
flows, PKCE pairs (standard library only, so the double is checked by a plain client)."""

from __future__ import annotations

import base64
import http.client
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.plugins.idp import DEVICE_GRANT, IdentityProvider, s256

CLIENT = "mailsync-test"
REDIRECT = "http://127.0.0.1:1/oauth/callback"


# ----------------------------------------------------------------------------- HTTP helpers


def _request(
    idp: IdentityProvider, method: str, target: str, body: str | None, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post(
    idp: IdentityProvider, path: str, basic: tuple[str, str] | None = None, **form: str
) -> tuple[int, dict[str, Any]]:
    """POST a form; (status, JSON answer)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic is not None:
        pair = f"{basic[0]}:{basic[1]}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    status, answer_headers, body = _request(idp, "POST", path, urlencode(form), headers)
    assert answer_headers["Content-Type"] == "application/json"
    return status, json.loads(body)


def get(idp: IdentityProvider, path: str, **query: str) -> tuple[int, dict[str, str], str]:
    """GET without following redirects; (status, headers, text)."""
    target = f"{path}?{urlencode(query)}" if query else path
    status, headers, body = _request(idp, "GET", target, None, {})
    return status, headers, body.decode()


def token(idp: IdentityProvider, **form: str) -> tuple[int, dict[str, Any]]:
    return post(idp, "/token", **{"client_id": CLIENT, **form})


def device_code(idp: IdentityProvider, scope: str = "imap offline_access") -> dict[str, Any]:
    status, body = post(idp, "/device/code", client_id=CLIENT, scope=scope)
    assert status == 200, body
    return body


def poll(idp: IdentityProvider, code: str) -> tuple[int, dict[str, Any]]:
    return token(idp, grant_type=DEVICE_GRANT, device_code=code)


def introspect(idp: IdentityProvider, value: str) -> dict[str, Any]:
    status, body = post(idp, "/introspect", token=value)
    assert status == 200
    return body


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def authorize(idp: IdentityProvider, **overrides: str) -> tuple[int, dict[str, str], str]:
    query = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": "https://mail.google.com/",
        "state": "st-1",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
        **overrides,
    }
    return get(idp, "/authorize", **{k: v for k, v in query.items() if v is not None})


def redirect_params(headers: dict[str, str]) -> dict[str, str]:
    location = urlsplit(headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def code_for(idp: IdentityProvider, challenge: str, username: str = "alice") -> str:
    idp.sign_in_as(username)
    status, headers, _ = authorize(idp, code_challenge=challenge)
    assert status == 302
    return redirect_params(headers)["code"]
