"""Doctor checks on the store: reachable and migrated to head, every stored secret
readable with MAILSYNC_SECRET_KEY, and which OAuth2 providers stored accounts need.
Read-only: nothing is migrated or written, and a SQLite file that is not there yet is
not created."""

from __future__ import annotations

from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, column, create_engine, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from mailsync.doctor_result import Result
from storage.crypto import SecretBox, SecretKeyError
from storage.db import alembic_config, make_engine

CONNECT_TIMEOUT = 5  # seconds, PostgreSQL


def open_store(database_url: str) -> tuple[Result, Engine | None]:
    """The store check, and an engine on it when it is reachable and has a schema."""
    url = make_url(database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        if not url.database or not Path(url.database).is_file():
            return Result.ok("store", f"{shown} not created yet; `mailsync run` creates it"), None
        engine = make_engine(database_url)
    else:
        if url.drivername in ("postgres", "postgresql"):
            url = url.set(drivername="postgresql+psycopg")
        connect = {"connect_timeout": CONNECT_TIMEOUT}
        engine = create_engine(url, poolclass=NullPool, connect_args=connect)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
            has_tables = bool(inspect(conn).get_table_names())
    except Exception as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
        hint = "check DATABASE_URL and that the database server runs and lets this host in"
        return Result.problem("store", f"{shown} unreachable: {reason}", hint), None
    scripts = ScriptDirectory.from_config(alembic_config())
    heads = set(scripts.get_heads())
    if current == heads:
        return Result.ok("store", f"{shown} reachable, schema at head ({_names(heads)})"), engine
    if not current and not has_tables:
        engine.dispose()
        return Result.ok("store", f"{shown} reachable and empty; `mailsync run` creates it"), None
    known = {rev.revision for rev in scripts.walk_revisions()}
    if current - known:
        hint = "this store was migrated by a newer Mailsync: run that version"
        detail = f"{shown} at revision {_names(current)}, unknown to this version"
        engine.dispose()
        return Result.problem("store", detail, hint), None
    hint = "`mailsync run` migrates it at start (back the store up first)"
    detail = f"{shown} at revision {_names(current)}, not at head ({_names(heads)})"
    return Result.problem("store", detail, hint), engine


def _names(revisions: set[str]) -> str:
    return ", ".join(sorted(revisions)) or "none"


def check_secrets(engine: Engine, key: str) -> Result:
    """Every `*_encrypted` column of every table decrypts with the configured keys (the
    plaintexts are dropped at once; only row ids are reported)."""
    box = SecretBox(key)
    count, unreadable = 0, []
    with engine.connect() as conn:
        inspector = inspect(conn)
        for name in inspector.get_table_names():
            secrets = [c["name"] for c in inspector.get_columns(name) if _is_secret(c["name"])]
            keys = inspector.get_pk_constraint(name).get("constrained_columns") or []
            if not secrets or len(keys) != 1:
                continue
            rows = table(name, column(keys[0]), *(column(c) for c in secrets))
            for row in conn.execute(select(rows)):
                for token in row[1:]:
                    if token is None:
                        continue
                    count += 1
                    try:
                        box.decrypt(token)
                    except SecretKeyError:
                        unreadable.append(f"{name} {row[0]}")
    if unreadable:
        shown = ", ".join(unreadable[:20]) + (" ..." if len(unreadable) > 20 else "")
        hint = (
            "add the key they were saved with to MAILSYNC_SECRET_KEY (after the first), or "
            "set them again with /mail password or /mail reauth"
        )
        detail = f"no configured key decrypts {len(unreadable)} of {count} secret(s): {shown}"
        return Result.problem("secrets", detail, hint)
    return Result.ok("secrets", f"MAILSYNC_SECRET_KEY decrypts all {count} stored secret(s)")


def _is_secret(column_name: str) -> bool:
    return column_name.endswith("_encrypted")


def oauth_providers_in_use(engine: Engine) -> dict[str, list[int]]:
    """Provider name -> ids of the stored accounts that sign in with it."""
    accounts = table("account", column("id"), column("auth"), column("oauth_provider"))
    used: dict[str, list[int]] = {}
    with engine.connect() as conn:
        query = select(accounts.c.id, accounts.c.oauth_provider).where(accounts.c.auth == "oauth")
        for account_id, provider in conn.execute(query):
            used.setdefault(provider or "?", []).append(account_id)
    return used
