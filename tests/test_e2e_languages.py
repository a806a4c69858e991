"""End to end, languages: replies follow the member's Discord locale, channel posts the
guild's language (/mail language, else auto: a Community guild's preferred locale)."""

import asyncio

from i18n import translator
from tests.plugins.dovecot import make_message
from tests.test_e2e_board import _board_channel, _shown, _start

ES = translator("es")
PT = translator("pt-BR")


async def _add(harness, user, locale="en-US", **extra):
    """/mail add with the password modal, both in `locale`; returns (modal, reply text)."""
    handle = await harness.command(
        "mail add", harness.add_options(user, folders="Sent", **extra), locale=locale
    )
    modal = await handle.wait_for_modal()
    submit = await harness.double.submit_modal(
        harness.double.guild_id,
        harness.double.channel_id,
        harness.double.admin_id,
        values={"password": user.password},
        locale=locale,
    )
    return modal, await harness.reply_text(submit)


async def _alert(harness, dovecot, user, subject, locale="en-US"):
    """Deliver one message to Sent and poll with /mail check; returns (post, reply text)."""
    await asyncio.to_thread(dovecot.append, user, make_message(subject=subject), "Sent")
    handle = await harness.command("mail check", {"account": "ops"}, locale=locale)
    reply = await harness.reply_text(handle)
    posts = await harness.posts(1)
    return posts[-1], reply


def _field_names(post):
    return [f["name"] for f in post["embeds"][0]["fields"]]


async def test_replies_follow_the_members_locale(harness, dovecot, mail_user):
    """es-ES and es-419 get Spanish (modal, summary, errors, counts), pt-BR Portuguese, a
    locale without a catalog English."""
    async with harness.running():
        empty = await harness.reply_text(await harness.command("mail list", locale="es-ES"))
        assert empty == ES("No mail accounts yet. Add one with `/mail add`.")
        assert empty != "No mail accounts yet. Add one with `/mail add`."
        modal, added = await _add(harness, mail_user, locale="es-ES", name="ops")
        assert modal["title"] == "Contraseña de la cuenta de correo"
        assert "Contraseña (o contraseña de aplicación)" in str(modal["components"])
        assert added.startswith("\N{WHITE HEAVY CHECK MARK} Vigilando `ops`: las alertas van a")
        missing = await harness.command("mail pause", {"account": "nope"}, locale="es-419")
        assert await harness.reply_text(missing) == "\N{WARNING SIGN} " + ES(
            "No account named `{name}` in this server. `/mail list` shows the accounts.",
            name="nope",
        )
        _post, checked = await _alert(harness, dovecot, mail_user, "uno", locale="es-ES")
        assert checked.startswith("Revisada `ops`: 1 mensaje nuevo publicado en <#")
        listed = await harness.reply_text(await harness.command("mail list", locale="pt-BR"))
        assert "Contas de e-mail" in listed and "última verificação:" in listed
        french = await harness.reply_text(await harness.command("mail list", locale="fr"))
        assert "Mail accounts" in french and "last poll:" in french


async def test_alert_follows_the_guild_set_to_spanish(harness, dovecot, mail_user):
    """After /mail language language:es, an alert is posted in Spanish whatever the
    language of the member who polled; the command then reports the setting."""
    async with harness.running():
        setting = await harness.command("mail language", {"language": "es"})
        assert "now use: Español" in await harness.reply_text(setting)
        await _add(harness, mail_user, name="ops")
        post, _reply = await _alert(harness, dovecot, mail_user, "hola")
        assert post["embeds"][0]["title"] == "hola"
        assert _field_names(post) == ["De", "Carpeta", "Fecha"]
        shown = await harness.command("mail language", locale="es-ES")
        text = await harness.reply_text(shown)
        assert text.startswith("Las publicaciones en los canales de este servidor")
        assert "usan: Español." in text


async def test_alert_is_english_by_default(harness, dovecot, mail_user):
    """Without /mail language, in a guild that is not a Community guild, alerts are in
    English even when its preferred locale has a catalog."""
    harness.double.guilds[0].locale = "es-ES"
    async with harness.running():
        await _add(harness, mail_user, locale="es-ES", name="ops")
        post, _reply = await _alert(harness, dovecot, mail_user, "hello")
        assert _field_names(post) == ["From", "Folder", "Date"]
        shown = await harness.reply_text(await harness.command("mail language"))
        assert "use: auto, which is English now" in shown


async def test_auto_uses_a_community_guilds_preferred_locale(harness, dovecot, mail_user):
    """auto in a Community guild whose preferred locale is pt-BR: alerts in Portuguese;
    /mail language language:en then switches the next alert to English."""
    guild = harness.double.guilds[0]
    guild.locale, guild.features = "pt-BR", ("COMMUNITY",)
    async with harness.running():
        await _add(harness, mail_user, name="ops")
        post, _reply = await _alert(harness, dovecot, mail_user, "olá")
        assert _field_names(post) == ["De", "Pasta", "Data"]
        shown = await harness.reply_text(await harness.command("mail language", locale="pt-BR"))
        assert "auto, que agora é Português (Brasil)" in shown
        await harness.command("mail language", {"language": "en"})
        post, _reply = await _alert(harness, dovecot, mail_user, "hi")
        assert _field_names(post) == ["From", "Folder", "Date"]


async def test_board_follows_the_guilds_language_when_it_changes(harness, mail_user):
    """A status board is rendered when due: /mail language language:es edits the posted
    English board into Spanish in place, and pt-BR then into Portuguese."""
    async with harness.running():
        channel = _board_channel(harness.double)
        account_id = await _start(harness, mail_user, "desk", channel)
        first, _text = await _shown(harness, account_id, "Folders: ", "Newest mail: ")
        await harness.command("mail language", {"language": "es"})
        again, _text = await _shown(harness, account_id, "Carpetas: ", "Correo más reciente: ")
        assert again == first  # edited, not posted anew
        await harness.command("mail language", {"language": "pt-BR"})
        await _shown(harness, account_id, "Pastas: ", "E-mail mais recente: ")


async def test_a_failing_accounts_error_is_shown_in_the_members_language(harness, mail_user):
    """A refused login raised in mail/ reaches a Spanish member in Spanish, in the failed
    /mail check and in /mail list's last error."""
    async with harness.running():
        await _add(harness, mail_user, name="ops")
        harness.dovecot.set_password(mail_user, "changed-Secret-42")
        failed = await harness.command("mail check", {"account": "ops"}, locale="es-ES")
        said = await harness.reply_text(failed)
        assert "El servidor rechazó el inicio de sesión de" in said
        listed = await harness.reply_text(await harness.command("mail list", locale="es-ES"))
        assert "último error" in listed and "El servidor rechazó el inicio de sesión" in listed
        english = await harness.reply_text(await harness.command("mail list"))
        assert "The server refused the login for" in english
