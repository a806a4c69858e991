"""storage/guild_language.py: a guild's language for channel posts, `auto` without a row,
gone with the guild's accounts when the bot leaves it."""

from storage import guild_language, repo
from tests.store_helpers import new_account

GUILD = 1_234_567_890_123_456_789  # a snowflake beyond 32 bits


def test_a_guild_without_a_row_is_auto_and_a_set_language_is_kept(engine):
    """No row reads `auto`; a set language is read back, changed, and `auto` removes it."""
    assert guild_language.get(engine, GUILD) == "auto"
    guild_language.set_language(engine, GUILD, "es")
    assert guild_language.get(engine, GUILD) == "es"
    guild_language.set_language(engine, GUILD, "pt-BR")
    assert guild_language.all_set(engine) == {GUILD: "pt-BR"}
    guild_language.set_language(engine, GUILD, "auto")
    assert guild_language.get(engine, GUILD) == "auto"
    assert guild_language.all_set(engine) == {}


def test_leaving_a_guild_forgets_its_language(engine):
    """delete_guild removes the language row with the accounts; other guilds keep theirs."""
    repo.create_account(engine, new_account(guild_id=GUILD), [])
    guild_language.set_language(engine, GUILD, "es")
    guild_language.set_language(engine, 7, "en")
    assert len(repo.delete_guild(engine, GUILD)) == 1
    assert guild_language.all_set(engine) == {7: "en"}
