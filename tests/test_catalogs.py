"""i18n/: the catalogs are complete, their placeholders intact, the template current; a
translator per Discord locale, with English where there is no catalog."""

import pytest

from i18n import CATALOGS, ENGLISH, N_, Msg, catalog_language, catalogs, translator
from mail.errors import AuthError


def test_template_is_current():
    """Extracting the code again finds no msgid that i18n/locales/messages.pot lacks."""
    new = catalogs.new_msgids()
    assert not new, (
        "msgids in the code but not in i18n/locales/messages.pot; run "
        "`python -m i18n.catalogs extract && python -m i18n.catalogs update`, then translate "
        "them in each .po (docs/languages.md):\n" + "\n".join(map(repr, new))
    )


@pytest.mark.parametrize("language", CATALOGS)
def test_catalog_is_complete_and_placeholders_match(language):
    """Every msgid is translated, none fuzzy, and each msgstr keeps its msgid's {placeholders}."""
    problems = catalogs.problems(language)
    assert not problems, "\n".join(problems)


def test_placeholder_check_catches_a_renamed_placeholder():
    """The placeholder comparison sees a renamed or dropped placeholder."""
    assert catalogs.placeholders("`{host}:{port}` refused") == {"host", "port"}
    assert catalogs.placeholders("%(name)s and {count:,}") == {"name", "count"}
    assert catalogs.placeholders("`{anfitrion}`") != catalogs.placeholders("`{host}`")


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("es-ES", "es"),
        ("es-419", "es"),
        ("pt-BR", "pt_BR"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("fr", "en"),
        ("pt", "en"),
        (None, "en"),
    ],
)
def test_discord_locales_map_to_catalogs(locale, language):
    """es-ES and es-419 share Spanish, pt-BR is Brazilian Portuguese, others fall back to en."""
    assert catalog_language(locale) == language
    assert translator(locale).language == language


def test_translation_fills_placeholders_and_nested_messages():
    """A Msg inside a Msg, and an error as an argument, are rendered in the same language."""
    es = translator("es-ES")
    error = AuthError(
        N_("`{host}` offers no OAuth2 login (AUTH=OAUTHBEARER or XOAUTH2)."), host="h"
    )
    assert str(error) == "`h` offers no OAuth2 login (AUTH=OAUTHBEARER or XOAUTH2)."
    spanish = error.render(es)
    assert spanish != str(error) and "`h`" in spanish
    nested = Msg(N_("The new password was not saved: {exc}"), exc=error)
    assert nested.render(es).endswith(spanish)
    assert nested.render(ENGLISH) == f"The new password was not saved: {error}"


def test_plural_forms_and_number_formats_follow_the_language():
    """ngettext picks the language's plural form; numbers and sizes use its separators."""
    es, pt = translator("es"), translator("pt-BR")
    one = es.ngettext("{count} new message", "{count} new messages", 1)
    many = es.ngettext("{count} new message", "{count} new messages", 1234)
    assert one != many and "1.234" in many
    assert ENGLISH.ngettext("{count} new message", "{count} new messages", 1234) == (
        "1,234 new messages"
    )
    assert pt.size_kib(1536) == "1,5 MiB"
    assert ENGLISH.size_kib(1536) == "1.5 MiB"
