"""The Dovecot fixture's OAuth2 side: an oauth2 passdb whose tokens the identity-provider
double introspects, XOAUTH2 and OAUTHBEARER over IMAP and POP3, and kick()."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import poplib
import time
import urllib.parse

import imapclient
import pytest
from imapclient.exceptions import LoginError

from tests.plugins.dovecot import Dovecot, MailUser, make_message
from tests.plugins.idp import IdentityProvider


def _xoauth2(user: str, access_token: str) -> str:
    return base64.b64encode(f"user={user}\1auth=Bearer {access_token}\1\1".encode()).decode()


def _oauthbearer(user: str, access_token: str, dovecot: Dovecot) -> str:
    host, port = dovecot.host, dovecot.pop3_port
    raw = f"n,a={user},\1host={host}\1port={port}\1auth=Bearer {access_token}\1\1"
    return base64.b64encode(raw.encode()).decode()


def _device_flow_token(idp: IdentityProvider, user: MailUser) -> str:
    """An access token obtained over HTTP with the device flow, as the bot will get one."""
    idp.device_interval = 0.05

    def post(path: str, **form: str) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=10)
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            connection.request("POST", path, urllib.parse.urlencode(form), headers)
            response = connection.getresponse()
            return response.status, json.load(response)
        finally:
            connection.close()

    _, body = post("/device/code", client_id=idp.client_id, scope="imap pop offline_access")
    idp.approve(body["user_code"], user)
    time.sleep(0.06)
    status, tokens = post(
        "/token",
        client_id=idp.client_id,
        grant_type="urn:ietf:params:oauth:grant-type:device_code",
        device_code=body["device_code"],
    )
    assert status == 200, tokens
    return tokens["access_token"]


def _imap_xoauth2(dovecot: Dovecot, user: str, access_token: str) -> None:
    with imapclient.IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10) as c:
        c.oauth2_login(user, access_token)
        assert c.select_folder("INBOX")[b"EXISTS"] >= 0


def _imap_oauthbearer(dovecot: Dovecot, user: str, access_token: str) -> None:
    with imapclient.IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10) as c:
        c.oauthbearer_login(user, access_token)
        c.noop()


def _pop3_auth(dovecot: Dovecot, mechanism: str, initial_response: str) -> poplib.POP3:
    """POP3 AUTH with an initial response; a refusal arrives as a SASL challenge
    (`+ <base64 JSON>`) that needs an empty answer before the final -ERR."""
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
    try:
        answer = pop._shortcmd(f"AUTH {mechanism} {initial_response}")
        if answer.startswith(b"+ "):
            challenge = json.loads(base64.b64decode(answer[2:]))
            # XOAUTH2 says "401", OAUTHBEARER (RFC 7628) "invalid_token".
            assert challenge["status"] in ("401", "invalid_token"), challenge
            pop._shortcmd("")  # raises error_proto with the -ERR
        assert answer.startswith(b"+OK"), answer
    except BaseException:
        pop.close()
        raise
    return pop


def test_oauth_mechanisms_offered(dovecot: Dovecot) -> None:
    """IMAP and POP3 offer XOAUTH2 and OAUTHBEARER beside PLAIN and LOGIN."""
    with imapclient.IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False) as client:
        capabilities = client.capabilities()
    for mechanism in (b"AUTH=PLAIN", b"AUTH=LOGIN", b"AUTH=XOAUTH2", b"AUTH=OAUTHBEARER"):
        assert mechanism in capabilities
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port)
    try:
        assert pop.capa()["SASL"] == ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]
    finally:
        pop.quit()
    assert dovecot.introspection_url is not None
    assert dovecot.introspection_url.endswith("/introspect")


def test_imap_xoauth2_and_oauthbearer_with_a_device_flow_token(
    dovecot: Dovecot, idp: IdentityProvider, mail_user: MailUser
) -> None:
    """A token from the IdP double logs in with XOAUTH2 and OAUTHBEARER; Dovecot asked the
    IdP's /introspect with the token, as a form."""
    access_token = _device_flow_token(idp, mail_user)
    mark = idp.mark()
    _imap_xoauth2(dovecot, mail_user.name, access_token)
    _imap_oauthbearer(dovecot, mail_user.name, access_token)
    checks = idp.find("POST", "^/introspect$", after=mark)
    # Dovecot also sends empty client_id and client_secret fields.
    assert [r.form["token"] for r in checks] == [access_token] * 2
    assert all(r.response == {"active": True, "username": mail_user.name} for r in checks)
    # The password still works beside it.
    with dovecot.imap(mail_user):
        pass


