"""`mailsync doctor` against a good setup and against each broken one the issue names: no
store, a wrong key, a taken port, an unreachable provider (and a refused token). The real
command runs as a child process; discord.py in it talks to the Discord double, the OAuth2
provider is the identity-provider double, the store is this run's (SQLite or PostgreSQL)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from storage import repo
from storage.crypto import SecretBox
from storage.db import make_engine, migrate
from tests.cli_run import Ran, base_env, run_child

TOKEN = "Zq9-discord-token-SECRET-0123456789"
CHECKS = ("config", "store", "secrets", "discord", "web", "oauth", "catalogs")


@pytest.fixture
def held_port() -> Iterator[socket.socket]:
    """A loopback port bound but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _providers_file(folder: Path, base_url: str) -> Path:
    path = folder / "providers.toml"
    path.write_text(
        "[providers.corp]\n"
        'hosts = ["imap.corp.example"]\n'
        'flow = "device"\n'
        f'device_authorization_endpoint = "{base_url}/device/code"\n'
        f'token_endpoint = "{base_url}/token"\n'
        'client_id = "mailsync"\n'
        'client_secret = "Zq9-client-SECRET-777"\n'
    )
    return path


def _store(url: str, key: str, *, saved_with: str | None = None) -> list[int]:
    """A migrated store with a password account and an OAuth2 (`corp`) account whose
    secrets were encrypted with `saved_with` (default: `key`)."""
    box = SecretBox(saved_with or key)
    engine = make_engine(url)
    try:
        migrate(engine)
        made = [
            repo.create_account(
                engine,
                repo.NewAccount(
                    *(1, 2, "desk", "imap", "h", 993, "tls", "u", box.encrypt("Zq9-pw")),
                    *(("INBOX",), 5, 3),
                ),
            ),
            repo.create_account(
                engine,
                repo.NewAccount(
                    *(1, 2, "corp", "imap", "imap.corp.example", 993, "tls", "u"),
                    box.encrypt('{"access": "A", "refresh": "R", "exp": 1}'),
                    *(("INBOX",), 5, 3, "oauth", "corp"),
                ),
            ),
        ]
        return [a.id for a in made]
    finally:
        engine.dispose()


@pytest.fixture
def setup(tmp_path, database_url, idp, discord_double):
    """A good deployment: its environment, folder and the double's API base."""
    key = Fernet.generate_key().decode()
    env = base_env(
        DISCORD_TOKEN=TOKEN,
        MAILSYNC_SECRET_KEY=key,
        DATABASE_URL=database_url,
        MAILSYNC_HTTP_PORT=str(_free_port()),
        MAILSYNC_OAUTH_PROVIDERS_FILE=str(_providers_file(tmp_path, idp.base_url)),
    )
    return {"env": env, "key": key, "cwd": tmp_path, "api": discord_double.api_base}


async def _doctor(setup) -> Ran:
    ran = await run_child(["doctor"], setup["env"], setup["cwd"], setup["api"])
    shown = (ran.out + ran.err).lower()
    for secret in (TOKEN, setup["key"], "Zq9-client-SECRET-777", "Zq9-pw"):
        assert secret.lower() not in shown
    return ran


def _only_problem(ran: Ran, name: str) -> str:
    """The one failing check is `name`: exit 1, every other check ok."""
    assert ran.code == 1, ran.out + ran.err
    assert [line.split()[1] for line in ran.lines] == list(CHECKS), ran.out
    failing = [line.split()[1] for line in ran.lines if line.startswith("problem")]
    assert failing == [name], ran.out
    return ran.line(name)


async def test_a_good_setup_passes_every_check(setup, discord_double):
    """Store at head, key decrypts both secrets, token accepted, port free, the
    provider's endpoints answer: every line ok, exit 0."""
    _store(setup["env"]["DATABASE_URL"], setup["key"])
    ran = await _doctor(setup)
    assert ran.code == 0, ran.out + ran.err
    assert [line.split()[:2] for line in ran.lines] == [["ok", c] for c in CHECKS]
    assert "schema at head" in ran.line("store")
    assert "decrypts all 2 stored secret(s)" in ran.line("secrets")
    # (not the bot's name: on CI's PostgreSQL the store password is "mailsync", masked
    # wherever it appears, in any case)
    assert "DISCORD_TOKEN accepted: logged in as" in ran.line("discord")
    login = discord_double.find("GET", r"^/users/@me$")
    assert login and login[-1].headers["Authorization"] == f"Bot {TOKEN}"


