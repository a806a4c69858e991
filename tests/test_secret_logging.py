"""Secrets (SPEC §5): a password typed into the /mail add modal never reaches a log record
at any level, nor what either LOG_FORMAT writes, nor the database file in clear; and key
rotation re-encrypts stored passwords without crashing on ones no key can read."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import bot as bot_module
from storage.crypto import SecretBox, SecretKeyError
from storage.db import make_engine, migrate
from storage.repo import NewAccount, create_account
from storage.rotation import rotate_passwords


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write: message, raw args, formatted exception."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not hide the raw parts
        message = ""
    return "\n".join(
        [str(record.msg), repr(record.args), message, logging.Formatter().format(record)]
    )


@pytest.fixture
def debug_logs() -> Iterator[_Recorder]:
    """bot.setup_logging("DEBUG") plus a recorder on the root logger; logging is put back
    as it was afterwards (handlers, root level, the levels setup_logging changed)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    touched = [
        *bot_module.PAYLOAD_LOGGERS,
        "imapclient",
        "imapclient.imaplib",
        "discord",
        "mailsync",
    ]
    saved_levels = {name: logging.getLogger(name).level for name in touched}
    recorder = _Recorder()
    try:
        yield recorder
    finally:
        root.removeHandler(recorder)
        for handler in root.handlers[:]:
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def _start_debug_logging(recorder: _Recorder) -> None:
    bot_module.setup_logging("DEBUG")
    logging.getLogger().addHandler(recorder)


async def _add_and_poll(harness, dovecot, password: str) -> None:
    user = dovecot.add_user(password=password)
    async with harness.running():
        _, reply = await harness.add_account(user, name="secret")
        assert "Watching `secret`" in reply
        check = await harness.command("mail check", {"account": "secret"})
        assert "new message" in await harness.reply_text(check)


def _database_rows(url: str) -> str:
    """Every row of every table, as text (SQLite or PostgreSQL)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return "\n".join(
                repr(row)
                for table in inspect(conn).get_table_names()
                for row in conn.execute(text(f'select * from "{table}"'))  # noqa: S608
            )
    finally:
        engine.dispose()


def _sqlite_files(url: str) -> list[Path]:
    """The SQLite database file and its -wal/-shm/-journal companions (none elsewhere)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return []
    database = Path(parsed.database)
    return [p for p in database.parent.iterdir() if p.name.startswith(database.name)]


async def test_modal_password_is_in_no_log_record_nor_the_database(harness, dovecot, debug_logs):
    """At DEBUG the modal password is in no log record, no DB row, no SQLite/WAL byte."""
    password = f"Zq9-UNIQUE-pw-{secrets.token_hex(8)}"
    _start_debug_logging(debug_logs)
    await _add_and_poll(harness, dovecot, password)

    assert any(r.levelno == logging.DEBUG for r in debug_logs.records)  # DEBUG really on
    assert any(r.name.startswith("discord") for r in debug_logs.records)
    leaks = [r for r in debug_logs.records if password in _record_text(r)]
    assert not leaks, [(r.name, r.levelname, r.msg) for r in leaks[:3]]

    rows = _database_rows(harness.settings.database_url)
    assert password not in rows and "secret" in rows  # the account is there, its password not
    for path in _sqlite_files(harness.settings.database_url):
        assert password.encode() not in path.read_bytes(), path.name


async def test_probe_sees_the_password_when_payload_loggers_are_not_capped(
    harness, dovecot, debug_logs, monkeypatch
):
    """Control: without the PAYLOAD_LOGGERS cap the gateway DEBUG log leaks the password."""
    password = f"Zq9-UNIQUE-pw-{secrets.token_hex(8)}"
    monkeypatch.setattr(bot_module, "PAYLOAD_LOGGERS", ())
    _start_debug_logging(debug_logs)
    await _add_and_poll(harness, dovecot, password)
    assert any(password in _record_text(r) for r in debug_logs.records)


# ------------------------------------------------------------------ key rotation


def _store_with_accounts(url: str, box: SecretBox, passwords: list[str]):
    engine = make_engine(url)
    migrate(engine)
    ids = []
    for i, password in enumerate(passwords):
        account = create_account(
            engine,
            NewAccount(
                guild_id=1,
                channel_id=2,
                name=f"acct{i}",
                protocol="imap",
                host="mail.example.org",
                port=993,
                security="tls",
                username=f"user{i}",
                password_encrypted=box.encrypt(password),
                folders=("INBOX",),
                interval_minutes=5,
                created_by=3,
            ),
        )
        ids.append(account.id)
    return engine, ids


