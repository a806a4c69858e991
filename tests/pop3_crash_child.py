"""Run one POP3 sync into the archive and die at a chosen step (os._exit: no cleanup, no
QUIT, like a crash). Used by tests/test_archive.py; argv: db_url account_id host port user
password retention crash_point."""

import os
import sys

from mail import pop3
from mail.types import Protocol, Security, ServerConfig
from storage import archive
from storage.db import make_engine
from watch.pop3_download import download


def die() -> None:
    os._exit(9)


def main() -> None:
    db_url, account_id, host, port, user, password, retention, crash = sys.argv[1:9]
    engine = make_engine(db_url)
    cfg = ServerConfig(Protocol.POP3, host, int(port), Security.TLS, user, password)
    if crash == "after_retr":  # bytes downloaded, not yet committed
        archive.store_packed = lambda *_a, **_k: die()
    elif crash == "after_commit":  # committed, before any DELE
        archive.deletable = lambda *_a, **_k: die()
    elif crash == "after_dele":  # DELE sent and accepted, before QUIT
        original = pop3.delete

        def delete_then_die(*args, **kwargs):
            original(*args, **kwargs)
            die()

        pop3.delete = delete_then_die
    download(engine, int(account_id), cfg, archive.Retention.parse(retention), True)


if __name__ == "__main__":
    main()
