"""The whole /mail command tree, translated offline as tree.sync() would send it: names stay
English, and every localization keeps Discord's limits (name pattern, lowercase,
descriptions 1-100 characters, 8,000 characters per command)."""

from cryptography.fernet import Fernet

import bot as bot_module
from cogs._lang import CatalogTranslator

NAME_MAX = 32
DESCRIPTION_MAX = 100
COMMAND_BUDGET = 8000


def _valid_name(name: str) -> bool:
    # Discord: ^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, lowercase where a case exists
    return (
        1 <= len(name) <= NAME_MAX
        and all(c.isalnum() or c in "-_'" for c in name)
        and name == name.lower()
    )


def _fields(node: dict) -> list[tuple[str, list[str]]]:
    """(kind, [default, *localizations]) of every name, description and choice."""
    out = [("name", [node["name"], *(node.get("name_localizations") or {}).values()])]
    if "description" in node:
        localized = (node.get("description_localizations") or {}).values()
        out.append(("description", [node["description"], *localized]))
    for choice in node.get("choices") or []:
        out.append(("choice", [choice["name"], *(choice.get("name_localizations") or {}).values()]))
        out.append(("value", [str(choice["value"])]))
    for option in node.get("options") or []:
        out += _fields(option)
    return out


def _size(command: dict) -> int:
    """Discord's count toward the 8,000: each field at its longest localization (the
    default included), as discord-api-docs#5343 documents."""
    return sum(max(map(len, texts)) for _kind, texts in _fields(command))


async def _payload(tmp_path) -> list[dict]:
    settings = bot_module.Settings(
        discord_token="offline",
        secret_key=Fernet.generate_key().decode(),
        database_url=f"sqlite:///{tmp_path}/tree.db",
        http_port=0,
    )
    bot = bot_module.build_bot(settings)
    try:
        async with bot:  # the loop-bound setup, without logging in; closed on the way out
            bot.tree.add_command(bot.mail_group)
            for extension in bot_module.EXTENSIONS:
                await bot.load_extension(extension)
            translator = CatalogTranslator()
            commands = bot.tree.get_commands()
            return [await c.get_translated_payload(bot.tree, translator) for c in commands]
    finally:
        bot.engine.dispose()


async def test_every_localization_keeps_discords_limits(tmp_path):
    """Each command's localized names, descriptions and choices fit Discord's rules."""
    payload = await _payload(tmp_path)
    assert [c["name"] for c in payload] == ["mail"]
    for command in payload:
        for kind, texts in _fields(command):
            for text in texts:
                if kind == "name":
                    assert _valid_name(text), f"bad name {text!r}"
                elif kind in ("description", "choice"):
                    assert 1 <= len(text) <= DESCRIPTION_MAX, f"{kind} of {len(text)}: {text!r}"
        assert _size(command) <= COMMAND_BUDGET, f"/{command['name']}: {_size(command)} chars"


async def test_descriptions_are_localized_and_names_are_not(tmp_path):
    """Spanish (es-ES, es-419) and pt-BR descriptions are sent; no name is localized."""
    payload = await _payload(tmp_path)
    mail = payload[0]
    for locale in ("es-ES", "es-419", "pt-BR"):
        assert mail["description_localizations"][locale] != mail["description"]
    subcommands = {o["name"]: o for o in mail["options"]}
    add = subcommands["add"]
    assert add["description_localizations"]["es-ES"] == add["description_localizations"]["es-419"]
    assert add["description_localizations"]["pt-BR"] != add["description"]
    language = {o["name"]: o for o in subcommands["language"]["options"]}["language"]
    auto = next(c for c in language["choices"] if c["value"] == "auto")
    assert auto["name_localizations"]["es-ES"] != auto["name"]

    def names(node):
        yield node.get("name_localizations") or {}
        for option in node.get("options") or []:
            yield from names(option)

    assert all(not localized for localized in names(mail))
