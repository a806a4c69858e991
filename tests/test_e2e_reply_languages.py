"""End to end, the replies feature in the team's language (issue 23 section 1, SPEC
sections 13 and 14): a member's refusals, errors and the Reply modal follow the member's
Discord locale (the modal keeps the spec's English labels for an English client); the
alert's Reply buttons, the conversation's post and the alert's "Replied by" line follow
the guild's language."""

from __future__ import annotations

from i18n import translator
from tests.plugins.mailsync import until
from tests.reply_helpers import (
    deliver,
    incoming,
    modal_values,
    press,
    set_up,
    settled_state,
    submit,
)
from tests.test_e2e_actions import ask, ephemeral
from tests.test_e2e_threads import _posts

ES = translator("es")
WARN = "\N{WARNING SIGN} "


async def _press_as(harness, message_id: int, label: str, user_id: int, locale: str):
    """Press a button with a member's client language; waits for the callback."""
    d = harness.double
    (button,) = [b for b in d.buttons(message_id) if b.get("label") == label]
    handle = await d.click_button(
        d.guild_id, d.channel_id, user_id, button["custom_id"], message_id, locale=locale
    )
    await until(lambda: [r for r in handle.replies if r["kind"] == "callback"], 20)
    return handle


async def test_a_spanish_member_is_refused_in_spanish(harness, dovecot, mail_user, sink):
    """es-ES: Reply without rights and /mail smtp with a bad port are refused in Spanish;
    the same refusal reaches an en-US member in English."""
    d = harness.double
    async with harness.running():
        await set_up(harness, mail_user)
        mid = int((await deliver(harness, mail_user, incoming("Hola", "<h1@example.com>")))["id"])
        handle = await _press_as(harness, mid, "Reply", d.member_id, "es-ES")
        refusal = ephemeral(handle)
        assert refusal == WARN + (
            "Solo los miembros con **Gestionar servidor** pueden enviar correo desde "
            "`desk`. No se envió nada."
        )
        assert not any(r["kind"] == "callback" and r["type"] == 9 for r in handle.replies)
        english = ephemeral(await _press_as(harness, mid, "Reply", d.member_id, "en-US"))
        assert english == WARN + (
            "Only members with **Manage Server** may send mail from `desk`. Nothing was sent."
        )
        options = {"account": "desk", "host": harness.dovecot.host, "port": 70000}
        said = await ask(harness, "mail smtp", options, locale="es-ES")
        assert said == WARN + "`port` debe estar entre 1 y 65535. No se guardó nada."


async def test_the_reply_modal_is_labelled_in_the_members_language(
    harness, dovecot, mail_user, sink
):
    """The Reply all modal: Responder a todos / Para, Cc, Asunto, Mensaje for es-419;
    exactly Reply all / To, Cc, Subject, Message for en-US; a bad address typed by the
    Spanish member is refused in Spanish, naming the field as the modal did."""
    d = harness.double
    async with harness.running():
        await set_up(harness, mail_user)
        mid = int((await deliver(harness, mail_user, incoming("Pedido", "<p1@example.com>")))["id"])
        await _press_as(harness, mid, "Reply all", d.admin_id, "es-419")
        assert d._last_modal["title"] == "Responder a todos"
        spanish = modal_values(harness)
        assert list(spanish) == ["Para", "Cc", "Asunto", "Mensaje"]
        assert spanish["Asunto"] == "Re: Pedido"  # the mail's header is not translated
        said = await submit(
            harness, {"Para": "no es una dirección", "Mensaje": "x"}, locale="es-419"
        )
        assert said == WARN + ES(
            "{error} Nothing was sent.",
            error=ES(
                "`{address}` is not a valid address in {field} (name@example.com).",
                address="no",
                field=ES("To"),
            ),
        )
        assert "no es una dirección válida en Para" in said
        await _press_as(harness, mid, "Reply all", d.admin_id, "en-US")
        assert d._last_modal["title"] == "Reply all"
        assert list(modal_values(harness)) == ["To", "Cc", "Subject", "Message"]


async def test_reply_posts_follow_the_guilds_language(harness, dovecot, mail_user, sink):
    """In a guild set to es, the alert's buttons read Responder / Responder a todos, the
    conversation's post says Respuesta enviada and who sent it, and the alert gets its
    Respondido por line; the member who sent it (en-US) was answered in English."""
    d = harness.double
    async with harness.running():
        await ask(harness, "mail language", {"language": "es"})
        account_id = await set_up(harness, mail_user)
        mid = int(
            (await deliver(harness, mail_user, incoming("Factura", "<f1@example.com>")))["id"]
        )
        assert d.button_labels(mid)[-2:] == ["Responder", "Responder a todos"]
        await press(harness, mid, "Responder")
        assert list(modal_values(harness)) == ["To", "Cc", "Subject", "Message"]
        said = await submit(harness, {"Message": "Pagada."})
        assert said.startswith("Sending to `alice@example.com`"), said
        await settled_state(harness, account_id, "sent")
        thread = await until(lambda: d.thread_of(mid))
        (posted,) = await until(lambda: _posts(d, int(thread["id"])), 30)
        embed = posted["embeds"][0]
        assert embed["title"] == "Respuesta enviada"
        assert embed["description"] == f"Enviado por <@{d.admin_id}> a `alice@example.com`"
        assert [f["name"] for f in embed["fields"]] == ["Asunto", "Mensaje"]
        line = f"Respondido por <@{d.admin_id}>"
        await until(lambda: line in str(d.message(mid)["embeds"][0]), 30)
        fields = d.message(mid)["embeds"][0]["fields"]
        assert {"name": "Respuesta enviada", "value": line, "inline": False} in fields
        assert len(sink.to("alice@example.com")) == 1
