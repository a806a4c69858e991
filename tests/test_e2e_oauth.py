"""End to end, OAuth2 sign-in (SPEC section 7) through bot.py, the Discord double, the
identity-provider double and the real Dovecot, which checks every token by introspection."""

import asyncio
import dataclasses
import itertools
import logging
import socket
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine, text

from mail import oauth
from tests.plugins.dovecot import make_message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _provider(idp, host, flow):
    return oauth.Provider(
        name="lab",
        hosts=(host,),
        flow=flow,
        token_endpoint=idp.token_endpoint,
        device_authorization_endpoint=idp.device_authorization_endpoint,
        authorization_endpoint=idp.authorization_endpoint,
        client_id=idp.client_id,
        scopes=("mail", "offline_access"),
    )


@pytest.fixture
def device_harness(harness, idp, dovecot):
    idp.device_interval = 0.05
    harness.settings = dataclasses.replace(
        harness.settings, oauth_providers={"lab": _provider(idp, dovecot.host, "device")}
    )
    return harness


@pytest.fixture
def redirect_harness(harness, idp, dovecot):
    port = _free_port()
    harness.settings = dataclasses.replace(
        harness.settings,
        oauth_providers={"lab": _provider(idp, dovecot.host, "redirect")},
        http_port=port,
    )
    return harness


def _data(reply):
    body = reply["body"]
    return body.get("data", body)


async def _reply_with(handle, needle, timeout=20.0):
    """The first reply to the interaction whose text holds `needle`."""
    async with asyncio.timeout(timeout):
        while True:
            for reply in handle.replies:
                if needle in (_data(reply).get("content") or ""):
                    return _data(reply)
            await asyncio.sleep(0.05)


def _button_url(data):
    return data["components"][0]["components"][0]["url"]


def _scalar(harness, sql):
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one_or_none()
    finally:
        engine.dispose()


async def _device_add(harness, idp, user, **extra):
    """/mail add auth:oauth, the code shown with a link button, approved as `user`."""
    options = harness.add_options(user, auth="oauth", **extra)
    handle = await harness.command("mail add", options)
    code = await idp.wait_for_user_code()
    shown = await _reply_with(handle, code)
    assert _button_url(shown).startswith(idp.base_url)
    idp.approve(code, user)
    return handle


# Only Dovecot checks tokens here (its oauth2 passdb asks the idp double).
@pytest.mark.any_server(requires=("oauth",))
async def test_device_flow_add_then_new_mail_alert(device_harness, idp, dovecot, mail_user):
    """Device flow: code and link shown, approved, the same summary as a password add,
    an OAuth account saved with its tokens encrypted, and new mail announced (IDLE)."""
    harness = device_harness
    async with harness.running():
        handle = await _device_add(harness, idp, mail_user, name="ms")
        assert "Watching `ms`" in (await _reply_with(handle, "Watching"))["content"]
        assert _scalar(harness, "select auth from account") == "oauth"
        stored = _scalar(harness, "select password_encrypted from account")
        assert not any(token in stored for token in idp.issued_tokens())
        polls = idp.device_polls()
        assert len(polls) >= 1 and all(p.grant_type == oauth.DEVICE_GRANT for p in polls)
        dovecot.append(mail_user, make_message(subject="via oauth"))
        assert await harness.titles(1) == ["via oauth"]


async def test_device_flow_denied_saves_nothing(device_harness, idp):
    """The person declines: a clear follow-up, no account."""
    harness = device_harness
    user = harness.dovecot.add_user()
    async with harness.running():
        handle = await harness.command("mail add", harness.add_options(user, auth="oauth"))
        code = await idp.wait_for_user_code()
        await _reply_with(handle, code)
        idp.deny(code)
        assert "declined" in (await _reply_with(handle, "declined"))["content"]
        assert _scalar(harness, "select count(*) from account") == 0


async def test_sign_in_as_another_mailbox_saves_nothing(device_harness, idp, dovecot):
    """Signed in as a different mailbox than `username`: Dovecot refuses the token for that
    login; the reply says so and nothing is saved."""
    harness = device_harness
    wanted, other = dovecot.add_user(), dovecot.add_user()
    async with harness.running():
        handle = await harness.command("mail add", harness.add_options(wanted, auth="oauth"))
        code = await idp.wait_for_user_code()
        await _reply_with(handle, code)
        idp.approve(code, other)
        refused = await _reply_with(handle, "another mailbox")
        assert "Nothing was saved" in refused["content"]
        assert _scalar(harness, "select count(*) from account") == 0


async def test_unclaimed_host_names_the_providers(device_harness):
    """A host no provider claims: the error names the configured providers."""
    harness = device_harness
    user = harness.dovecot.add_user()
    options = harness.add_options(user, auth="oauth", host="localhost")
    reply = await _reply_text(harness, "mail add", options)
    assert "No OAuth provider claims the host `localhost`" in reply
    assert "`lab`" in reply


async def _reply_text(harness, name, options):
    async with harness.running():
        return await harness.reply_text(await harness.command(name, options))