def test_imap_oauth_refused_for_bad_tokens(
    dovecot: Dovecot, idp: IdentityProvider, mail_user: MailUser
) -> None:
    """Another user's token, a refresh token, an expired and a revoked token all fail, with
    both mechanisms; a failed login does not slow later ones (no auth penalty)."""
    other = dovecot.add_user()
    tokens = idp.issue_tokens(mail_user)
    others = idp.issue_tokens(other)
    started = time.monotonic()
    for login in (_imap_xoauth2, _imap_oauthbearer):
        with pytest.raises(LoginError):
            login(dovecot, mail_user.name, others["access_token"])
        with pytest.raises(LoginError):
            login(dovecot, mail_user.name, tokens["refresh_token"])
        with pytest.raises(LoginError):
            login(dovecot, mail_user.name, "at-never-issued")
    idp.expire_access_tokens(mail_user)
    with pytest.raises(LoginError):
        _imap_xoauth2(dovecot, mail_user.name, tokens["access_token"])
    refreshed = idp.issue_tokens(mail_user)
    _imap_xoauth2(dovecot, mail_user.name, refreshed["access_token"])
    idp.revoke(mail_user)
    with pytest.raises(LoginError):
        _imap_xoauth2(dovecot, mail_user.name, refreshed["access_token"])
    with pytest.raises(LoginError):
        _imap_oauthbearer(dovecot, mail_user.name, refreshed["access_token"])
    assert time.monotonic() - started < 15, "failed logins are penalised"
    started = time.monotonic()
    _imap_xoauth2(dovecot, other.name, others["access_token"])
    with dovecot.imap(mail_user):
        pass
    assert time.monotonic() - started < 1.5, "logins after failed ones are penalised"


def test_pop3_xoauth2_and_oauthbearer(
    dovecot: Dovecot, idp: IdentityProvider, mail_user: MailUser
) -> None:
    """POP3 AUTH XOAUTH2 / OAUTHBEARER with an initial response log in with a valid token;
    a revoked token or another user's ends in -ERR after the empty answer to the challenge."""
    dovecot.append(mail_user, make_message(subject="for pop"))
    other = dovecot.add_user()
    access_token = _device_flow_token(idp, mail_user)
    for mechanism, response in [
        ("XOAUTH2", _xoauth2(mail_user.name, access_token)),
        ("OAUTHBEARER", _oauthbearer(mail_user.name, access_token, dovecot)),
    ]:
        pop = _pop3_auth(dovecot, mechanism, response)
        try:
            assert pop.stat()[0] == 1
        finally:
            pop.quit()
    with pytest.raises(poplib.error_proto, match=r"-ERR"):
        _pop3_auth(dovecot, "XOAUTH2", _xoauth2(other.name, access_token))
    idp.revoke(mail_user)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
        _pop3_auth(dovecot, "XOAUTH2", _xoauth2(mail_user.name, access_token))
    with pytest.raises(poplib.error_proto, match=r"-ERR"):
        _pop3_auth(dovecot, "OAUTHBEARER", _oauthbearer(mail_user.name, access_token, dovecot))


def test_kick_ends_sessions_so_a_revoked_token_fails_at_the_next_login(
    dovecot: Dovecot, idp: IdentityProvider, mail_user: MailUser
) -> None:
    """An open session survives its token's revocation; kick() ends it (IMAP and POP3), and
    the new login with that token fails."""
    access_token = idp.issue_tokens(mail_user)["access_token"]
    client = imapclient.IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10)
    pop = _pop3_auth(dovecot, "XOAUTH2", _xoauth2(mail_user.name, access_token))
    try:
        client.oauth2_login(mail_user.name, access_token)
        client.select_folder("INBOX")
        assert dovecot.sessions(mail_user) == 2
        idp.revoke(mail_user)
        client.noop()  # never re-authenticated
        dovecot.kick(mail_user)
        assert dovecot.sessions(mail_user) == 0
        assert dovecot.imap_sessions(mail_user.name) == 0
        with pytest.raises((imapclient.exceptions.IMAPClientError, OSError)):
            client.noop()
        with pytest.raises((poplib.error_proto, OSError)):
            pop.stat()
    finally:
        with contextlib.suppress(Exception):
            client.shutdown()
        pop.close()
    with pytest.raises(LoginError):
        _imap_xoauth2(dovecot, mail_user.name, access_token)
    dovecot.kick(mail_user)  # nobody logged in: nothing to do


def test_oauth2_passdb_config(dovecot: Dovecot, idp: IdentityProvider) -> None:
    """The config TESTING-NOTES verified: passwords for plain/login only, bearer tokens by
    introspection at the IdP; no auth penalty."""
    config = dovecot.config_path.read_text()
    assert "auth_mechanisms = plain login xoauth2 oauthbearer" in config
    assert "mechanisms = plain login\n" in config
    assert "driver = oauth2" in config and "mechanisms = xoauth2 oauthbearer" in config
    assert "unix_listener anvil-auth-penalty {\n    mode = 0" in config
    args = dovecot.oauth2_config_path.read_text()
    for line in (
        "introspection_mode = post",
        f"introspection_url = {idp.introspection_endpoint}",
        "force_introspection = yes",
        "username_attribute = username",
        "active_attribute = active",
        "active_value = true",
    ):
        assert line in args.splitlines()
