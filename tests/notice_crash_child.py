"""Run one poll of the watching engine and die around the commit that writes a notice with
its state (os._exit: no cleanup, like a crash). Used by tests/test_notice_crash.py; argv:
db_url secret_key account_id notice (trouble | recovered | quota) crash_point
(before_commit | after_commit): the process dies at that notice's commit. SSL_CERT_FILE
in the environment trusts the test CA."""

import asyncio
import contextlib
import os
import sys

from cogs._notices import EmbedRenderer
from mail.errors import MailError
from storage import health
from storage.crypto import SecretBox
from storage.db import make_engine
from watch.engine import Watcher
from watch.state import WatchSettings


def main() -> None:
    db_url, key, account_id, notice, crash = sys.argv[1:6]
    writer = {"trouble": "record_failure", "recovered": "record_success", "quota": "record_quota"}
    real_commit, real_writer = health._commit, getattr(health, writer[notice])
    armed = []

    def arm(*args, **kwargs):
        armed.append(True)
        return real_writer(*args, **kwargs)

    def commit_then_die(session) -> None:
        if not armed:  # another write of the same poll (e.g. the quota read before success)
            real_commit(session)
            return
        if crash == "before_commit":
            os._exit(9)
        real_commit(session)
        os._exit(9)

    health._commit = commit_then_die
    setattr(health, writer[notice], arm)

    async def poll() -> None:
        engine = make_engine(db_url)
        watcher = Watcher(engine, SecretBox(key), EmbedRenderer(), WatchSettings(True))
        with contextlib.suppress(MailError):
            await watcher.poll(int(account_id), with_quota=True)

    asyncio.run(poll())
    os._exit(3)  # the commit was never reached: the test reports it


if __name__ == "__main__":
    main()