def _tokens(engine) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("select id, password_encrypted from account order by id"))
        return {row[0]: row[1] for row in rows}


def test_rotation_re_encrypts_with_the_new_key(database_url, caplog):
    """After rotating with `new,old` the new key alone decrypts all; nothing secret logged."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    passwords = ["Zq9-rot-one", "Zq9-rot-two", "Zq9-rot-three"]
    engine, ids = _store_with_accounts(database_url, SecretBox(old), passwords)
    try:
        before = _tokens(engine)
        caplog.set_level(logging.DEBUG)
        rotated, failed = rotate_passwords(engine, SecretBox(f"{new},{old}"))
        assert (rotated, failed) == (3, [])
        after = _tokens(engine)
        assert all(after[i] != before[i] for i in ids)
        only_new = SecretBox(new)
        assert [only_new.decrypt(after[i]) for i in ids] == passwords
        with pytest.raises(SecretKeyError):
            SecretBox(old).decrypt(after[ids[0]])
        logged = "\n".join(_record_text(r) for r in caplog.records)
        assert not any(p in logged for p in passwords)
        assert not any(k in logged for k in (old, new))
    finally:
        engine.dispose()


def test_rotation_reports_accounts_no_key_can_decrypt(database_url, caplog):
    """An undecryptable password is reported by id and left as is; the others rotate."""
    old, new, lost = (Fernet.generate_key().decode() for _ in range(3))
    engine, ids = _store_with_accounts(database_url, SecretBox(old), ["Zq9-a", "Zq9-b"])
    try:
        with engine.begin() as conn:  # one account was saved under a key nobody has now
            conn.execute(
                text("update account set password_encrypted = :t where id = :i"),
                {"t": SecretBox(lost).encrypt("Zq9-lost"), "i": ids[1]},
            )
        orphan = _tokens(engine)[ids[1]]
        caplog.set_level(logging.DEBUG)
        rotated, failed = rotate_passwords(engine, SecretBox(f"{new},{old}"))
        assert (rotated, failed) == (1, [ids[1]])
        after = _tokens(engine)
        assert after[ids[1]] == orphan
        assert SecretBox(new).decrypt(after[ids[0]]) == "Zq9-a"
        assert str(ids[1]) in caplog.text
        assert "Zq9-" not in caplog.text
    finally:
        engine.dispose()


def test_rotation_with_one_key_keeps_every_password_readable(database_url):
    """Rotating with the current key only (nothing to retire) is harmless and repeatable."""
    key = Fernet.generate_key().decode()
    engine, ids = _store_with_accounts(database_url, SecretBox(key), ["Zq9-x"])
    try:
        for _ in range(2):
            assert rotate_passwords(engine, SecretBox(key)) == (1, [])
        assert SecretBox(key).decrypt(_tokens(engine)[ids[0]]) == "Zq9-x"
    finally:
        engine.dispose()


def test_secret_box_repr_shows_no_key():
    """A SecretBox that ends up in a log or traceback does not print its keys."""
    key = Fernet.generate_key().decode()
    assert key not in repr(SecretBox(key))
    assert key[:10] not in str(vars(SecretBox(key)))


def test_rotation_on_an_empty_store(database_url):
    """No accounts: nothing rotated, nothing failed."""
    engine = make_engine(database_url)
    migrate(engine)
    try:
        assert rotate_passwords(engine, SecretBox(Fernet.generate_key().decode())) == (0, [])
    finally:
        engine.dispose()


# ------------------------------------------------------------------ both log formats


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_modal_password_is_not_in_either_log_format(
    harness, dovecot, debug_logs, capsys, fmt
):
    """At DEBUG, what LOG_FORMAT=text or json writes to stderr never holds the modal
    password (and json is one object a line)."""
    password = f"Zq9-UNIQUE-pw-{secrets.token_hex(8)}"
    bot_module.setup_logging("DEBUG", fmt)
    await _add_and_poll(harness, dovecot, password)
    written = capsys.readouterr().err
    lines = written.splitlines()
    assert len(lines) > 50, written[:500]  # DEBUG output really was written
    assert any("discord" in line for line in lines)
    if fmt == "json":
        assert all(json.loads(line)["level"] for line in lines)
    assert password not in written
