"""A throwaway PostgreSQL cluster of the test's own that a test can stop and start again
under a running bot (issue 20: the store goes away).

Started as .ci/run starts its cluster: initdb into a temporary folder, pg_ctl on a free
loopback port, as the `postgres` user when the tests run as root (the server refuses to run
as root). Its own cluster, not MAILSYNC_TEST_DATABASE_URL's, so a restart test also runs in
the SQLite pass and never disturbs the shared server the other tests use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROLE = "mailsync"
PASSWORD = "mailsync"
DATABASE = "mailsync"


def _bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    for path in reversed(found):
        if all((path / tool).exists() for tool in ("initdb", "pg_ctl", "psql")):
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """One PostgreSQL server: `stop()` (a restart's or a failover's first half: every
    connection ends), `start()` (same port, same data), `url` for the bot."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="mailsync-pgr-"))
        self.data = self.root / "data"
        self.socket = self.root / "socket"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self._as_pg: list[str] = []
        self.url = f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_pg, *args],
            cwd="/",  # the postgres user may not enter the test's folder
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _check(self, what: str, done: subprocess.CompletedProcess[str]) -> None:
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{what} failed: {done.stderr or done.stdout}\n{log}")

    def create(self) -> None:
        self.socket.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.root, self.socket):
                os.chown(path, user.pw_uid, user.pw_gid)
            self._as_pg = ["runuser", "-u", "postgres", "--"]
        self._check(
            "initdb",
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-instructions",
            ),
        )
        self.start()
        for sql in (
            f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'",
            f"CREATE DATABASE {DATABASE} OWNER {ROLE}",
        ):
            self._check("psql", self.psql(sql))

    def psql(self, sql: str) -> subprocess.CompletedProcess[str]:
        """Run SQL as the superuser (e.g. pg_terminate_backend)."""
        return self._run(
            str(self.bindir / "psql"),
            "-h",
            str(self.socket),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        )

    def start(self) -> None:
        """Start (again) on the same port; returns once it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        done = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "start",
            "-o",
            options,
        )
        self._check("pg_ctl start", done)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session (a restart), `immediate` is a crash."""
        done = self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
        )
        self._check("pg_ctl stop", done)

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    async def outage(self, seconds: float) -> float:
        """Stop the server, keep it down `seconds`, start it again (off the event loop);
        returns the monotonic time at which it accepted connections again."""
        await asyncio.to_thread(self.stop)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(self.start)
        return time.monotonic()

    def cleanup(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of this test's own (created empty, removed after the test),
    with a `mailsync` role and database at `.url`."""
    bindir = _bindir()
    if bindir is None or (shutil.which("runuser") is None and os.geteuid() == 0):
        pytest.fail("PostgreSQL server binaries are needed (apt-get install postgresql)")
    cluster = PgCluster(bindir)
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.cleanup()