# Only Dovecot checks tokens here (its oauth2 passdb asks the idp double).
@pytest.mark.any_server(requires=("oauth",))
async def test_expired_access_token_is_refreshed_without_a_warning(
    device_harness, idp, dovecot, mail_user
):
    """The access token expires mid-run and the session ends: the bot refreshes (the
    rotated refresh token is stored), logs in again at once, and alerts keep coming."""
    harness = device_harness
    async with harness.running():
        handle = await _device_add(harness, idp, mail_user, name="exp")
        await _reply_with(handle, "Watching")
        account_id = harness.account_id("exp")
        before = _scalar(harness, "select password_encrypted from account")
        idp.expire_access_tokens(mail_user)
        await asyncio.to_thread(dovecot.kick, mail_user)
        dovecot.append(mail_user, make_message(subject="after expiry"))
        assert await harness.titles(1) == ["after expiry"]
        assert idp.find(path="/token$", grant_type="refresh_token", status=200)
        assert _scalar(harness, "select password_encrypted from account") != before
        async with asyncio.timeout(15):
            while not harness.watcher.pushed(account_id):
                await asyncio.sleep(0.05)
        assert "trouble" not in " ".join(await harness.titles())


async def test_revoked_sign_in_warns_once_then_reauth_recovers(
    device_harness, idp, dovecot, mail_user
):
    """Revoked: one warning that says /mail reauth, polls stop; /mail reauth signs in
    again, the usual "recovered" line follows and new mail is announced."""
    harness = device_harness
    async with harness.running():
        handle = await _device_add(harness, idp, mail_user, name="rev")
        await _reply_with(handle, "Watching")
        idp.revoke(mail_user)
        await asyncio.to_thread(dovecot.kick, mail_user)
        assert await harness.titles(1) == ["Mail account in trouble"]
        warning = (await harness.posts())[0]["embeds"][0]["description"]
        assert "/mail reauth" in warning
        assert harness.watcher.scheduled_ids == set()
        check = await harness.command("mail check", {"account": "rev"})
        assert "/mail reauth" in await harness.reply_text(check)
        mark = idp.mark()
        reauth = await harness.command("mail reauth", {"account": "rev"})
        code = await idp.wait_for_user_code(after=mark)
        await _reply_with(reauth, code)
        idp.approve(code, mail_user)
        await _reply_with(reauth, "again")
        assert await harness.titles(2) == ["Mail account in trouble", "Mail account recovered"]
        dovecot.append(mail_user, make_message(subject="back"))
        assert await harness.titles(3) == [
            "Mail account in trouble",
            "Mail account recovered",
            "back",
        ]


async def test_reauth_on_a_password_account_points_to_password(harness, mail_user):
    """/mail reauth on a password account says to use /mail password."""
    async with harness.running():
        await harness.add_account(mail_user, name="pw", folders="Sent")
        reply = await harness.reply_text(await harness.command("mail reauth", {"account": "pw"}))
        assert "/mail password" in reply


# Only Dovecot checks tokens here (its oauth2 passdb asks the idp double).
@pytest.mark.any_server(requires=("oauth",))
async def test_pop3_account_signs_in_with_oauth(device_harness, idp, dovecot, mail_user):
    """POP3 with AUTH (OAUTHBEARER or XOAUTH2 with an initial response): added, and new
    mail downloaded and announced."""
    harness = device_harness
    async with harness.running():
        handle = await _device_add(
            harness, idp, mail_user, name="pop", protocol="pop3", port=dovecot.pop3s_port
        )
        await _reply_with(handle, "Watching")
        dovecot.append(mail_user, make_message(subject="popped"))
        check = await harness.command("mail check", {"account": "pop"})
        assert "1 new message" in await harness.reply_text(check)
        assert await harness.titles(1) == ["popped"]


async def test_redirect_flow_through_a_real_http_client(redirect_harness, idp, mail_user):
    """Redirect flow: the link button leads (through the provider) to the bot's callback
    page, which says it worked; the account is saved; the same link again is refused."""
    harness = redirect_harness
    async with harness.running():
        handle = await harness.command("mail add", harness.add_options(mail_user, auth="oauth"))
        link = _button_url(await _reply_with(handle, "sign in with the button"))
        assert link.startswith(idp.authorization_endpoint)
        assert "code_challenge_method=S256" in link
        idp.sign_in_as(mail_user)
        async with aiohttp.ClientSession() as browser:
            async with browser.get(link) as page:
                body = await page.text()
                assert page.status == 200, body
                assert "Signed in" in body
                callback = str(page.url)
            assert "Watching" in (await _reply_with(handle, "Watching"))["content"]
            assert _scalar(harness, "select auth from account") == "oauth"
            async with browser.get(callback) as again:
                assert again.status == 400
                assert "not valid" in await again.text()
            async with browser.get(callback.split("?")[0] + "?state=forged&code=x") as forged:
                assert forged.status == 400


