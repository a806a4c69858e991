"""Alembic environment: runs on the connection storage.db.migrate hands it."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` CLI use: take the URL from the environment
        import os

        engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///data/mailsync.db"))
        with engine.begin() as conn:
            _run_on(conn)
        return
    _run_on(connection)


def _run_on(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
