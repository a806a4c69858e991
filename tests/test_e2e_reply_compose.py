"""/mail smtp, /mail compose and /mail reply end to end (SPEC section 13): the outgoing
server is checked with a real AUTH before it is saved (a password or an OAuth2 token the
IdP double checks through Dovecot), /mail compose writes a new message, and /mail reply
inside a conversation's thread answers its newest mail with files as MIME parts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket

import pytest
from aiohttp import web
from sqlalchemy import create_engine, text

from tests.plugins.mailsync import until
from tests.reply_helpers import (
    FROM,
    deliver,
    incoming,
    modal_values,
    parsed,
    rows,
    set_up,
    settled_state,
    submit,
)
from tests.test_e2e_actions import ask
from tests.test_e2e_oauth import _device_add, _provider, _reply_with


def _smtp_host(harness) -> str | None:
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("select smtp_host from account")).scalar_one_or_none()
    finally:
        engine.dispose()


async def test_smtp_refused_login_saves_nothing_and_remove_turns_sending_off(
    harness, dovecot, mail_user, sink
):
    """A server that refuses the login (the password changed) saves nothing and says why;
    a checked one is saved; remove:true turns sending off and the buttons' sends refuse."""
    async with harness.running():
        await harness.add_account(mail_user, name="desk")
        options = {
            "account": "desk",
            "host": dovecot.host,
            "port": dovecot.submission_port,
            "security": "starttls",
            "from_address": FROM,
        }
        dovecot._write_user(dataclasses.replace(mail_user, password="changed-elsewhere"), None)
        await asyncio.sleep(1.1)  # Dovecot stats a passwd-file at most once a second
        said = await ask(harness, "mail smtp", options)
        assert "were not saved" in said and "refused the login" in said, said
        assert _smtp_host(harness) is None
        dovecot._write_user(mail_user, None)  # the password as the account stored it
        await asyncio.sleep(1.1)
        said = await ask(harness, "mail smtp", options)
        assert "login was checked" in said and "starttls" in said, said
        assert _smtp_host(harness) == dovecot.host
        said = await ask(harness, "mail smtp", {"account": "desk", "remove": True})
        assert "Sending is off" in said
        assert _smtp_host(harness) is None
        said = await ask(harness, "mail compose", {"account": "desk"})
        assert "no outgoing server" in said


async def test_compose_sends_a_new_message_with_the_signature(harness, dovecot, mail_user, sink):
    """/mail compose opens the same modal, empty; the message goes out with the signature
    under it and no In-Reply-To."""
    async with harness.running():
        account_id = await set_up(harness, mail_user, threads=False)
        said = await ask(harness, "mail edit", {"account": "desk", "signature": "The Desk"})
        assert "signature" in said
        handle = await harness.command("mail compose", {"account": "desk"})
        await handle.wait_for_modal()
        assert modal_values(harness) == {"To": "", "Cc": "", "Subject": "", "Message": ""}
        said = await submit(
            harness, {"To": "dan@example.com", "Subject": "Hello", "Message": "First line."}
        )
        assert "Sending to" in said, said
        (got,) = await until(lambda: sink.to("dan@example.com"), 60)
        message = parsed(got.data)
        assert message["In-Reply-To"] is None and message["Subject"] == "Hello"
        assert message.get_content().replace("\r\n", "\n").rstrip().endswith("-- \nThe Desk")
        await settled_state(harness, account_id, "sent")


@pytest.fixture
async def files():
    """A tiny web server for Discord's CDN: the attachments' bytes."""
    blobs = {"report.pdf": b"%PDF-1.4\n" + bytes(range(256)) * 40, "notes.txt": "café\n".encode()}
    app = web.Application()

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=blobs[request.match_info["name"]])

    app.router.add_get("/cdn/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield {
            name: {
                "id": 9000 + n,
                "filename": name,
                "size": len(data),
                "url": f"http://127.0.0.1:{port}/cdn/{name}",
                "content_type": "application/pdf" if name.endswith("pdf") else "text/plain",
            }
            for n, (name, data) in enumerate(blobs.items())
        } | {"_blobs": blobs}
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()


