"""Texts people read, in their language. The catalogs are gettext `.po` files under
i18n/locales/, read with Babel when first asked for and compiled in memory (no build step,
no `.mo` to keep in step with the `.po`). A string in code is the English msgid; a
Translator turns it into the reader's language, English when a language has no catalog.

This package imports nothing of ours, so every floor (mail/ errors up to cogs/) may use it.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
DEFAULT = "en"
# Catalog languages shipped beside English (gettext names: pt_BR, not pt-BR).
CATALOGS = ("es", "pt_BR")


def N_(msgid: str) -> str:
    """Marks a msgid for extraction where it is translated later (errors, constants)."""
    return msgid


def catalog_language(locale: str | None) -> str:
    """The catalog serving a Discord or gettext locale: `es-ES` and `es-419` -> `es`,
    `pt-BR` -> `pt_BR`, anything without a catalog -> `en`."""
    if not locale:
        return DEFAULT
    code = str(locale).replace("-", "_")
    if code in CATALOGS:
        return code
    base = code.split("_", 1)[0]
    return base if base in CATALOGS else DEFAULT


def _load(language: str) -> gettext.NullTranslations:
    if language == DEFAULT:
        return gettext.NullTranslations()
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy entry stays English
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Msg:
    """A text to translate later, in the reader's language: a msgid and its arguments
    (which may be Msgs themselves). Errors carry one, raised deep in mail/ and shown in a
    member's or a guild's language by whoever displays them."""

    __slots__ = ("args", "msgid")

    def __init__(self, msgid: str, /, **args: object) -> None:
        self.msgid = msgid
        self.args = args

    def render(self, t: Translator) -> str:
        return t(self.msgid, **self.args)

    def __str__(self) -> str:
        return self.render(ENGLISH)

    def __repr__(self) -> str:
        return f"Msg({self.msgid!r}, **{self.args!r})"


class Explained(Exception):
    """An exception whose message is a Msg: str() is English (logs), `render(t)` is the
    reader's language. Raise as `Err(N_("... `{host}` ..."), host=host)` or `Err(msg)`."""

    def __init__(self, message: str | Msg, /, **args: object) -> None:
        self.msg = message if isinstance(message, Msg) else Msg(message, **args)
        super().__init__(str(self.msg))

    def render(self, t: Translator) -> str:
        return self.msg.render(t)


class MsgError(Explained, ValueError):
    """Bad input, explained to the user who gave it."""


class Translator:
    """One language: `t(msgid, **args)` translates then fills `{name}` placeholders (only
    when arguments are given, so a msgid without arguments may hold braces);
    `t.ngettext(singular, plural, n, **args)` picks the plural form and offers `{count}`."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self._translations = _load(language)

    def __call__(self, msgid: str, /, **args: object) -> str:
        text = self._translations.gettext(msgid)
        return text.format(**self._filled(args)) if args else text

    def ngettext(self, singular: str, plural: str, n: int, /, **args: object) -> str:
        text = self._translations.ngettext(singular, plural, n)
        return text.format(count=self.number(n), **self._filled(args))

    def _filled(self, args: dict[str, object]) -> dict[str, object]:
        return {k: v.render(self) if isinstance(v, Msg | Explained) else v for k, v in args.items()}

    def number(self, value: float, digits: int = 0) -> str:
        """A number the reader's way (1,234.5 / 1.234,5)."""
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def size_kib(self, kib: int) -> str:
        """A size given in KiB, in the largest unit that keeps it readable."""
        value, unit = float(kib), "KiB"
        for bigger in ("MiB", "GiB", "TiB"):
            if value < 1024:
                break
            value, unit = value / 1024, bigger
        return f"{self.number(value, 0 if unit == 'KiB' else 1)} {unit}"


@cache
def translator(locale: str | None = None) -> Translator:
    """The Translator for a Discord or gettext locale; English when it has no catalog."""
    language = catalog_language(locale)
    if language != locale:
        return translator(language)
    return Translator(language)


ENGLISH = Translator(DEFAULT)
