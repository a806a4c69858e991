"""A fresh, empty store per test: a SQLite file by default, or a PostgreSQL database.

Set MAILSYNC_TEST_DATABASE_URL to a PostgreSQL server URL whose role may create databases
(e.g. postgresql+psycopg://mailsync:mailsync@127.0.0.1:5432/postgres) and every test that
takes `database_url` gets a database of its own there, created empty and dropped after the
test. The database named in that URL is only used to issue CREATE/DROP DATABASE. A run
that is killed may leave `mailsync_test_*` databases behind; drop them by hand.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

ENV = "MAILSYNC_TEST_DATABASE_URL"


def server_url() -> URL | None:
    """The PostgreSQL server the tests run against, or None for SQLite."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    url = make_url(raw)
    if url.drivername in ("postgres", "postgresql"):  # as storage.db.make_engine: psycopg
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() != "postgresql":
        raise pytest.UsageError(f"{ENV} must be a postgresql:// URL, not {url.drivername}")
    return url


def backend() -> str:
    """'postgresql' or 'sqlite': which store this run of the suite uses."""
    return "sqlite" if server_url() is None else "postgresql"


def pytest_configure(config) -> None:
    server_url()  # a malformed MAILSYNC_TEST_DATABASE_URL stops the run before any test


def pytest_report_header(config) -> str:
    url = server_url()
    if url is None:
        return "database: SQLite (a file per test)"
    return f"database: PostgreSQL at {url.render_as_string(hide_password=True)} (a db per test)"


@pytest.fixture(scope="session")
def database_admin() -> Iterator[Engine | None]:
    """An autocommit engine on the server's admin database (None on SQLite).

    An unreachable server fails the run: a PostgreSQL pass that silently tested
    nothing would look green."""
    url = server_url()
    if url is None:
        yield None
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        engine.dispose()
        pytest.exit(f"{ENV} is set but the server cannot be reached: {exc}", returncode=3)
    yield engine
    engine.dispose()


class Databases:
    """Makes fresh, empty databases: SQLite files, or databases on the PostgreSQL server."""

    def __init__(self, admin: Engine | None) -> None:
        self.admin = admin

    @property
    def backend(self) -> str:
        return "sqlite" if self.admin is None else "postgresql"

    @contextlib.contextmanager
    def fresh(self, folder: Path) -> Iterator[str]:
        """The URL of a new, empty database (migrations not applied), dropped on exit;
        on SQLite a file in a not-yet-existing subfolder of `folder`."""
        if self.admin is None:
            yield f"sqlite:///{folder}/data/mailsync.db"
            return
        name = f"mailsync_test_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield self.admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            self._drop(name)

    def _drop(self, name: str) -> None:
        """DROP ... WITH (FORCE) (PG 13+) also ends the connections the test left open, even
        ones a thread of the test opens while it runs. It first checks that it may end every
        backend in the database, and a role without superuser may not end an autovacuum
        worker: "must be a member of the role whose process is being terminated". Such a
        worker is done with a test's tiny database within moments, so try again until then."""
        assert self.admin is not None
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                return
            except DBAPIError as exc:
                refused = getattr(exc.orig, "sqlstate", None) == "42501"  # insufficient_privilege
                if not refused or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def databases(database_admin) -> Databases:
    """For fixtures of a wider scope: `with databases.fresh(folder) as url: ...`."""
    return Databases(database_admin)


@pytest.fixture
def database_url(tmp_path, databases) -> Iterator[str]:
    """The URL of a new, empty database for this test (migrations not applied)."""
    with databases.fresh(tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url) -> Iterator[Engine]:
    """An engine on this test's database, migrated to the latest schema."""
    from storage.db import make_engine, migrate  # the product's engine settings

    eng = make_engine(database_url)
    migrate(eng)
    yield eng
    eng.dispose()
