"""bench.pop3's runners of Mailsync's own paths: the product's download into a warm store
(run_mailsync), the protocol layer alone (run_floor) and a naive sequential poplib loop
(run_poplib). Each returns a Run checked against the delivered Message-IDs."""

from __future__ import annotations

import atexit
import functools
import os
import poplib
import resource
import shutil
import ssl
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bench._pop3_common import BenchError, Run, Target, ids_in, verify
from cogs._ui import DIGEST_LINES, DIGEST_THRESHOLD
from mail import net, pop3
from mail.types import Protocol, Security, ServerConfig
from storage import archive, archive_codec, repo
from storage.db import make_engine, migrate
from storage.models import ArchivedMessage
from watch.pop3_download import download


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mailsync_cfg(target: Target) -> ServerConfig:
    os.environ["SSL_CERT_FILE"] = target.dovecot.ca_file
    net.reset_tls_context()
    return ServerConfig(
        Protocol.POP3,
        target.dovecot.host,
        target.port,
        Security.TLS if target.tls else Security.NONE,
        target.user.name,
        target.user.password,
        timeout=120,
    )


def run_floor(target: Target, work: Path, expected: set[str]) -> Run:
    """Mailsync's protocol layer alone: log in, pipelined RETR of everything, bytes dropped.
    Not a product path: what the server, TLS and poplib cost before any parsing or storing."""
    cfg = _mailsync_cfg(target)
    found: list[str] = []
    cpu0, wall0 = _cpu_self(), time.perf_counter()
    with pop3.session(cfg, allow_private=True) as conn:
        count, _ = pop3.stat(conn)
        for _, raw in pop3.retrieve(conn, range(1, count + 1), conn.caps.pipelining):
            found.extend(ids_in(raw.split(b"\r\n\r\n", 1)[0]))
    wall, cpu = time.perf_counter() - wall0, _cpu_self() - cpu0
    return Run("floor", wall, cpu, verify("floor", found, expected))


def run_poplib(target: Target, work: Path, expected: set[str]) -> Run:
    """A plain sequential poplib loop, as a naive client (and the issue's outside measurement)
    does it: one RETR, wait for all of it, the next; bytes dropped."""
    found: list[str] = []
    cpu0, wall0 = _cpu_self(), time.perf_counter()
    if target.tls:
        context = ssl.create_default_context(cafile=target.dovecot.ca_file)
        conn: poplib.POP3 = poplib.POP3_SSL(
            target.dovecot.host, target.port, context=context, timeout=60
        )
    else:
        conn = poplib.POP3(target.dovecot.host, target.port, timeout=60)
    try:
        conn.user(target.user.name)
        conn.pass_(target.user.password)
        count, _ = conn.stat()
        for number in range(1, count + 1):
            _, lines, _ = conn.retr(number)
            found.extend(ids_in(b"\r\n".join(lines[:20])))
    finally:
        conn.quit()
    wall, cpu = time.perf_counter() - wall0, _cpu_self() - cpu0
    return Run("poplib", wall, cpu, verify("poplib", found, expected))


@functools.cache
def _mailsync_store() -> Engine:
    """One SQLite store for every Mailsync run of this process, as the bot keeps one engine
    for its life (its statement caches warm); each run downloads into an account of its
    own, deleted with its rows afterwards (untimed), so every run starts from the same
    store."""
    folder = tempfile.mkdtemp(prefix="bench-pop3-mailsync-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    engine = make_engine(f"sqlite:///{Path(folder) / 'mailsync.db'}")
    atexit.register(engine.dispose)
    migrate(engine)
    return engine


def run_mailsync(target: Target, work: Path, expected: set[str]) -> Run:
    cfg = _mailsync_cfg(target)
    engine = _mailsync_store()
    account_id = repo.create_account(
        engine,
        repo.NewAccount(
            guild_id=1,
            channel_id=2,
            name=f"bench {time.monotonic_ns()}",
            protocol="pop3",
            host=target.dovecot.host,
            port=target.port,
            security="tls" if target.tls else "none",
            username=target.user.name,
            password_encrypted="unused",
            folders=("INBOX",),
            interval_minutes=5,
            created_by=3,
        ),
    ).id
    try:
        cpu0, wall0 = _cpu_self(), time.perf_counter()
        result = download(engine, account_id, cfg, archive.Retention("keep"), True)
        # What the engine reads next to announce it (watch/announce.py, no rules): the
        # newest rows' headers, so the time ends where the alert could be queued.
        rows, total = archive.unannounced(engine, account_id, DIGEST_LINES)
        shown = archive.new_messages(engine, rows, total <= DIGEST_THRESHOLD)
        wall, cpu = time.perf_counter() - wall0, _cpu_self() - cpu0
        if result.failed or result.deleted:
            raise BenchError(f"mailsync: failed {len(result.failed)}, deleted {result.deleted}")
        if total != len(expected) or not all(m.sender and m.date for m in shown):
            raise BenchError(f"mailsync: {total} to announce, newest read {shown[-1:]}")
        with Session(engine) as session:
            stored = session.exec(
                select(ArchivedMessage.raw_compressed).where(
                    ArchivedMessage.account_id == account_id,
                    col(ArchivedMessage.raw_compressed).is_not(None),
                )
            ).all()
        found = [i for blob in stored for i in ids_in(archive_codec.unpack(blob)[:2000])]
        got = verify("mailsync", found, expected)
        if len(result.new) != got:
            raise BenchError(f"mailsync reported {len(result.new)} new but stored {got}")
    finally:
        repo.delete_account(engine, account_id)
    return Run("mailsync", wall, cpu, got)
