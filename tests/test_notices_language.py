"""cogs/_notices.EmbedRenderer: each notice in the language of the guild it goes to, asked
when the notice is rendered (a digest or board due later uses the language of then)."""

from datetime import UTC, datetime

from cogs._notices import EmbedRenderer
from mail.errors import AuthError
from mail.types import NewMessage
from tests.test_board_ui import _data
from watch.board_data import Health
from watch.digest import HEADINGS

GUILD = 42


def _message(uid: int) -> NewMessage:
    return NewMessage(
        folder="INBOX",
        uid=uid,
        subject=f"s{uid}",
        sender="a@example.com",
        date=datetime(2026, 12, 1, tzinfo=UTC),
        snippet="body",
    )


def test_a_digest_is_rendered_in_the_language_of_its_send_time():
    """The same digest renders in Spanish, then in Portuguese once the guild changed."""
    languages = {GUILD: "es"}
    render = EmbedRenderer(lambda guild_id: languages.get(guild_id, "en"))
    messages = [_message(i) for i in range(3)]
    heading = HEADINGS["daily"]
    spanish = render.digest("acct", messages, heading=heading, guild_id=GUILD)
    assert spanish["title"] == "Resumen diario: 3 mensajes nuevos"
    languages[GUILD] = "pt_BR"
    portuguese = render.digest("acct", messages, heading=heading, guild_id=GUILD)
    assert portuguese["title"] == "Resumo diário: 3 mensagens novas"
    english = render.digest("acct", messages, heading=heading, guild_id=7)
    assert english["title"] == "Daily digest: 3 new messages"


def test_trouble_renders_the_mail_error_in_the_guilds_language():
    """A MailError raised in mail/ reaches a Spanish channel in Spanish, English elsewhere."""
    render = EmbedRenderer(lambda guild_id: "es" if guild_id == GUILD else "en")
    error = AuthError(
        "The server refused the login for `{username}`: check the user name and password.",
        username="ana",
    )
    spanish = render.trouble("acct", 3, error, error.kind, None, guild_id=GUILD)
    assert spanish["title"] == "Cuenta de correo con problemas"
    assert "El servidor rechazó el inicio de sesión de `ana`" in spanish["description"]
    english = render.trouble("acct", 3, error, error.kind, None, guild_id=1)
    assert (
        "The last 3 polls failed: The server refused the login for `ana`"
        in (english["description"])
    )


def test_a_boards_last_error_is_shown_in_the_guilds_language():
    """A failing board shows the error as raised in the guild's language; a stored English
    text (from before a restart) is shown as it is."""
    render = EmbedRenderer(lambda guild_id: "es")
    error = AuthError("`{host}:{port}` refused the connection.", host="mx", port=993)
    raised = _data(health=Health.FAILING, failures=3, last_error=error)
    board = render.board(raised, guild_id=GUILD)
    assert (
        "Fallaron las últimas 3 revisiones: \\`mx\\:993\\` rechazó la conexión\\."
        in (board["description"])
    )
    stored = _data(health=Health.FAILING, failures=1, last_error="old english text")
    assert (
        "Falló la última revisión: old english text"
        in render.board(stored, guild_id=GUILD)["description"]
    )
