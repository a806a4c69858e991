"""The engine, built once per process from DATABASE_URL, and migrations at start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from storage.store_faults import track

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x4D530002  # advisory lock key: one process migrates at a time


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):  # the driver `.[postgres]` installs
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # cascades need foreign_keys on
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        track(engine)
        return engine
    # connect_timeout: a vanished server (a failover) fails a try instead of hanging it.
    engine = create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    track(engine)
    return engine


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to head (blocking: call through a thread from async code)."""
    cfg = alembic_config()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Processes of several shards start together: the first migrates, the others
            # wait here, then find the schema at head (the lock ends with the transaction).
            connection.execute(text("SELECT pg_advisory_xact_lock(:k, 0)"), {"k": MIGRATION_LOCK})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
