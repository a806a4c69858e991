"""storage/archive.py with mail/pop3.py against Dovecot's POP3: the archive is the user's
history, so no message is ever lost, stored twice, or deleted before it is committed."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mail import net
from mail.types import Protocol, Security, ServerConfig
from storage import archive, repo
from storage.db import make_engine, migrate
from storage.models import utcnow
from tests.plugins.dovecot import make_message
from watch.pop3_download import download

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(database_url, dovecot_ssl_env):
    net.reset_tls_context()
    url = database_url
    engine = make_engine(url)
    migrate(engine)
    engine.url_text = url
    yield engine
    engine.dispose()
    net.reset_tls_context()


def _cfg(dovecot, user):
    return ServerConfig(
        Protocol.POP3, dovecot.host, dovecot.pop3s_port, Security.TLS, user.name, user.password
    )


def _account(engine, user, uidls=(), name=None):
    new = repo.NewAccount(
        guild_id=1,
        channel_id=2,
        name=name or user.name,
        protocol="pop3",
        host="h",
        port=995,
        security="tls",
        username=user.name,
        password_encrypted="x",
        folders=("INBOX",),
        interval_minutes=5,
        created_by=3,
    )
    return repo.create_account(engine, new, pop3_uidls=uidls).id


def _stored(engine, account_id):
    rows, total = archive.search(engine, account_id, None, 10_000)
    return {r.subject: archive.raw_message(engine, r.id) for r in rows}, total


def _count(engine, account_id):
    with engine.connect() as conn:
        return conn.execute(
            text("select count(*) from pop3_message where account_id = :a"), {"a": account_id}
        ).scalar_one()


def _on_server(dovecot, user):
    with dovecot.imap(user) as c:
        c.select_folder("INBOX", readonly=True)
        return len(c.search("ALL"))


def test_baseline_mail_is_neither_downloaded_nor_deleted(store, dovecot, mail_user):
    """Mail present at /mail add stays unannounced, undownloaded and on the server."""
    from mail import pop3

    dovecot.append(mail_user, make_message(subject="old"))
    base = pop3.baseline(_cfg(dovecot, mail_user), True)
    account_id = _account(store, mail_user, base.uidls)
    dovecot.append(mail_user, make_message(subject="new"))
    result = download(
        store, account_id, _cfg(dovecot, mail_user), archive.Retention("delete"), True
    )
    assert len(result.new) == 1
    stored, total = _stored(store, account_id)
    assert total == 1
    assert set(stored) == {"new"}
    assert _on_server(dovecot, mail_user) == 1  # only "new" was deleted
    rows, total = archive.unannounced(store, account_id)
    assert (total, rows[0].subject) == (1, "new")


def test_keep_leaves_mail_and_second_poll_downloads_nothing(store, dovecot, mail_user):
    """keep: the server copy stays; a second poll finds nothing new (dedup by UIDL)."""
    account_id = _account(store, mail_user)
    for i in range(3):
        dovecot.append(mail_user, make_message(subject=f"m{i}"))
    first = download(store, account_id, _cfg(dovecot, mail_user), archive.Retention("keep"), True)
    second = download(store, account_id, _cfg(dovecot, mail_user), archive.Retention("keep"), True)
    assert len(first.new) == 3
    assert second.new == ()
    assert _on_server(dovecot, mail_user) == 3


def test_bytes_are_archived_exactly(store, dovecot, mail_user):
    """The archive holds the message bytes as the server sent them (CRLF, dot lines kept)."""
    account_id = _account(store, mail_user)
    raw = make_message(subject="exact", body=".starts with a dot\r\n" + "x" * 5000)
    dovecot.append(mail_user, raw)
    download(store, account_id, _cfg(dovecot, mail_user), archive.Retention("keep"), True)
    stored, _ = _stored(store, account_id)
    assert stored["exact"].rstrip(b"\r\n") == raw.rstrip(b"\r\n")


def test_days_retention_deletes_only_old_downloads(store, dovecot, mail_user):
    """days:N deletes a message N days after its first download, judged at each poll."""
    account_id = _account(store, mail_user)
    dovecot.append(mail_user, make_message(subject="a"))
    policy = archive.Retention.parse("days:3")
    cfg = _cfg(dovecot, mail_user)
    download(store, account_id, cfg, policy, True)
    download(store, account_id, cfg, policy, True, now=utcnow() + timedelta(days=2))
    assert _on_server(dovecot, mail_user) == 1
    later = download(
        store, account_id, cfg, policy, True, now=utcnow() + timedelta(days=3, minutes=1)
    )
    assert len(later.deleted) == 1
    assert _on_server(dovecot, mail_user) == 0
    stored, _ = _stored(store, account_id)
    assert set(stored) == {"a"}  # still in the local history


def test_retention_parsing():
    """keep, delete and days:N are accepted; anything else is refused."""
    assert str(archive.Retention.parse(" Days:7 ")) == "days:7"
    for bad in ("days:0", "days:x", "forever", "days:99999"):
        with pytest.raises(ValueError):
            archive.Retention.parse(bad)


def _crash(store, account_id, dovecot, user, point, retention="delete"):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "pop3_crash_child.py"),
            store.url_text,
            str(account_id),
            dovecot.host,
            str(dovecot.pop3s_port),
            user.name,
            user.password,
            retention,
            point,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("point", "stored_after_crash", "on_server_after_crash"),
    [("after_retr", 0, 5), ("after_commit", 5, 5), ("after_dele", 5, 5)],
)
def test_crash_at_each_step_loses_and_doubles_nothing(
    store, dovecot, mail_user, point, stored_after_crash, on_server_after_crash
):
    """A process dying after RETR, after the commit, or after DELE (before QUIT) loses no
    mail; the next poll stores each message exactly once and only then deletes."""
    account_id = _account(store, mail_user)
    for i in range(5):
        dovecot.append(mail_user, make_message(subject=f"c{i}"))
    crashed = _crash(store, account_id, dovecot, mail_user, point)
    assert crashed.returncode == 9, crashed.stderr.decode()[-2000:]
    assert _stored(store, account_id)[1] == stored_after_crash
    assert _on_server(dovecot, mail_user) == on_server_after_crash

    download(store, account_id, _cfg(dovecot, mail_user), archive.Retention("delete"), True)
    stored, total = _stored(store, account_id)
    assert total == 5
    assert set(stored) == {f"c{i}" for i in range(5)}
    assert _on_server(dovecot, mail_user) == 0
    assert archive.unannounced(store, account_id)[1] == 5  # each to be announced once


def test_kill_9_mid_download_loses_nothing(store, dovecot):
    """SIGKILL while batches are being committed: the next poll completes the archive with
    every message once, and nothing left the server that was not stored."""
    mail_user = dovecot.add_user(quota_kib=64 * 1024)
    account_id = _account(store, mail_user)
    total = 4000  # a download of well over a second's tenth, so the kill lands inside it
    raws = [make_message(subject=f"k{i}", size=3500) for i in range(total)]
    with dovecot.imap(mail_user, timeout=60) as c:
        for start in range(0, total, 500):
            c.multiappend("INBOX", raws[start : start + 500])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "pop3_crash_child.py"),
            store.url_text,
            str(account_id),
            dovecot.host,
            str(dovecot.pop3s_port),
            mail_user.name,
            mail_user.password,
            "delete",
            "none",
        ],
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while _count(store, account_id) == 0 and time.monotonic() < deadline:
        time.sleep(0.002)  # a cheap probe: the first commit comes a few ms into the download
    child.kill()
    child.wait()
    partial = _stored(store, account_id)[1]
    assert 0 < partial < total, "the kill must land mid-download"
    assert _on_server(dovecot, mail_user) == total  # no QUIT happened: nothing deleted

    download(store, account_id, _cfg(dovecot, mail_user), archive.Retention("delete"), True)
    stored, count = _stored(store, account_id)
    assert count == total
    assert set(stored) == {f"k{i}" for i in range(total)}
    assert _on_server(dovecot, mail_user) == 0


def test_store_skips_uidls_already_stored(store, mail_user):
    """A UIDL stored twice (two polls racing, or a batch retried) keeps its first row and
    bytes; the rest of the batch is stored, and nothing raises."""
    from mail import pop3

    account_id = _account(store, mail_user, uidls={"base"})

    def download(uidl, subject):
        raw = make_message(subject=subject)
        return pop3.Downloaded(uidl, len(raw), raw)

    archive.store(store, account_id, [download("u1", "first")])
    archive.store(
        store,
        account_id,
        [download("u1", "second"), download("u2", "other"), download("base", "baseline")],
    )
    stored, total = _stored(store, account_id)
    assert total == 2 and set(stored) == {"first", "other"}
    assert b"Subject: first" in stored["first"]
    assert archive.known_uidls(store, account_id, ["u1", "u2", "base", "u3"]) == {
        "u1",
        "u2",
        "base",
    }
    rows, count = archive.unannounced(store, account_id)
    assert count == 2 and [r.subject for r in rows] == ["first", "other"]


def test_sqlite_archive_commits_with_synchronous_full(tmp_path):
    """Every SQLite connection, the store thread's too, runs WAL with synchronous=FULL: a
    commit is on disk when store() returns, which is what lets a DELE follow it."""
    import threading

    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        seen = []

        def probe():
            with engine.connect() as conn:
                seen.append(
                    (
                        conn.exec_driver_sql("PRAGMA synchronous").scalar_one(),
                        conn.exec_driver_sql("PRAGMA journal_mode").scalar_one(),
                    )
                )

        probe()
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        assert seen == [(2, "wal"), (2, "wal")]  # 2 = FULL
    finally:
        engine.dispose()
