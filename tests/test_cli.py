"""The `mailsync` console command: its entry points, --version, generate-key, and
check-config against good and broken settings (one line per problem, exit 0 or 2, never a
secret on the screen). Each runs the real command as a child process."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from cryptography.fernet import Fernet

from tests.cli_run import CONSOLE_SCRIPT, ROOT, base_env

KEY = Fernet.generate_key().decode()
TOKEN = "Zq9-discord-token-SECRET-0123456789"


def _mailsync(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def _write_env(folder: Path, **values: str) -> None:
    folder.joinpath(".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def test_version_comes_from_the_package_metadata(tmp_path):
    """`mailsync --version` prints the installed distribution's version and exits 0."""
    out = _mailsync("--version", env=base_env(), cwd=tmp_path)
    assert out.returncode == 0
    assert out.stdout.strip() == f"mailsync {metadata.version('mailsync')}"


def test_python_dash_m_mailsync_is_the_same_command(tmp_path):
    """`python -m mailsync --help` lists every subcommand."""
    out = subprocess.run(
        [sys.executable, "-m", "mailsync", "--help"],
        capture_output=True,
        text=True,
        env=base_env(),
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0
    for name in ("run", "check-config", "doctor", "generate-key", "rotate-keys", "sync-commands"):
        assert name in out.stdout


def test_generate_key_prints_a_usable_key(tmp_path):
    """`mailsync generate-key` prints one Fernet key and needs no settings."""
    out = _mailsync("generate-key", env=base_env(), cwd=tmp_path)
    assert out.returncode == 0
    Fernet(out.stdout.strip().encode())


def test_check_config_accepts_a_good_env_file(tmp_path):
    """A complete .env passes: exit 0, one ok line, nothing connected to."""
    database = tmp_path / "store" / "mailsync.db"
    _write_env(
        tmp_path,
        DISCORD_TOKEN=TOKEN,
        MAILSYNC_SECRET_KEY=KEY,
        DATABASE_URL=f"sqlite:///{database}",
        LOG_FORMAT="json",
        MAILSYNC_SYNC_COMMANDS="off",
    )
    out = _mailsync("check-config", env=base_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "ok: the configuration is valid"
    assert not database.parent.exists()  # checked, not created


def test_check_config_lists_every_problem_one_line_each(tmp_path):
    """Five bad values give five problem lines at once and exit 2; no secret is shown."""
    _write_env(
        tmp_path,
        DISCORD_TOKEN=TOKEN,
        MAILSYNC_SECRET_KEY="not-a-fernet-key-SECRET-123",
        MAILSYNC_POLL_CONCURRENCY="many",
        LOG_LEVEL="LOUD",
        LOG_FORMAT="xml",
        MAILSYNC_SYNC_COMMANDS="sometimes",
    )
    out = _mailsync("check-config", env=base_env(), cwd=tmp_path)
    assert out.returncode == 2
    problems = [line for line in out.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 5, out.stdout
    for needle in (
        "MAILSYNC_SECRET_KEY",
        "MAILSYNC_POLL_CONCURRENCY",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "MAILSYNC_SYNC_COMMANDS",
    ):
        assert sum(needle in line.split(":", 2)[1] for line in problems) >= 1, (needle, problems)
    shown = out.stdout + out.stderr
    assert TOKEN not in shown and "not-a-fernet-key-SECRET-123" not in shown


def test_check_config_names_missing_required_values(tmp_path):
    """No .env at all: the two required values are each named on a line of their own."""
    out = _mailsync("check-config", env=base_env(), cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, lines
    assert "DISCORD_TOKEN" in lines[0] and "MAILSYNC_SECRET_KEY" in lines[1]


def test_check_config_masks_a_secret_pasted_into_another_setting(tmp_path):
    """A token or store password pasted into the wrong variable is quoted by its problem
    line, masked (in any case): the line says ***, never the secret."""
    password = "db-pass-SECRET-42"
    _write_env(
        tmp_path,
        DISCORD_TOKEN=TOKEN,
        MAILSYNC_SECRET_KEY=KEY,
        DATABASE_URL=f"postgresql://mailsync:{password}@127.0.0.1:1/mailsync",
        LOG_LEVEL=TOKEN,  # the message upper-cases it
        LOG_FORMAT=password,
    )
    out = _mailsync("check-config", env=base_env(), cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stdout.splitlines()
    assert any(line.startswith("problem: LOG_LEVEL '***'") for line in lines), lines
    assert any(line.startswith("problem: LOG_FORMAT '***'") for line in lines), lines
    shown = (out.stdout + out.stderr).lower()
    assert TOKEN.lower() not in shown and password.lower() not in shown
    assert KEY.lower() not in shown


def test_environment_wins_over_env_file_and_typos_are_noted(tmp_path):
    """A variable set in the environment overrides .env (as at start); an unknown
    MAILSYNC_ name is a note, not a failure."""
    _write_env(tmp_path, DISCORD_TOKEN=TOKEN, MAILSYNC_SECRET_KEY=KEY, LOG_LEVEL="LOUD")
    env = base_env(LOG_LEVEL="DEBUG", MAILSYNC_POLL_CONCURENCY="5")
    out = _mailsync("check-config", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stdout
    assert "note: MAILSYNC_POLL_CONCURENCY is not a Mailsync setting" in out.stdout


def test_an_env_file_that_is_not_there_is_refused(tmp_path):
    """--env-file naming no file stops with one line and exit 2."""
    out = _mailsync(
        "--env-file", str(tmp_path / "nope.env"), "check-config", env=base_env(), cwd=tmp_path
    )
    assert out.returncode == 2
    assert "no settings file" in out.stderr


def test_redactor_masks_every_kind_of_configured_secret(tmp_path):
    """Token, each key of a key list, the store password and a client secret kept in the
    providers file are all masked, in any case; other words are left alone."""
    from mailsync.redact import Redactor

    providers = tmp_path / "providers.toml"
    providers.write_text(
        '[providers.corp]\nhosts = ["imap.corp.example"]\nflow = "device"\n'
        'device_authorization_endpoint = "https://id.corp.example/device"\n'
        'token_endpoint = "https://id.corp.example/token"\n'
        'client_id = "mailsync"\nclient_secret = "Zq9-file-SECRET-555"\n'
    )
    old = Fernet.generate_key().decode()
    redact = Redactor(
        {
            "DISCORD_TOKEN": TOKEN,
            "MAILSYNC_SECRET_KEY": f"{KEY},{old}",
            "DATABASE_URL": "postgresql://u:Zq9-db-SECRET@h/d",
            "MAILSYNC_OAUTH_PROVIDERS_FILE": str(providers),
        }
    )
    text = f"{TOKEN.upper()} {old} Zq9-db-SECRET zq9-file-secret-555 client mailsync"
    assert redact(text) == "*** *** *** *** client mailsync"


def test_rotate_keys_through_the_console_script(tmp_path, database_url):
    """`mailsync rotate-keys` re-encrypts the stored secrets with the first key."""
    from storage import repo
    from storage.crypto import SecretBox
    from storage.db import make_engine, migrate

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    engine = make_engine(database_url)
    try:
        migrate(engine)
        account = repo.create_account(
            engine,
            repo.NewAccount(
                *(1, 2, "a", "imap", "h", 993, "tls", "u", SecretBox(old).encrypt("Zq9-pw")),
                *(("INBOX",), 5, 3),
            ),
        )
    finally:
        engine.dispose()
    _write_env(tmp_path, MAILSYNC_SECRET_KEY=f"{new},{old}", DATABASE_URL=database_url)
    out = _mailsync("rotate-keys", env=base_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "re-encrypted 1" in out.stdout
    engine = make_engine(database_url)
    try:
        stored = repo.get_account(engine, account.id).password_encrypted
    finally:
        engine.dispose()
    assert SecretBox(new).decrypt(stored) == "Zq9-pw"
