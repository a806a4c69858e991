"""Outbox nonces: drawn per row, never the row id, and kept for rows queued before 0013."""

from alembic import command
from sqlalchemy import MetaData, Table, insert, text
from sqlmodel import Session, select

from mail.types import FolderBaseline, FolderState
from storage import outbox, repo
from storage.db import alembic_config, make_engine
from storage.models import OutboxAlert, new_nonce
from storage.outbox import Alert
from tests.test_store import _new


def test_every_row_gets_its_own_nonce_within_discords_limit(engine):
    """Rows queued through the ORM or a Core insert each carry a distinct nonce of at most
    25 characters that is not derived from the row id."""
    account = repo.create_account(
        engine, _new(), [FolderBaseline("INBOX", FolderState(1, 1), 0, 0)]
    )
    outbox.enqueue(engine, account, [Alert({"title": str(i)}) for i in range(3)])
    with engine.begin() as conn:
        conn.execute(
            insert(OutboxAlert), [{"account_id": account.id, "channel_id": 5, "payload": "{}"}]
        )
    with Session(engine) as session:
        rows = session.exec(select(OutboxAlert)).all()
    nonces = [r.nonce for r in rows]
    assert len(rows) == 4 and len(set(nonces)) == 4
    assert all(0 < len(n) <= 25 for n in nonces)
    assert all(n != f"ms{r.id}" for n, r in zip(nonces, rows, strict=True))
    assert len({new_nonce() for _ in range(10_000)}) == 10_000


def test_rows_queued_before_the_upgrade_keep_the_nonce_they_were_tried_with(database_url):
    """Migration 0013 gives rows already in the outbox `ms<id>`, the nonce an earlier try
    used, so a retry of one that reached Discord still cannot post twice."""
    engine = make_engine(database_url)
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0012")
        # The account as the schema stood at 0012 (the model has columns of later revisions).
        new = _new()
        with engine.begin() as conn:
            table = Table("account", MetaData(), autoload_with=conn)
            model = repo.account_row(new)
            values = {c.name: getattr(model, c.name) for c in table.columns if c.name != "id"}
            account_id = conn.execute(insert(table).values(values)).inserted_primary_key[0]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "insert into outbox (id, account_id, channel_id, payload, created_at, "
                    "attempts, next_attempt_at, kind) values (41, :a, 2, '{}', "
                    "CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, 'post')"
                ),
                {"a": account_id},
            )
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0013")
            nonce = conn.execute(text("select nonce from outbox where id = 41")).scalar_one()
        assert nonce == "ms41"
    finally:
        engine.dispose()
