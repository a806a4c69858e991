"""Keeping the catalogs: extract the msgids from the code, update each language's `.po`
from the template, and check them (complete, not fuzzy, placeholders intact, template
current). `python -m i18n.catalogs extract|update|check`; the tests call the same checks.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from i18n import CATALOGS, DOMAIN, LOCALES_DIR

ROOT = LOCALES_DIR.parent.parent
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"
# t("...") a Translator, t.ngettext(s, p, n), N_("...") marked for later, and
# locale_str("...") command descriptions: the same list `pybabel extract -k` is given.
KEYWORDS = {"t": None, "ngettext": (1, 2), "N_": None, "locale_str": None}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}|%\(([A-Za-z_]+)\)[sd]")


def po_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract(root: Path = ROOT) -> Catalog:
    """The msgids in the code now, as a template catalog."""
    with (root / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    catalog = Catalog(project="mailsync", msgid_bugs_address="", charset="utf-8")
    found = extract_from_dir(
        str(root),
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=("Translators:",),
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, context in found:
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        write_po(out, catalog, width=100, no_location=True, sort_output=True)


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=locale)


def write_template() -> Catalog:
    template = extract()
    _write(TEMPLATE, template)
    return template


def update(languages: Iterable[str] = CATALOGS) -> None:
    """Merge the template into each `.po`: new msgids arrive empty (or fuzzy when close to
    an old one), removed ones become obsolete."""
    template = _read(TEMPLATE)
    for language in languages:
        path = po_path(language)
        if path.exists():
            catalog = _read(path, language)
            catalog.update(template, update_header_comment=False)
            catalog.obsolete.clear()
        else:
            catalog = Catalog(locale=language, project="mailsync", charset="utf-8")
            catalog.update(template)
        _write(path, catalog)


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def new_msgids() -> list[str]:
    """Msgids in the code that locales/messages.pot lacks."""
    return sorted(_ids(extract()) - _ids(_read(TEMPLATE)))


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in _PLACEHOLDER.findall(text)}


def problems(language: str) -> list[str]:
    """What is wrong with one language's catalog: an entry missing, untranslated or fuzzy,
    or whose placeholders differ from its msgid's."""
    catalog = _read(po_path(language), language)
    out = []
    missing = _ids(_read(TEMPLATE)) - _ids(catalog)
    out += [f"{language}: missing {m!r}" for m in sorted(missing)]
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if message.fuzzy:
            out.append(f"{language}: fuzzy {ids[0]!r}")
        if not all(strings):
            out.append(f"{language}: untranslated {ids[0]!r}")
            continue
        wanted = set().union(*(placeholders(i) for i in ids))
        for string in strings:
            if placeholders(string) - wanted or (len(ids) == 1 and placeholders(string) != wanted):
                out.append(f"{language}: placeholders differ in {ids[0]!r}: {string!r}")
    return out


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "extract":
        print(f"{len(write_template())} msgids in {TEMPLATE.relative_to(ROOT)}")
        return 0
    if command == "update":
        update()
        return 0
    if command == "check":
        found = [f"new msgid (run extract, update, translate): {m!r}" for m in new_msgids()]
        for language in CATALOGS:
            found += problems(language)
        print("\n".join(found) or "catalogs complete")
        return 1 if found else 0
    print("usage: python -m i18n.catalogs extract|update|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