async def test_no_store(setup, held_port):
    """A DATABASE_URL nobody answers: the store line is a problem with a hint, the
    password in the URL is masked, and the other checks still run."""
    port = held_port.getsockname()[1]
    url = f"postgresql+psycopg://mailsync:Zq9-db-SECRET@127.0.0.1:{port}/mailsync"
    setup["env"]["DATABASE_URL"] = url
    ran = await _doctor(setup)
    assert ran.code == 1
    store = ran.line("store")
    assert store.startswith("problem") and "unreachable" in store and "hint:" in store
    assert "Zq9-db-SECRET" not in ran.out
    assert ran.line("secrets").startswith("skipped")
    assert ran.line("discord").startswith("ok") and ran.line("web").startswith("ok")


async def test_a_wrong_key(setup):
    """Secrets saved with a key that is no longer configured: the secrets line names the
    rows no key decrypts."""
    ids = _store(
        setup["env"]["DATABASE_URL"], setup["key"], saved_with=Fernet.generate_key().decode()
    )
    line = _only_problem(await _doctor(setup), "secrets")
    assert f"decrypts 2 of 2 secret(s): account {ids[0]}, account {ids[1]}" in line
    assert "hint:" in line


async def test_a_taken_port(setup):
    """Something already listens on MAILSYNC_HTTP_PORT: the web line is a problem."""
    _store(setup["env"]["DATABASE_URL"], setup["key"])
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        setup["env"]["MAILSYNC_HTTP_PORT"] = str(listener.getsockname()[1])
        line = _only_problem(await _doctor(setup), "web")
    assert "cannot listen on 127.0.0.1" in line and "in use" in line


async def test_an_unreachable_provider(setup, held_port):
    """The provider's endpoints point at a closed port: the oauth line names them."""
    _store(setup["env"]["DATABASE_URL"], setup["key"])
    closed = f"http://127.0.0.1:{held_port.getsockname()[1]}"
    setup["env"]["MAILSYNC_OAUTH_PROVIDERS_FILE"] = str(_providers_file(setup["cwd"], closed))
    line = _only_problem(await _doctor(setup), "oauth")
    assert f"`corp` token endpoint {closed}/token did not answer" in line


async def test_a_provider_stored_accounts_need_is_not_configured(setup):
    """An OAuth2 account's provider was removed from the settings: the oauth line says
    which accounts need it."""
    ids = _store(setup["env"]["DATABASE_URL"], setup["key"])
    del setup["env"]["MAILSYNC_OAUTH_PROVIDERS_FILE"]
    line = _only_problem(await _doctor(setup), "oauth")
    assert f"`corp` is not configured; account(s) {ids[1]} use it" in line


async def test_a_refused_token(setup, discord_double):
    """Discord answers 401 to the token: the discord line says so, with where to reset it."""
    _store(setup["env"]["DATABASE_URL"], setup["key"])
    discord_double.set_status("GET", r"^/users/@me$", 401)
    line = _only_problem(await _doctor(setup), "discord")
    assert "refused DISCORD_TOKEN" in line and "Reset Token" in line


async def test_invalid_settings_stop_before_any_check(setup, discord_double):
    """A bad setting is a config problem, exit 2, and nothing is contacted."""
    setup["env"]["MAILSYNC_POLL_CONCURRENCY"] = "0"
    mark = discord_double.mark()
    ran = await _doctor(setup)
    assert ran.code == 2
    assert [line.split()[:2] for line in ran.lines] == [["problem", "config"]]
    assert discord_double.mark() == mark


def test_store_states_without_the_command(database_url, tmp_path):
    """The store check in-process: empty -> ok (run creates it); behind head -> a problem
    whose hint is the migration at start; at head -> ok. A SQLite file that is not there
    is not created by looking."""
    from alembic import command

    from mailsync.doctor_store import open_store
    from storage.db import alembic_config

    missing = tmp_path / "none" / "mailsync.db"
    result, engine = open_store(f"sqlite:///{missing}")
    assert result.passed and engine is None and "not created yet" in result.detail
    assert not missing.parent.exists()

    store = make_engine(database_url)
    try:
        with store.connect():  # SQLite: an empty file now exists
            pass
        result, engine = open_store(database_url)
        assert result.passed and engine is None and "empty" in result.detail

        cfg = alembic_config()
        with store.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0011")
        result, engine = open_store(database_url)
        assert engine is not None
        engine.dispose()
        assert not result.passed and "at revision 0011, not at head" in result.detail
        assert "`mailsync run` migrates it" in result.hint
        migrate(store)
        result, engine = open_store(database_url)
        assert engine is not None
        engine.dispose()
        assert result.passed and "schema at head" in result.detail
    finally:
        store.dispose()


def test_web_endpoint_off_needs_no_port():
    """MAILSYNC_HTTP_PORT=0: the web check passes without binding anything."""
    from mailsync.doctor_remote import check_port

    result = check_port("127.0.0.1", 0)
    assert result.passed and "off" in result.detail
