"""Tests of the identity-provider double (tests/plugins/idp): every endpoint and error the
OAuth sign-in tests rely on. If one of these fails, those tests cannot be trusted."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from itertools import pairwise

import aiohttp
import pytest

from tests.idp_http import (
    CLIENT,
    _request,
    authorize,
    device_code,
    get,
    introspect,
    poll,
    post,
    token,
)
from tests.plugins.idp import DEVICE_GRANT, IdentityProvider

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
