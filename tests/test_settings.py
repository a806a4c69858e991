"""Settings from the environment and the command line of bot.py."""

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
KEY = Fernet.generate_key().decode()


def test_defaults_apply_when_only_required_values_are_set():
    """Only the token and key are required; the rest takes the SPEC §4 defaults."""
    s = Settings.from_env({"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": KEY})
    assert s.database_url == "sqlite:///data/mailsync.db"
    assert s.guild_id is None
    assert s.allow_private_hosts is False
    assert s.poll_concurrency == 20
    assert s.log_level == "INFO"
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)  # SPEC section 10
    assert s.callback_url == "http://127.0.0.1:8080/oauth/callback"
    assert s.oauth_providers == {}


def test_values_are_read_and_typed():
    """Every variable of SPEC §4 is read and converted."""
    s = Settings.from_env(
        {
            "DISCORD_TOKEN": "t",
            "MAILSYNC_SECRET_KEY": KEY,
            "DATABASE_URL": "sqlite:////tmp/x.db",
            "MAILSYNC_GUILD_ID": "123456789012345678",
            "MAILSYNC_ALLOW_PRIVATE_HOSTS": "1",
            "MAILSYNC_POLL_CONCURRENCY": "7",
            "LOG_LEVEL": "debug",
        }
    )
    assert (s.database_url, s.guild_id, s.allow_private_hosts) == (
        "sqlite:////tmp/x.db",
        123456789012345678,
        True,
    )
    assert (s.poll_concurrency, s.log_level) == (7, "DEBUG")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"MAILSYNC_SECRET_KEY": KEY}, "DISCORD_TOKEN"),
        ({"DISCORD_TOKEN": "t"}, "--generate-key"),
        ({"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": KEY, "MAILSYNC_GUILD_ID": "x"}, "numbers"),
        ({"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": KEY, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        (
            {"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": KEY, "MAILSYNC_HTTP_PORT": "70000"},
            "MAILSYNC_HTTP_PORT",
        ),
        (
            {"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": KEY, "MAILSYNC_PUBLIC_URL": "ftp://x"},
            "MAILSYNC_PUBLIC_URL",
        ),
        (
            {
                "DISCORD_TOKEN": "t",
                "MAILSYNC_SECRET_KEY": KEY,
                "MAILSYNC_OAUTH_GOOGLE_CLIENT_ID": "g",
            },
            "GOOGLE_CLIENT_SECRET",
        ),
    ],
)
def test_bad_settings_name_what_to_fix(env, needle):
    """A missing or malformed variable raises an error that names it."""
    with pytest.raises(ConfigError, match=needle):
        Settings.from_env(env)


def test_oauth_settings_are_read():
    """Providers, the public URL and the web endpoint's address come from the environment."""
    s = Settings.from_env(
        {
            "DISCORD_TOKEN": "t",
            "MAILSYNC_SECRET_KEY": KEY,
            "MAILSYNC_OAUTH_MICROSOFT_CLIENT_ID": "ms",
            "MAILSYNC_HTTP_HOST": "0.0.0.0",  # noqa: S104 (a setting, not a bind here)
            "MAILSYNC_HTTP_PORT": "0",
            "MAILSYNC_PUBLIC_URL": "https://bot.example.com/",
        }
    )
    assert list(s.oauth_providers) == ["microsoft"]
    assert (s.http_host, s.http_port) == ("0.0.0.0", 0)  # noqa: S104
    assert s.callback_url == "https://bot.example.com/oauth/callback"


def test_secrets_are_not_in_the_repr():
    """The token and key never appear when settings are printed or logged."""
    s = Settings.from_env({"DISCORD_TOKEN": "tok-SECRET", "MAILSYNC_SECRET_KEY": KEY})
    assert "tok-SECRET" not in repr(s)
    assert KEY not in repr(s)


def _run_bot(*args, env):
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT / "tests",  # no .env here
        timeout=60,
    )


def test_generate_key_prints_a_fernet_key():
    """`python bot.py --generate-key` prints one usable Fernet key and exits 0."""
    out = _run_bot("--generate-key", env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0
    Fernet(out.stdout.strip().encode())


def test_missing_token_exits_at_once_with_one_line():
    """Without DISCORD_TOKEN the bot exits non-zero with one line saying what to set."""
    out = _run_bot(env={"PATH": "/usr/bin:/bin", "MAILSYNC_SECRET_KEY": KEY})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "DISCORD_TOKEN" in lines[0]


def test_invalid_secret_key_exits_with_a_clear_line():
    """A malformed MAILSYNC_SECRET_KEY is refused before anything starts."""
    out = _run_bot(env={"PATH": "/usr/bin:/bin", "DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": "x"})
    assert out.returncode == 2
    assert "MAILSYNC_SECRET_KEY" in out.stderr


def test_rotate_keys_reencrypts_with_the_first_key(tmp_path):
    """`python bot.py --rotate-keys` re-encrypts stored passwords and OAuth2 tokens so the
    old key can go."""
    from storage import repo
    from storage.crypto import SecretBox
    from storage.db import make_engine, migrate

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path}/rotate.db"
    engine = make_engine(url)
    migrate(engine)
    account = repo.create_account(
        engine,
        repo.NewAccount(
            1, 2, "a", "imap", "h", 993, "tls", "u", SecretBox(old).encrypt("pw"), ("INBOX",), 5, 3
        ),
    )
    tokens = '{"access": "A", "refresh": "R", "exp": 1}'  # an OAuth2 account's secret
    signed_in = repo.create_account(
        engine,
        repo.NewAccount(
            *(1, 2, "b", "imap", "h", 993, "tls", "u", SecretBox(old).encrypt(tokens)),
            *(("INBOX",), 5, 3, "oauth", "lab"),
        ),
    )
    engine.dispose()
    env = {"PATH": "/usr/bin:/bin", "MAILSYNC_SECRET_KEY": f"{new},{old}", "DATABASE_URL": url}
    out = _run_bot("--rotate-keys", env=env)
    assert out.returncode == 0, out.stderr
    assert "re-encrypted 2" in out.stdout
    engine = make_engine(url)
    stored = repo.get_account(engine, account.id).password_encrypted
    stored_tokens = repo.get_account(engine, signed_in.id).password_encrypted
    engine.dispose()
    assert SecretBox(new).decrypt(stored) == "pw"
    assert SecretBox(new).decrypt(stored_tokens) == tokens  # tokens are covered too


def test_idle_silence_windows_are_read_and_checked():
    """The silent-connection windows default to 300 s and 30 s, are read, and a value out
    of range is one clear error naming the variable."""
    base = {"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": KEY}
    s = Settings.from_env(base)
    assert (s.idle_silence_seconds, s.idle_probe_seconds) == (300.0, 30.0)
    s = Settings.from_env(
        {**base, "MAILSYNC_IDLE_SILENCE_SECONDS": "150", "MAILSYNC_IDLE_PROBE_SECONDS": "10"}
    )
    assert (s.idle_silence_seconds, s.idle_probe_seconds) == (150.0, 10.0)
    for env in ({"MAILSYNC_IDLE_SILENCE_SECONDS": "5"}, {"MAILSYNC_IDLE_PROBE_SECONDS": "0"}):
        with pytest.raises(ConfigError, match="MAILSYNC_IDLE_SILENCE_SECONDS"):
            Settings.from_env({**base, **env})
