"""End to end, SQLite refuses writes under a running bot (issue 20 item 5): another program
holds the write lock ("database is locked"), or the disk is full. Each gives a clear error
(the log, /healthz, the account it hit) and no mail is lost: it is posted once after."""

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import Harness, until

FLOW_BOUND = 45.0  # seconds from the fault's end: the 15 s retry, a poll, the post


def _harness(harness: Harness, folder: Path) -> Harness:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = dataclasses.replace(
        harness.settings, database_url=f"sqlite:///{folder}/mailsync.db", http_port=port
    )
    faulty = Harness(harness.double, harness.dovecot, settings)
    faulty.base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return faulty


async def _healthz(base: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as answer:
        return answer.status, await answer.json()


async def _until_store(base: str, store: str, timeout: float) -> tuple[int, dict]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = await _healthz(base)
        if body["store"] == store or time.monotonic() > deadline:
            return status, body
        await asyncio.sleep(0.5)


def _titles(harness: Harness) -> list[str]:
    posts = harness.double.channel_messages(harness.double.channel_id)
    return [p["embeds"][0]["title"] for p in posts]


def _store_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "storage.store_faults"]


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("a SQLite fault; the PostgreSQL pass runs tests/test_e2e_store_restart.py")


async def test_database_locked_is_reported_and_loses_nothing(
    sqlite_only, harness, tmp_path, dovecot, mail_user, caplog
):
    """Another connection holds SQLite's write lock: the poll's commit fails after the busy
    timeout with "database is locked" in the log and on /healthz (503, the account named);
    once the lock is gone the mail is posted, once."""
    caplog.set_level(logging.WARNING)
    harness = _harness(harness, tmp_path / "locked")
    async with harness.running():
        await harness.add_account(mail_user, name="lk")
        account_id = harness.account_id("lk")
        dovecot.append(mail_user, make_message(subject="before the lock"))
        await harness.posts(1, timeout=30)

        holder = sqlite3.connect(tmp_path / "locked" / "mailsync.db", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # the write lock, as a second writer takes it
            dovecot.append(mail_user, make_message(subject="while locked"))
            # The bot's busy timeout is 30 s: then the commit fails and says why.
            status, body = await _until_store(harness.base, "locked", timeout=60)
            assert status == 503
            assert "locked" in body["store_error"]["error"]
            assert body["store_error"]["accounts"] == [account_id]
            assert any(f"account {account_id}: poll not saved" in m for m in _store_errors(caplog))
            assert _titles(harness) == ["before the lock"]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        freed = time.monotonic()
        await until(lambda: len(_titles(harness)) == 2, timeout=FLOW_BOUND)
        logging.getLogger(__name__).warning(
            "lock freed -> posted in %.1f s", time.monotonic() - freed
        )
        status, body = await _until_store(harness.base, "ok", timeout=30)
        assert status == 200
        await asyncio.sleep(3)
        assert _titles(harness) == ["before the lock", "while locked"]


@contextlib.contextmanager
def _tiny_filesystem(folder: Path, size: str = "8m"):
    folder.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def _empty_wal(db_path: Path, timeout: float = 15.0) -> None:
    """An empty WAL, so the next commit needs new space rather than reusing the WAL's: a
    TRUNCATE checkpoint, again until no reader of the bot's kept it from finishing."""
    wal = db_path.with_name(db_path.name + "-wal")
    deadline = time.monotonic() + timeout
    with contextlib.closing(sqlite3.connect(db_path, timeout=timeout)) as db:
        while True:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy == 0 and (not wal.exists() or wal.stat().st_size == 0):
                return
            assert time.monotonic() < deadline, "the WAL could not be emptied"
            time.sleep(0.1)


def _fill(path: Path) -> int:
    """Write until the filesystem refuses (ENOSPC); returns the bytes written."""
    written = 0
    block = b"\0" * 65536
    with path.open("wb", buffering=0) as out:
        while True:
            try:
                written += out.write(block)
            except OSError:
                break
        with contextlib.suppress(OSError):
            while out.write(b"\0" * 512):
                written += 512
    return written


async def test_full_disk_is_reported_and_loses_nothing(
    sqlite_only, harness, tmp_path, dovecot, mail_user, caplog
):
    """The SQLite file's disk fills up: the poll's commit fails with "database or disk is
    full", said in the log and on /healthz (503); once space is freed the mail is posted,
    once."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root (CI runs as root)")
    caplog.set_level(logging.WARNING)
    with _tiny_filesystem(tmp_path / "tiny") as folder:
        harness = _harness(harness, folder)
        async with harness.running():
            await harness.add_account(mail_user, name="full")
            account_id = harness.account_id("full")
            dovecot.append(mail_user, make_message(subject="before the disk filled"))
            await harness.posts(1, timeout=30)
            await asyncio.to_thread(_empty_wal, folder / "mailsync.db")
            filler = folder / "filler"
            assert _fill(filler) > 0
            dovecot.append(mail_user, make_message(subject="while the disk is full"))
            status, body = await _until_store(harness.base, "disk full", timeout=60)
            assert status == 503
            assert "full" in body["store_error"]["error"]
            assert body["store_error"]["accounts"] == [account_id]
            assert any(f"account {account_id}: poll not saved" in m for m in _store_errors(caplog))
            assert _titles(harness) == ["before the disk filled"]

            filler.unlink()
            freed = time.monotonic()
            await until(lambda: len(_titles(harness)) == 2, timeout=FLOW_BOUND)
            logging.getLogger(__name__).warning(
                "space freed -> posted in %.1f s", time.monotonic() - freed
            )
            status, body = await _until_store(harness.base, "ok", timeout=30)
            assert status == 200
            await asyncio.sleep(3)
            assert _titles(harness) == ["before the disk filled", "while the disk is full"]
