"""The SQL store: migrations, account rows, per-folder state, health, encryption."""

import json

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import inspect

from mail.types import FolderBaseline, FolderState
from storage import health, outbox, repo
from storage.crypto import SecretBox, SecretKeyError
from storage.db import alembic_config, make_engine, migrate


def _new(guild=1, name="ops"):
    return repo.NewAccount(
        guild_id=guild,
        channel_id=987654321098765432,
        name=name,
        protocol="imap",
        host="mail.example.com",
        port=993,
        security="tls",
        username="ops@example.com",
        password_encrypted="token",
        folders=("INBOX", "Sales, EU"),
        interval_minutes=5,
        created_by=123456789012345678,
    )


def _notice(title):
    return lambda number: outbox.Alert({"title": f"{title} {number}"})


def _outbox_titles(engine):
    with engine.connect() as c:
        payloads = c.exec_driver_sql("select payload from outbox order by id").scalars()
        return [json.loads(p)["embed"]["title"] for p in payloads]


BASE = [
    FolderBaseline("INBOX", FolderState(7, 41), messages=41, unseen=2),
    FolderBaseline("Sales, EU", FolderState(9, 3), messages=3, unseen=0),
]


def test_migrations_create_the_schema_in_a_new_folder(engine):
    """Migrating a fresh store (on SQLite, a file in a folder not yet made) yields the
    tables."""
    tables = set(inspect(engine).get_table_names())
    assert {"account", "folder_state", "account_health", "alembic_version"} <= tables


def test_migrations_go_down_to_nothing_and_up_again(engine):
    """Every migration's downgrade runs on this backend, and upgrading again restores the
    same tables and columns."""
    before = _schema(engine)
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert _schema(engine) == before


def _schema(engine) -> dict[str, set[str]]:
    insp = inspect(engine)
    return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names()}


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgresql_urls_use_the_installed_driver(scheme):
    """DATABASE_URL=postgresql://... (or postgres://) gets psycopg, which `.[postgres]`
    installs, on any SQLAlchemy 2.x; no connection is made."""
    eng = make_engine(f"{scheme}://u:p@127.0.0.1:1/mailsync")
    assert (eng.dialect.name, eng.dialect.driver) == ("postgresql", "psycopg")
    eng.dispose()


def test_migrate_twice_is_harmless(engine):
    """Applying migrations at every start leaves an up-to-date store unchanged."""
    migrate(engine)
    assert "account" in inspect(engine).get_table_names()


def test_discord_ids_are_big_integers(engine):
    """Snowflakes above 2**31 round-trip through the store."""
    account = repo.create_account(engine, _new(guild=2**62 + 5), BASE)
    stored = repo.get_account(engine, account.id)
    assert stored.guild_id == 2**62 + 5
    assert stored.channel_id == 987654321098765432


def test_account_keeps_its_baseline_and_folder_names(engine):
    """Creating an account stores each folder's (UIDVALIDITY, highest UID); commas survive."""
    account = repo.create_account(engine, _new(), BASE)
    assert repo.folder_states(engine, account.id) == {
        "INBOX": FolderState(7, 41),
        "Sales, EU": FolderState(9, 3),
    }
    assert repo.get_account(engine, account.id).folder_list == ["INBOX", "Sales, EU"]


def test_duplicate_name_saves_nothing(engine):
    """A second account with the same name in a guild is refused and leaves no rows."""
    repo.create_account(engine, _new(), BASE)
    with pytest.raises(repo.DuplicateAccountError):
        repo.create_account(engine, _new(), BASE)
    assert len(repo.list_accounts(engine, 1)) == 1
    with engine.connect() as c:
        assert c.exec_driver_sql("select count(*) from folder_state").scalar() == 2


def test_guilds_do_not_see_each_other(engine):
    """Lookups by name and listings are scoped to the guild."""
    repo.create_account(engine, _new(guild=1, name="shared"), BASE)
    assert repo.find_account(engine, 2, "shared") is None
    assert repo.list_accounts(engine, 2) == []
    assert repo.account_names(engine, 2, "") == []
    assert repo.account_names(engine, 1, "SHA") == ["shared"]


def test_state_advances_and_health_counts_failures(engine):
    """Saved folder state replaces the old one; failures count up and a success resets them."""
    account = repo.create_account(engine, _new(), BASE)
    outbox.enqueue_with_folder_states(engine, account, [], {"INBOX": FolderState(7, 50)})
    assert repo.folder_states(engine, account.id)["INBOX"] == FolderState(7, 50)
    health.record_failure(engine, account.id, "refused", "refused", 3, _notice("trouble"))
    state = health.record_failure(engine, account.id, "refused", "refused", 3, _notice("trouble"))
    assert state.consecutive_failures == 2
    assert state.last_error_kind == "refused"
    # never reported: no notice due
    assert health.record_success(engine, account.id, _notice("recovered")) is None
    assert _outbox_titles(engine) == []
    health.record_failure(engine, account.id, "login", "refused login", 1, _notice("trouble"))
    health.record_failure(engine, account.id, "login", "refused login", 1, _notice("trouble"))
    assert _outbox_titles(engine) == ["trouble 1"]  # one warning per streak, with its flag
    assert health.record_success(engine, account.id, _notice("recovered")) == 2
    assert _outbox_titles(engine) == ["trouble 1", "recovered 2"]
    row = repo.list_accounts(engine, 1)[0].health
    assert (row.consecutive_failures, row.last_error, row.trouble_notified) == (
        0,
        None,
        False,
    )


def test_secretbox_round_trip_and_rotation():
    """The first key encrypts, every listed key decrypts; ciphertext hides the plaintext."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox(old).encrypt("hunter2")
    assert "hunter2" not in token
    assert SecretBox(f"{new},{old}").decrypt(token) == "hunter2"
    with pytest.raises(SecretKeyError):
        SecretBox(new).decrypt(token)
    with pytest.raises(SecretKeyError):
        SecretBox("not-a-key")


def test_health_of_a_removed_account_is_not_recorded(engine):
    """A poll that finishes after /mail remove records nothing (no orphan row, no error)."""
    account = repo.create_account(engine, _new(), BASE)
    repo.delete_account(engine, account.id)
    assert health.record_success(engine, account.id, _notice("recovered")) is None
    failed = health.record_failure(engine, account.id, "refused", "x", 1, _notice("trouble"))
    assert failed.consecutive_failures == 0
    assert _outbox_titles(engine) == []
    with engine.connect() as c:
        assert c.exec_driver_sql("select count(*) from account_health").scalar() == 0
