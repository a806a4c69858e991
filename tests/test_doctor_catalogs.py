"""Doctor's "catalogs load" check: English only without translations, a problem when
catalogs are there but do not load or one the i18n module promises is missing. Catalogs
here are real gettext .mo files, read by the same stdlib code the check uses."""

from __future__ import annotations

import struct
import sys
import types
from pathlib import Path

import pytest

from mailsync import catalogs


def _mo(entries: dict[str, str]) -> bytes:
    """A GNU gettext .mo file (the format gettext.GNUTranslations reads)."""
    keys = sorted(entries)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(entries[k].encode() + b"\0" for k in keys)
    start = 7 * 4 + 16 * len(keys)
    table, offset = [], start
    for k in keys:
        table.append((len(k.encode()), offset))
        offset += len(k.encode()) + 1
    values, offset = [], start + len(ids)
    for k in keys:
        values.append((len(entries[k].encode()), offset))
        offset += len(entries[k].encode()) + 1
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 28, 28 + 8 * len(keys), 0, 0)
    pairs = b"".join(struct.pack("<2I", *p) for p in table + values)
    return header + pairs + ids + strs


def _catalog(root: Path, language: str, data: bytes) -> None:
    folder = root / "locales" / language / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.mo").write_bytes(data)


@pytest.fixture
def no_module(monkeypatch, tmp_path):
    """Neither i18n nor mailsync.i18n importable; the source tree is tmp_path."""
    monkeypatch.setitem(sys.modules, "i18n", None)
    monkeypatch.setitem(sys.modules, "mailsync.i18n", None)
    monkeypatch.setattr(catalogs, "ROOT", tmp_path / "tree")
    return tmp_path


@pytest.fixture
def module(no_module, monkeypatch):
    """An `i18n` module whose locales/ folder is tmp_path/i18n/locales, shipping es."""
    folder = no_module / "i18n"
    folder.mkdir()
    fake = types.ModuleType("i18n")
    fake.__file__ = str(folder / "__init__.py")
    fake.CATALOGS = ("es",)
    monkeypatch.setitem(sys.modules, "i18n", fake)
    return fake, folder


def test_without_translations_the_check_passes(no_module):
    """No i18n module and no locales/ folder: English only, ok."""
    result = catalogs.check_catalogs()
    assert result.passed and "English only" in result.detail


def test_locales_without_the_module_is_a_problem(no_module):
    """A locales/ folder but no i18n module: "no catalogs installed"."""
    (no_module / "tree" / "locales").mkdir(parents=True)
    result = catalogs.check_catalogs()
    assert not result.passed and result.detail == "no catalogs installed"


def test_catalogs_that_load_pass(module):
    """The module's catalogs parse: ok, naming the languages."""
    _, folder = module
    _catalog(folder, "es", _mo({"": "Content-Type: text/plain; charset=UTF-8\n", "Hi": "Hola"}))
    result = catalogs.check_catalogs()
    assert result.passed, result.line()
    assert result.detail == "catalogs load: es"


def test_a_broken_catalog_is_a_problem(module):
    """A catalog that is not a catalog: the check names the failure with a hint."""
    _, folder = module
    _catalog(folder, "es", b"this is not a gettext catalog at all")
    result = catalogs.check_catalogs()
    assert not result.passed and "catalogs do not load" in result.detail and result.hint


def test_a_promised_language_without_catalog_is_a_problem(module):
    """CATALOGS names pt_BR but only es is there."""
    fake, folder = module
    fake.CATALOGS = ("es", "pt_BR")
    _catalog(folder, "es", _mo({"Hi": "Hola"}))
    result = catalogs.check_catalogs()
    assert not result.passed and "no catalog for pt_BR" in result.detail


def test_the_modules_own_loader_is_used(module):
    """A module with load_catalogs(): its answer is the check's, its error a problem."""
    fake, _ = module
    fake.load_catalogs = lambda: ["pt_BR", "es"]
    assert catalogs.check_catalogs().detail == "catalogs load: es, pt_BR"

    def broken() -> list[str]:
        raise ValueError("placeholder {count} missing in es")

    fake.load_catalogs = broken
    result = catalogs.check_catalogs()
    assert not result.passed and "placeholder {count} missing in es" in result.detail