async def test_redirect_flow_declined_saves_nothing(redirect_harness, idp, mail_user):
    """Declined at the provider: the page and the follow-up say so; nothing saved."""
    harness = redirect_harness
    async with harness.running():
        handle = await harness.command("mail add", harness.add_options(mail_user, auth="oauth"))
        link = _button_url(await _reply_with(handle, "sign in with the button"))
        idp.deny_next_authorize()
        async with aiohttp.ClientSession() as browser, browser.get(link) as page:
            assert page.status == 400
            assert "declined" in (await page.text()).lower()
        await _reply_with(handle, "declined")
        assert _scalar(harness, "select count(*) from account") == 0


async def test_no_token_in_logs_or_in_clear_in_the_store(
    device_harness, idp, dovecot, mail_user, caplog
):
    """At DEBUG, a device-flow add, a refresh and polls: no issued token appears in any log
    record, nor in clear in the database file."""
    harness = device_harness
    caplog.set_level(logging.DEBUG)
    async with harness.running():
        handle = await _device_add(harness, idp, mail_user, name="quiet")
        await _reply_with(handle, "Watching")
        idp.expire_access_tokens(mail_user)
        await asyncio.to_thread(dovecot.kick, mail_user)
        dovecot.append(mail_user, make_message(subject="logged?"))
        assert await harness.titles(1) == ["logged?"]
    issued = idp.issued_tokens()
    assert len(issued) >= 3  # access + refresh, then the refreshed pair
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not [t for t in issued if t in logged]
    url = harness.settings.database_url
    if url.startswith("sqlite:///"):
        raw = b"".join(p.read_bytes() for p in Path(url[10:]).parent.glob("*") if p.is_file())
        assert not [t for t in issued if t.encode() in raw]


async def test_web_port_in_use_is_a_clear_error_at_start(harness):
    """MAILSYNC_HTTP_PORT already taken: the bot stops at start with a line naming it."""
    from web.app import WebPortError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        harness.settings = dataclasses.replace(harness.settings, http_port=port)
        with pytest.raises(WebPortError, match="MAILSYNC_HTTP_PORT"):
            async with harness.running():
                pass


async def test_device_flow_slows_down_when_asked(device_harness, idp, mail_user, monkeypatch):
    """A slow_down answer makes every later poll wait longer (RFC 8628 section 3.5: the
    interval grows by 5 s; scaled to 0.3 s here), and the add still completes."""
    from cogs.signin import SignIn

    monkeypatch.setattr(SignIn, "slow_down_step", 0.3)
    harness = device_harness
    async with harness.running():
        mark = idp.mark()
        handle = await harness.command("mail add", harness.add_options(mail_user, auth="oauth"))
        code = await idp.wait_for_user_code(after=mark)
        idp.fail_next("^/token$", 400, body={"error": "slow_down"})
        slowed = await idp.wait_for(method="POST", path="^/token$", status=400, after=mark)
        await idp.wait_for(method="POST", path="^/token$", after=slowed.index + 1)
        idp.approve(code, mail_user)
        await _reply_with(handle, "Watching")
        polls = [r.monotonic for r in idp.find("POST", "^/token$", after=slowed.index)]
        gaps = [b - a for a, b in itertools.pairwise(polls)]
        assert gaps and min(gaps) >= idp.device_interval + 0.3 - 0.02


async def test_device_code_that_expires_saves_nothing(device_harness, idp, mail_user):
    """Nobody enters the code before it expires: a follow-up says so; nothing saved."""
    idp.device_expires_in = 0.5
    harness = device_harness
    async with harness.running():
        handle = await harness.command("mail add", harness.add_options(mail_user, auth="oauth"))
        await idp.wait_for_user_code()
        assert "expired" in (await _reply_with(handle, "expired"))["content"]
        assert _scalar(harness, "select count(*) from account") == 0


async def test_session_ended_for_an_expired_token_reconnects_at_once(
    device_harness, idp, dovecot, mail_user
):
    """Exchange's "* BYE Session invalidated - AccessTokenExpired", as the IDLE hub reports
    it: the bot refreshes and reconnects at once (no backoff, no warning)."""
    harness = device_harness
    async with harness.running():
        handle = await _device_add(harness, idp, mail_user, name="bye")
        await _reply_with(handle, "Watching")
        account_id = harness.account_id("bye")
        async with asyncio.timeout(15):
            while not harness.watcher.pushed(account_id):
                await asyncio.sleep(0.05)
        mark = idp.mark()
        await asyncio.to_thread(dovecot.kick, mail_user)  # the session really ends
        harness.watcher._lost(
            account_id, "the server ended the session (Session invalidated - AccessTokenExpired)"
        )
        await idp.wait_for(path="^/token$", grant_type="refresh_token", status=200, after=mark)
        async with asyncio.timeout(5):
            while not harness.watcher.pushed(account_id):
                await asyncio.sleep(0.05)
        dovecot.append(mail_user, make_message(subject="after bye"))
        assert await harness.titles(1) == ["after bye"]
