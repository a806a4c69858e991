"""`mailsync check-config`: every problem of the settings at once, one line each, without
connecting anywhere. Exit 0 (valid) or 2.

Settings.from_env stops at the first bad value, which is right for a start but makes an
operator fix one line at a time. So each variable is also read on its own (with the two
required ones filled by placeholders) to find every bad one, and variables that only mean
something together are read as a group; the full read at the end catches the rest, also
for settings added later."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url

from settings import ConfigError, Settings
from storage.crypto import SecretBox, SecretKeyError

REQUIRED = ("DISCORD_TOKEN", "MAILSYNC_SECRET_KEY")
GROUPS = (  # read together: one only makes sense with the others
    ("DATABASE_URL", "MAILSYNC_SHARD_COUNT", "MAILSYNC_SHARD_IDS"),
    ("MAILSYNC_HTTP_HOST", "MAILSYNC_HTTP_PORT", "MAILSYNC_PUBLIC_URL"),
)
OTHERS = ("LOG_LEVEL", "LOG_FORMAT")


def _placeholders() -> dict[str, str]:
    return {"DISCORD_TOKEN": "placeholder-token", "MAILSYNC_SECRET_KEY": SecretBox.generate_key()}


def _read(env: Mapping[str, str]) -> str | None:
    try:
        Settings.from_env(env)
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:  # a reader that fails otherwise is still one problem line
        return f"the settings cannot be read: {type(exc).__name__}: {exc}"
    return None


def _setting_names(env: Mapping[str, str]) -> list[str]:
    return sorted(n for n in env if n.startswith("MAILSYNC_") or n in OTHERS)


def _value_problems(env: Mapping[str, str]) -> list[str]:
    base = _placeholders()
    seen: set[str] = set()  # Settings' own messages, before any prefix
    found: list[str] = []

    def add(message: str | None, name: str = "") -> None:
        if not message or message in seen:
            return
        seen.add(message)
        # A message shared by several variables says which one was read.
        found.append(f"{name}: {message}" if name and not message.startswith(name) else message)

    for name in REQUIRED:
        if not env.get(name, "").strip():
            add(_read({**base, name: ""}))
    oauth = {n: env[n] for n in env if n.startswith("MAILSYNC_OAUTH_")}
    grouped = {n for group in GROUPS for n in group}
    for name in _setting_names(env):
        if not name.startswith("MAILSYNC_OAUTH_") and name not in grouped:
            add(_read({**base, name: env[name]}), name)
    add(_read({**base, **oauth}))  # the providers are one set: presets, the file
    for group in GROUPS:
        add(_read({**base, **{n: env[n] for n in group if n in env}}))
    add(_read(env))  # what only the whole set shows, and settings newer than this list
    return found


def _key_problem(env: Mapping[str, str]) -> str | None:
    key = env.get("MAILSYNC_SECRET_KEY", "").strip()
    if not key:
        return None  # reported as missing already
    try:
        SecretBox(key)
    except SecretKeyError as exc:
        return f"{exc}."
    return None


def _store_problems(env: Mapping[str, str]) -> list[str]:
    """The URL parses and its driver is installed; a SQLite file's folder can be made."""
    raw = env.get("DATABASE_URL") or "sqlite:///data/mailsync.db"
    try:
        url = make_url(raw)
    except Exception:
        return ["DATABASE_URL is not a database URL (e.g. sqlite:///data/mailsync.db)."]
    backend = url.get_backend_name()
    if backend == "postgresql":
        if importlib.util.find_spec("psycopg") is None:
            return [
                "DATABASE_URL is PostgreSQL but psycopg is missing: pip install -e '.[postgres]'."
            ]
        return []
    if backend != "sqlite":
        return [f"DATABASE_URL: {backend} is not supported (SQLite or PostgreSQL)."]
    if not url.database or url.database == ":memory:":
        return ["DATABASE_URL: an in-memory SQLite store would lose everything at a restart."]
    folder = Path(url.database).resolve().parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return [f"DATABASE_URL: cannot create the SQLite store's folder under {existing}."]
    return []


def _cert_problem(env: Mapping[str, str]) -> str | None:
    path = env.get("SSL_CERT_FILE", "").strip()
    if path and not Path(path).is_file():
        return f"SSL_CERT_FILE names {path}, which is not a file."
    return None


def problems(env: Mapping[str, str]) -> list[str]:
    """Every problem of the configuration in `env`, one sentence each; [] when valid."""
    found = _value_problems(env)
    for extra in (_key_problem(env), *_store_problems(env), _cert_problem(env)):
        if extra and extra not in found:
            found.append(extra)
    return found


def unknown_names(env: Mapping[str, str], example: Path | None) -> list[str]:
    """MAILSYNC_* variables the example file does not know (a typo, or a retired one)."""
    if example is None or not example.is_file():
        return []
    known = set()
    for line in example.read_text(encoding="utf-8").splitlines():
        name = line.lstrip("# ").split("=", 1)[0].strip()
        if name.isidentifier() and "=" in line:
            known.add(name)
    return sorted(n for n in env if n.startswith("MAILSYNC_") and n not in known)
