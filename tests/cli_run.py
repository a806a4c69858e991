"""Running the real `mailsync` command as a child process from a test: the console script,
`python -m mailsync`, or tests/cli_child.py when discord.py must reach the Discord double."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSOLE_SCRIPT = Path(sys.executable).with_name("mailsync")
CHILD = ROOT / "tests" / "cli_child.py"
TIMEOUT = 120.0  # the machine is loaded; doctor's own checks are bounded well below this


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.strip().splitlines()

    def line(self, name: str) -> str:
        """The doctor line of the check `name`."""
        found = [x for x in self.lines if x.split()[1:2] == [name]]
        assert len(found) == 1, (name, self.out, self.err)
        return found[0]


def base_env(**values: str) -> dict[str, str]:
    """A clean environment: PATH, the test certificate variables if any, and `values`."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1"}
    env.update(values)
    return env


async def run_child(args: list[str], env: dict[str, str], cwd: Path, api: str = "") -> Ran:
    """`mailsync ARGS` through tests/cli_child.py, the event loop free meanwhile (the
    Discord double runs on it)."""
    if api:
        env = {**env, "MAILSYNC_TEST_DISCORD_API": api}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return Ran(proc.returncode or 0, out.decode(), err.decode())
