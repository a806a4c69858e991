"""Doctor's "catalogs load" check. The translations (issue 23, section 1) live in a module
`i18n` (top level or mailsync.i18n) with a `locales/` folder of gettext catalogs
(`locales/<language>/LC_MESSAGES/*.po` or `.mo`). If that module offers `load_catalogs()`
(returning the languages it loaded, raising when one is broken), the check calls it;
otherwise it reads and compiles every catalog it finds, and checks that each language of
the module's CATALOGS has one. Without the module, a `locales/` folder that exists means
the catalogs are not installed."""

from __future__ import annotations

import gettext
import importlib
import io
from pathlib import Path

from mailsync.doctor_result import Result

MODULES = ("i18n", "mailsync.i18n")
ROOT = Path(__file__).resolve().parent.parent


def _module():
    for name in MODULES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name and not name.startswith(f"{exc.name}."):
                raise  # the module is there but one of its imports is not
    return None


def _folders(module) -> list[Path]:
    places = [ROOT / "locales"]
    if module is not None and getattr(module, "__file__", None):
        places.insert(0, Path(module.__file__).resolve().parent / "locales")
    return [p for p in dict.fromkeys(places) if p.is_dir()]


def _load_files(folder: Path) -> list[str]:
    """The languages whose compiled (.mo) or source (.po) catalogs under `folder` parse."""
    languages = []
    for path in sorted(folder.glob("*/LC_MESSAGES/*.mo")):
        with path.open("rb") as handle:
            gettext.GNUTranslations(handle)
        languages.append(path.parent.parent.name)
    for path in sorted(folder.glob("*/LC_MESSAGES/*.po")):
        from babel.messages.mofile import write_mo  # Babel: section 1's dependency
        from babel.messages.pofile import read_po

        with path.open("rb") as handle:
            write_mo(io.BytesIO(), read_po(handle))  # as the bot compiles it at start
        languages.append(path.parent.parent.name)
    return sorted(set(languages))


def check_catalogs() -> Result:
    try:
        module = _module()
        folders = _folders(module)
        if module is None and not folders:
            return Result.ok("catalogs", "no translations in this version (English only)")
        if module is not None and hasattr(module, "load_catalogs"):
            languages = sorted(module.load_catalogs())
        else:
            languages = sorted({lang for folder in folders for lang in _load_files(folder)})
            missing = sorted(set(getattr(module, "CATALOGS", ())) - set(languages))
            if missing:
                raise FileNotFoundError(f"no catalog for {', '.join(missing)}")
    except Exception as exc:
        hint = "reinstall (pip install -e .) or rebuild the catalogs (pybabel compile)"
        return Result.problem("catalogs", f"catalogs do not load: {exc}"[:300], hint)
    if module is None:
        hint = "locales/ is there but the i18n module is not: reinstall (pip install -e .)"
        return Result.problem("catalogs", "no catalogs installed", hint)
    if not languages:
        hint = "compile the catalogs (pybabel compile) or reinstall"
        return Result.problem("catalogs", "no catalogs installed", hint)
    return Result.ok("catalogs", f"catalogs load: {', '.join(languages)}")
