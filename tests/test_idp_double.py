"""Tests of the identity-provider double (tests/plugins/idp): every endpoint and error the
OAuth sign-in tests rely on. If one of these fails, those tests cannot be trusted."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import secrets
import time
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

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


# ----------------------------------------------------------------------------- basics


def test_addresses_and_client(idp: IdentityProvider) -> None:
    """The endpoint URLs live on 127.0.0.1:port; a public client with id mailsync-test."""
    assert idp.base_url == f"http://127.0.0.1:{idp.port}"
    assert idp.device_authorization_endpoint == idp.base_url + "/device/code"
    assert idp.authorization_endpoint == idp.base_url + "/authorize"
    assert idp.token_endpoint == idp.base_url + "/token"
    assert idp.introspection_endpoint == idp.base_url + "/introspect"
    assert (idp.client_id, idp.client_secret) == ("mailsync-test", "")
    assert idp.device_interval == 1
    assert idp.access_ttl == 3600


def test_unknown_path_and_method(idp: IdentityProvider) -> None:
    assert post(idp, "/nowhere")[0] == 404
    assert get(idp, "/token")[0] == 405


def test_unsupported_and_missing_grant_type(idp: IdentityProvider) -> None:
    assert token(idp, grant_type="password") == (
        400,
        {
            "error": "unsupported_grant_type",
            "error_description": "grant_type 'password' is not supported",
        },
    )
    assert token(idp)[1]["error"] == "invalid_request"


def test_client_authentication(idp: IdentityProvider) -> None:
    """Unknown or missing client ids are refused; a confidential client needs its secret,
    in the form or as HTTP Basic (then a failure is 401 with WWW-Authenticate)."""
    assert post(idp, "/device/code", client_id="someone-else")[1]["error"] == "invalid_client"
    assert post(idp, "/device/code")[1]["error"] == "invalid_request"
    # A public client may still send a secret (some libraries always do).
    assert post(idp, "/device/code", client_id=CLIENT, client_secret="ignored")[0] == 200
    assert post(idp, "/device/code", basic=(CLIENT, ""))[0] == 200

    idp.client_secret = "s3cret"
    assert post(idp, "/device/code", client_id=CLIENT)[1]["error"] == "invalid_client"
    assert post(idp, "/device/code", client_id=CLIENT, client_secret="nope")[0] == 400
    assert post(idp, "/device/code", client_id=CLIENT, client_secret="s3cret")[0] == 200
    assert post(idp, "/device/code", basic=(CLIENT, "s3cret"))[0] == 200
    headers = {"Authorization": "Basic " + base64.b64encode(f"{CLIENT}:bad".encode()).decode()}
    status, answer_headers, body = _request(idp, "POST", "/device/code", "", headers)
    assert status == 401
    assert json.loads(body)["error"] == "invalid_client"
    assert answer_headers["WWW-Authenticate"].startswith("Basic")


def test_reset_restores_defaults_and_forgets_the_test(idp: IdentityProvider) -> None:
    """reset() clears requests, grants, tokens, sign-in and settings; issued_tokens() keeps
    every token ever issued."""
    idp.device_interval = 0.05
    idp.client_secret = "x"
    idp.sign_in_as("alice")
    issued = idp.issue_tokens("alice")
    assert post(idp, "/device/code", client_id=CLIENT, client_secret="x")[0] == 200
    assert idp.requests and idp.last_user_code()
    idp.reset()
    assert idp.requests == [] and idp.last_user_code() is None and idp.tokens() == []
    assert (idp.device_interval, idp.client_secret) == (1, "")
    assert introspect(idp, issued["access_token"]) == {"active": False}
    assert issued["access_token"] in idp.issued_tokens()
    assert authorize(idp)[0] == 200  # nobody signed in any more


# ----------------------------------------------------------------------------- device flow


def test_device_authorization_response(idp: IdentityProvider) -> None:
    """POST /device/code answers the RFC 8628 fields; the user code is the one to show."""
    idp.device_interval = 0.05
    idp.device_expires_in = 30
    body = device_code(idp, scope="imap offline_access")
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert body["verification_uri"] == idp.base_url + "/device"
    assert (
        body["verification_uri_complete"] == f"{idp.base_url}/device?user_code={body['user_code']}"
    )
    assert (body["interval"], body["expires_in"]) == (0.05, 30)
    assert len(body["user_code"]) == 9 and body["user_code"][4] == "-"
    assert idp.last_user_code() == body["user_code"]
    assert idp.pending_user_codes() == [body["user_code"]]
    assert idp.device_grant(body["user_code"]).scope == "imap offline_access"
    status, _headers, page = get(idp, "/device", user_code=body["user_code"])
    assert status == 200 and body["user_code"] in page


def test_device_flow_pending_then_approved(idp: IdentityProvider) -> None:
    """authorization_pending until approved; then tokens for that user, once."""
    idp.device_interval = 0.05
    body = device_code(idp)
    assert poll(idp, body["device_code"]) == (
        400,
        {"error": "authorization_pending", "error_description": "the user has not signed in yet"},
    )
    # The person types the code in lower case and without the dash.
    idp.approve(body["user_code"].lower().replace("-", ""), "alice")
    assert idp.pending_user_codes() == []
    time.sleep(0.06)
    status, tokens = poll(idp, body["device_code"])
    assert status == 200, tokens
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "imap offline_access"
    assert introspect(idp, tokens["access_token"]) == {"active": True, "username": "alice"}
    assert idp.device_grant(body["user_code"]).status == "redeemed"
    time.sleep(0.06)
    assert poll(idp, body["device_code"])[1]["error"] == "invalid_grant"


def test_device_flow_slow_down_grows_the_interval(idp: IdentityProvider) -> None:
    """Polling faster than the interval answers slow_down and adds slow_down_increment to the
    interval for every later poll; polling at the new pace is fine."""
    idp.device_interval = 0.05
    idp.slow_down_increment = 0.5
    body = device_code(idp)
    code = body["device_code"]
    assert poll(idp, code)[1]["error"] == "authorization_pending"
    assert poll(idp, code)[1]["error"] == "slow_down"
    grant = idp.device_grant(body["user_code"])
    assert grant.interval == pytest.approx(0.55)
    assert (grant.slow_downs, grant.polls) == (1, 2)
    time.sleep(0.1)  # the old interval is no longer enough
    assert poll(idp, code)[1]["error"] == "slow_down"
    assert idp.device_grant(body["user_code"]).interval == pytest.approx(1.05)
    time.sleep(1.06)
    assert poll(idp, code)[1]["error"] == "authorization_pending"
    assert [r.error for r in idp.device_polls(code)] == [
        "authorization_pending",
        "slow_down",
        "slow_down",
        "authorization_pending",
    ]


def test_device_flow_default_increment_is_five_seconds(idp: IdentityProvider) -> None:
    body = device_code(idp)
    poll(idp, body["device_code"])
    assert poll(idp, body["device_code"])[1]["error"] == "slow_down"
    assert idp.device_grant(body["user_code"]).interval == 6


def test_device_flow_denied(idp: IdentityProvider) -> None:
    idp.device_interval = 0.05
    body = device_code(idp)
    idp.deny(body["user_code"])
    assert poll(idp, body["device_code"])[1]["error"] == "access_denied"
    with pytest.raises(ValueError):
        idp.approve(body["user_code"], "alice")


def test_device_flow_expired(idp: IdentityProvider) -> None:
    """After expires_in the code answers expired_token, even once approved."""
    idp.device_interval = 0.05
    idp.device_expires_in = 0.5
    body = device_code(idp)
    assert poll(idp, body["device_code"])[1]["error"] == "authorization_pending"
    time.sleep(0.55)
    assert idp.pending_user_codes() == []
    idp.approve(body["user_code"], "alice")
    assert poll(idp, body["device_code"])[1]["error"] == "expired_token"


def test_device_flow_unknown_code_or_user_code(idp: IdentityProvider) -> None:
    assert poll(idp, "dc-nope")[1]["error"] == "invalid_grant"
    assert token(idp, grant_type=DEVICE_GRANT)[1]["error"] == "invalid_request"
    with pytest.raises(KeyError):
        idp.approve("BCDF-GHJK", "alice")


def test_device_polls_are_recorded_with_their_spacing(idp: IdentityProvider) -> None:
    """requests / device_polls() keep method, path, form, status and times of every poll."""
    idp.device_interval = 0.05
    body = device_code(idp)
    for _ in range(3):
        poll(idp, body["device_code"])
        time.sleep(0.08)
    polls = idp.device_polls(body["device_code"])
    assert len(polls) == 3
    assert all(p.method == "POST" and p.path == "/token" and p.status == 400 for p in polls)
    assert all(p.form["client_id"] == CLIENT and p.grant_type == DEVICE_GRANT for p in polls)
    spacing = [b.monotonic - a.monotonic for a, b in pairwise(polls)]
    assert all(0.07 < s < 1 for s in spacing), spacing
    assert polls[0].timestamp <= polls[1].timestamp
    assert [r.path for r in idp.requests] == ["/device/code", "/token", "/token", "/token"]
    assert idp.find("POST", r"^/token$", status=400) == polls


# ----------------------------------------------------------------------------- redirect flow


def test_redirect_flow_code_and_pkce_exchange(idp: IdentityProvider) -> None:
    """The signed-in user gets a code at redirect_uri (with the state); the code and the
    right verifier buy tokens for that user."""
    verifier, challenge = pkce()
    idp.sign_in_as("alice")
    status, headers, _ = authorize(idp, code_challenge=challenge, state="xyz")
    assert status == 302
    params = redirect_params(headers)
    assert params["state"] == "xyz"
    assert idp.requests[-1].location == headers["Location"]
    status, tokens = token(
        idp,
        grant_type="authorization_code",
        code=params["code"],
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "https://mail.google.com/"
    assert introspect(idp, tokens["access_token"]) == {"active": True, "username": "alice"}


def test_redirect_uri_with_query_keeps_it(idp: IdentityProvider) -> None:
    idp.sign_in_as("alice")
    status, headers, _ = authorize(idp, redirect_uri=REDIRECT + "?flow=1")
    assert status == 302
    assert urlsplit(headers["Location"]).query.startswith("flow=1&code=")


def test_pkce_mismatch_is_refused(idp: IdentityProvider) -> None:
    _verifier, challenge = pkce()
    code = code_for(idp, challenge)
    other_verifier, _ = pkce()
    status, body = token(
        idp,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=other_verifier,
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    assert idp.tokens() == []


def test_missing_verifier_and_wrong_redirect_uri_are_refused(idp: IdentityProvider) -> None:
    verifier, challenge = pkce()
    code = code_for(idp, challenge)
    assert (
        token(idp, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)[1]["error"]
        == "invalid_grant"
    )
    code = code_for(idp, challenge)
    status, body = token(
        idp,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT + "/other",
        code_verifier=verifier,
    )
    assert (status, body["error"]) == (400, "invalid_grant")


def test_code_is_single_use_and_a_replay_revokes_its_tokens(idp: IdentityProvider) -> None:
    verifier, challenge = pkce()
    code = code_for(idp, challenge)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    status, tokens = token(idp, **form)
    assert status == 200
    status, body = token(idp, **form)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert introspect(idp, tokens["access_token"]) == {"active": False}
    assert (
        token(idp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])[1]["error"]
        == "invalid_grant"
    )


def test_expired_code_is_refused(idp: IdentityProvider) -> None:
    idp.code_ttl = 0.05
    verifier, challenge = pkce()
    code = code_for(idp, challenge)
    time.sleep(0.1)
    status, body = token(
        idp,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert (status, body["error"]) == (400, "invalid_grant")


def test_authorize_errors_redirect_with_state(idp: IdentityProvider) -> None:
    """Bad requests from a known client come back at redirect_uri with error and state."""
    idp.sign_in_as("alice")
    for overrides, error in [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ]:
        status, headers, _ = authorize(idp, **overrides)
        assert status == 302, overrides
        params = redirect_params(headers)
        assert (params["error"], params["state"]) == (error, "st-1"), overrides
        assert "code" not in params


def test_deny_next_authorize(idp: IdentityProvider) -> None:
    idp.sign_in_as("alice")
    idp.deny_next_authorize()
    status, headers, _ = authorize(idp)
    assert status == 302
    assert redirect_params(headers)["error"] == "access_denied"
    status, headers, _ = authorize(idp)
    assert "code" in redirect_params(headers)


def test_authorize_never_redirects_for_unknown_client_or_uri(idp: IdentityProvider) -> None:
    idp.sign_in_as("alice")
    assert authorize(idp, client_id="evil")[0] == 400
    assert authorize(idp, redirect_uri=None)[0] == 400
    idp.redirect_uris = ["http://127.0.0.1:2/cb"]
    assert authorize(idp)[0] == 400
    assert authorize(idp, redirect_uri="http://127.0.0.1:2/cb")[0] == 302


def test_authorize_waits_for_sign_in(idp: IdentityProvider) -> None:
    """Nobody signed in: a sign-in page, no redirect (as a real provider waits)."""
    status, headers, page = authorize(idp)
    assert status == 200 and "Location" not in headers and "Sign in" in page
    idp.sign_in_as("alice")
    idp.sign_out()
    assert authorize(idp)[0] == 200


def test_sign_in_as_applies_to_later_authorizations(idp: IdentityProvider) -> None:
    verifier, challenge = pkce()
    idp.sign_in_as("alice")
    code_a = redirect_params(authorize(idp, code_challenge=challenge)[1])["code"]
    code_b = redirect_params(authorize(idp, code_challenge=challenge)[1])["code"]
    idp.sign_in_as("bob")
    code_c = redirect_params(authorize(idp, code_challenge=challenge)[1])["code"]
    users = []
    for code in (code_a, code_b, code_c):
        _, tokens = token(
            idp,
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=verifier,
        )
        users.append(introspect(idp, tokens["access_token"])["username"])
    assert users == ["alice", "alice", "bob"]
    assert [c.username for c in idp.authorization_codes()] == users


# ----------------------------------------------------------------------------- refresh


def test_refresh_rotates_the_refresh_token(idp: IdentityProvider) -> None:
    """Each refresh answers a new access and refresh token; the old refresh token is then
    invalid_grant, the old access token lives until it expires."""
    first = idp.issue_tokens("alice", scope="imap offline_access")
    status, second = token(idp, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert status == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "imap offline_access"
    status, body = token(idp, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    status, third = token(idp, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert status == 200
    assert introspect(idp, first["access_token"])["active"] is True
    assert introspect(idp, third["access_token"]) == {"active": True, "username": "alice"}
    old = idp.tokens("alice", kind="refresh")[0]
    assert old.rotated and old.replaced_by == second["refresh_token"]


def test_refresh_without_rotation(idp: IdentityProvider) -> None:
    """rotate_refresh_tokens = False (Google's way): no new refresh token, the old one stays."""
    idp.rotate_refresh_tokens = False
    first = idp.issue_tokens("alice")
    for _ in range(2):
        status, body = token(idp, grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert status == 200
        assert "refresh_token" not in body


def test_refresh_scope_may_shrink_not_grow(idp: IdentityProvider) -> None:
    first = idp.issue_tokens("alice", scope="imap pop offline_access")
    status, body = token(
        idp, grant_type="refresh_token", refresh_token=first["refresh_token"], scope="admin"
    )
    assert body["error"] == "invalid_scope"
    status, body = token(
        idp, grant_type="refresh_token", refresh_token=first["refresh_token"], scope="imap"
    )
    assert (status, body["scope"]) == (200, "imap")


def test_refresh_errors(idp: IdentityProvider) -> None:
    tokens = idp.issue_tokens("alice")
    assert token(idp, grant_type="refresh_token")[1]["error"] == "invalid_request"
    assert token(idp, grant_type="refresh_token", refresh_token="rt-nope")[1]["error"] == (
        "invalid_grant"
    )
    # An access token is not a refresh token.
    assert (
        token(idp, grant_type="refresh_token", refresh_token=tokens["access_token"])[1]["error"]
        == "invalid_grant"
    )


def test_revoke_ends_refresh_and_introspection(idp: IdentityProvider) -> None:
    alice = idp.issue_tokens("alice")
    bob = idp.issue_tokens("bob")
    idp.revoke("alice")
    assert introspect(idp, alice["access_token"]) == {"active": False}
    status, body = token(idp, grant_type="refresh_token", refresh_token=alice["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    assert introspect(idp, bob["access_token"])["active"] is True
    again = idp.issue_tokens("alice")  # a new sign-in after the revocation works
    assert introspect(idp, again["access_token"])["active"] is True


def test_revoke_kills_an_approved_device_grant(idp: IdentityProvider) -> None:
    idp.device_interval = 0.05
    body = device_code(idp)
    idp.approve(body["user_code"], "alice")
    idp.revoke("alice")
    assert poll(idp, body["device_code"])[1]["error"] == "invalid_grant"


def test_expire_access_tokens_keeps_refresh(idp: IdentityProvider) -> None:
    alice = idp.issue_tokens("alice")
    bob = idp.issue_tokens("bob")
    idp.expire_access_tokens("alice")
    assert introspect(idp, alice["access_token"]) == {"active": False}
    assert introspect(idp, bob["access_token"])["active"] is True
    status, fresh = token(idp, grant_type="refresh_token", refresh_token=alice["refresh_token"])
    assert status == 200
    assert introspect(idp, fresh["access_token"]) == {"active": True, "username": "alice"}
    idp.expire_access_tokens()
    assert not idp.is_active(bob["access_token"]) and not idp.is_active(fresh["access_token"])


def test_access_ttl(idp: IdentityProvider) -> None:
    """access_ttl is the expires_in answered, and the token turns inactive after it."""
    idp.access_ttl = 0.5
    tokens = idp.issue_tokens("alice")
    assert tokens["expires_in"] == 0.5
    assert introspect(idp, tokens["access_token"])["active"] is True
    time.sleep(0.55)
    assert introspect(idp, tokens["access_token"]) == {"active": False}
    idp.access_ttl = 60
    status, body = token(idp, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert (status, body["expires_in"]) == (200, 60)


# ----------------------------------------------------------------------------- introspection


def test_introspection(idp: IdentityProvider) -> None:
    """Flat JSON as Dovecot reads it; refresh tokens and unknown tokens are inactive."""
    tokens = idp.issue_tokens("carol")
    assert introspect(idp, tokens["access_token"]) == {"active": True, "username": "carol"}
    assert introspect(idp, tokens["refresh_token"]) == {"active": False}
    assert introspect(idp, "at-unknown") == {"active": False}
    assert post(idp, "/introspect")[1]["error"] == "invalid_request"
    recorded = idp.find("POST", "/introspect")[0]
    assert recorded.form == {"token": tokens["access_token"]}


# ----------------------------------------------------------------------------- recording and waits


def test_issued_tokens_lists_every_access_and_refresh_token(idp: IdentityProvider) -> None:
    idp.device_interval = 0.05
    before = set(idp.issued_tokens())
    first = idp.issue_tokens("alice")
    _, second = token(idp, grant_type="refresh_token", refresh_token=first["refresh_token"])
    body = device_code(idp)
    idp.approve(body["user_code"], "bob")
    _, third = poll(idp, body["device_code"])
    new = [t for t in idp.issued_tokens() if t not in before]
    expected = [first, second, third]
    assert new == [t[k] for t in expected for k in ("access_token", "refresh_token")]
    assert {t.value for t in idp.tokens()} == set(new)
    assert {t.kind for t in idp.tokens("bob")} == {"access", "refresh"}


def test_fail_next_injects_server_errors(idp: IdentityProvider) -> None:
    tokens = idp.issue_tokens("alice")
    idp.fail_next(r"^/token$", [503, 500])
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert token(idp, **form) == (503, {"error": "temporarily_unavailable"})
    assert token(idp, **form)[0] == 500
    assert token(idp, **form)[0] == 200


async def test_reachable_from_the_test_loop(idp: IdentityProvider) -> None:
    """An aiohttp client on the test's own loop runs the device flow; wait_for and
    wait_for_user_code wait on that loop."""
    idp.device_interval = 0.05
    mark = idp.mark()
    async with aiohttp.ClientSession() as session:
        async with session.post(
            idp.device_authorization_endpoint, data={"client_id": CLIENT, "scope": "imap"}
        ) as response:
            body = await response.json()
        assert await idp.wait_for_user_code(after=mark) == body["user_code"]
        idp.approve(body["user_code"], "dave")
        await asyncio.sleep(0.06)
        async with session.post(
            idp.token_endpoint,
            data={
                "client_id": CLIENT,
                "grant_type": DEVICE_GRANT,
                "device_code": body["device_code"],
            },
        ) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            tokens = await response.json()
    recorded = await idp.wait_for(method="POST", path="^/token$", status=200, after=mark)
    assert recorded.response["access_token"] == tokens["access_token"]
    with pytest.raises(TimeoutError):
        await idp.wait_for(path="^/never$", timeout=0.05)


def test_wait_for_blocking(idp: IdentityProvider) -> None:
    device_code(idp)
    assert idp.wait_for_blocking(path="/device/code", timeout=1).status == 200
    with pytest.raises(TimeoutError, match="POST /device/code"):
        idp.wait_for_blocking(path="^/never$", timeout=0.05)
