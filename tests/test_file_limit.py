"""At start the bot raises its open-file limit to the hard limit, and when even that is too
low for the accounts it watches it says so in one line, with the number it needs. Each
case runs in a child process: a process cannot raise its hard limit back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
import bot
line = bot.raise_file_limit(int(sys.argv[3]))
print(json.dumps({"line": line, "limit": resource.getrlimit(resource.RLIMIT_NOFILE)}))
"""


def _run(soft: int, hard: int, accounts: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(soft), str(hard), str(accounts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_soft_limit_is_raised_to_the_hard_limit_without_a_word():
    """Soft 256 under a hard 4096 and 1,000 accounts (2,512 files): raised to 4096, no line."""
    result = _run(256, 4096, 1000)
    assert result == {"line": None, "limit": [4096, 4096]}


def test_a_hard_limit_too_low_is_named_in_one_line_with_the_number_needed():
    """Hard 2048 and 10,000 accounts: the soft limit still goes up to 2048, and one line
    says both numbers (20,512 needed: two per account and 512 besides)."""
    result = _run(256, 2048, 10_000)
    assert result["limit"] == [2048, 2048]
    line = result["line"]
    assert "\n" not in line
    assert "2048" in line and "20512" in line and "10000 accounts" in line


def test_a_higher_soft_limit_is_never_lowered():
    """An operator's soft limit already at the hard limit stays."""
    assert _run(3000, 3000, 10)["limit"] == [3000, 3000]
