"""The identity-provider double: the redirect flow (code + PKCE), refresh with rotation
and revocation, and token introspection."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from tests.idp_http import (
    REDIRECT,
    authorize,
    code_for,
    device_code,
    introspect,
    pkce,
    poll,
    post,
    redirect_params,
    token,
)
from tests.plugins.idp import IdentityProvider

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
