"""MAILSYNC_TIMEZONE: the zone of hourly/daily digests; a bad name stops the bot at start
with one line."""

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
KEY = Fernet.generate_key().decode()
BASE = {"DISCORD_TOKEN": "t", "MAILSYNC_SECRET_KEY": KEY}


def test_default_is_utc_and_iana_names_are_read():
    """Unset: UTC; an IANA name is kept as given."""
    assert Settings.from_env(BASE).timezone == "UTC"
    assert Settings.from_env({**BASE, "MAILSYNC_TIMEZONE": "Europe/Berlin"}).timezone == (
        "Europe/Berlin"
    )


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "CEST", "+02:00", "../../etc/passwd"])
def test_a_bad_name_is_refused(name):
    """Anything that is not an IANA zone name is a ConfigError naming the variable."""
    with pytest.raises(ConfigError, match=r"MAILSYNC_TIMEZONE .* is not an IANA time zone name"):
        Settings.from_env({**BASE, "MAILSYNC_TIMEZONE": name})


def test_bot_exits_at_start_with_one_line():
    """python bot.py with a bad MAILSYNC_TIMEZONE: exit 2, one line on stderr."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bot.py")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **BASE, "MAILSYNC_TIMEZONE": "Europe/Atlantis"},
        cwd=ROOT / "tests",
        timeout=60,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "MAILSYNC_TIMEZONE 'Europe/Atlantis' is not an IANA time zone name" in lines[0]
