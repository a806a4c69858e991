"""`mailsync run` as an operator starts it: the real console command in its own process
against the Discord double, logging JSON lines, stopped cleanly by SIGTERM; and the
README's run command names this command."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys

from cryptography.fernet import Fernet

from tests.cli_run import CHILD, CONSOLE_SCRIPT, ROOT, base_env

TOKEN = "Zq9-discord-token-SECRET-0123456789"


async def test_run_logs_json_and_stops_cleanly_on_sigterm(tmp_path, database_url, discord_double):
    """The process syncs its commands, connects, writes only JSON lines (time, level,
    logger, message), and on SIGTERM shuts down and exits 0; the token is in no line."""
    env = base_env(
        DISCORD_TOKEN=TOKEN,
        MAILSYNC_SECRET_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=database_url,
        MAILSYNC_GUILD_ID=str(discord_double.guild_id),
        MAILSYNC_HTTP_PORT="0",
        LOG_FORMAT="json",
        MAILSYNC_TEST_DISCORD_API=discord_double.api_base,
        MAILSYNC_TEST_DISCORD_GATEWAY=discord_double.ws_url,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        "run",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(120):
            while not any('"connected as' in line for line in lines):
                line = (await proc.stderr.readline()).decode()
                assert line, "exited early: " + "".join(lines)
                lines.append(line)
        assert discord_double.synced_commands(discord_double.guild_id)
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, lines[-5:]
    lines += rest.decode().splitlines(keepends=True)
    records = [json.loads(line) for line in lines if line.strip()]
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    messages = [r["message"] for r in records if r["logger"] == "mailsync"]
    assert "synced 1 application command(s)" in messages
    assert "shutting down" in messages
    assert not any(TOKEN in line for line in lines)


def test_readme_run_command_is_this_console_script():
    """README's "Run the bot" line ends with `.venv/bin/mailsync run`, the script that
    pyproject installs (and that this test run has)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Run the bot\n.*?```bash\n(.*?)\n```", readme, re.DOTALL)
    assert block is not None
    assert block.group(1).strip().endswith(".venv/bin/mailsync run")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'mailsync = "mailsync.cli:main"' in pyproject
    assert CONSOLE_SCRIPT.is_file()