async def test_mail_reply_in_a_thread_sends_attachments_as_mime_parts(
    harness, dovecot, mail_user, sink, files
):
    """Inside the conversation's thread, /mail reply answers its newest mail (In-Reply-To
    that one), with two files as MIME parts, byte for byte; outside a thread it refuses."""
    d = harness.double
    async with harness.running():
        account_id = await set_up(harness, mail_user)
        alert = await deliver(harness, mail_user, incoming("Docs", "<d1@example.com>"))
        newer = incoming(
            "Re: Docs", "<d2@example.com>", sender="erin@example.com", references="<d1@example.com>"
        )
        await deliver_anywhere(harness, mail_user, newer)
        thread = await until(lambda: d.thread_of(int(alert["id"])))
        said = await ask(harness, "mail reply", {})
        assert "inside a conversation's thread" in said
        handle = await harness.command(
            "mail reply",
            {"attachment1": files["report.pdf"], "attachment2": files["notes.txt"]},
            channel_id=int(thread["id"]),
        )
        await handle.wait_for_modal()
        assert modal_values(harness)["To"] == "erin@example.com"
        said = await submit(harness, {"Message": "Attached."}, channel_id=int(thread["id"]))
        assert "Sending to" in said, said
        (got,) = await until(lambda: sink.to("erin@example.com"), 60)
        message = parsed(got.data)
        assert message["In-Reply-To"] == "<d2@example.com>"
        parts = {p.get_filename(): p.get_payload(decode=True) for p in message.iter_attachments()}
        assert parts == {name: files["_blobs"][name] for name in ("report.pdf", "notes.txt")}
        row = await settled_state(harness, account_id, "sent")
        assert row.attachments.split("\n") == ["report.pdf", "notes.txt"]


async def deliver_anywhere(harness, user, raw):
    from tests.test_e2e_threads import _deliver

    await _deliver(harness, user, raw, "desk")


async def test_oauth_account_sends_with_a_token_dovecot_checks_at_the_idp(
    harness, idp, dovecot, mail_user, sink
):
    """An OAuth2 account: /mail smtp logs in with OAUTHBEARER (Dovecot introspects the token
    at the IdP double) and the reply goes out; with the tokens revoked, /mail smtp says to
    run /mail reauth and saves nothing."""
    idp.device_interval = 0.05
    harness.settings = dataclasses.replace(
        harness.settings, oauth_providers={"lab": _provider(idp, dovecot.host, "device")}
    )
    async with harness.running():
        handle = await _device_add(harness, idp, mail_user, name="desk")
        await _reply_with(handle, "Watching")
        mark = idp.mark()
        options = {
            "account": "desk",
            "host": dovecot.host,
            "port": dovecot.submissions_port,
            "from_address": FROM,
        }
        said = await ask(harness, "mail smtp", options)
        assert "login was checked" in said, said
        assert idp.find("POST", "introspect", after=mark)
        await ask(harness, "mail edit", {"account": "desk", "replies": "on"})
        account_id = harness.account_id("desk")
        mid = int((await deliver(harness, mail_user, incoming("OA", "<oa@example.com>")))["id"])
        await d_press(harness, mid)
        assert "Sending to" in await submit(harness, {"Message": "Via OAuth."})
        await until(lambda: sink.to("alice@example.com"), 60)
        await settled_state(harness, account_id, "sent")
        idp.revoke(mail_user)
        said = await ask(harness, "mail smtp", options)
        assert "/mail reauth" in said and "were not saved" in said, said
        assert len(rows(harness, account_id)) == 1


async def d_press(harness, mid):
    from tests.reply_helpers import press

    await press(harness, mid, "Reply")
