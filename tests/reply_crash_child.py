"""Send one stored outgoing message with the engine step and die right after the server
accepted DATA, before the commit that marks it sent (os._exit: no cleanup, like kill -9).
Used by tests/test_reply_crash.py; argv: db_url secret_key outgoing_id. SSL_CERT_FILE in
the environment trusts the test CA."""

import asyncio
import os
import sys

from cogs._notices import EmbedRenderer
from storage import outgoing
from storage.crypto import SecretBox
from storage.db import make_engine
from watch.engine import Watcher
from watch.replies import ReplySender
from watch.state import WatchSettings


def main() -> None:
    db_url, key, row_id = sys.argv[1:4]

    def die(*args, **kwargs):
        os._exit(9)

    outgoing.mark_sent = die  # the server has the message; the commit never happens

    async def send() -> None:
        engine = make_engine(db_url)
        watcher = Watcher(engine, SecretBox(key), EmbedRenderer(), WatchSettings(True))
        sender = ReplySender(engine, watcher, True, on_queued=lambda: None)
        row = outgoing.get(engine, int(row_id))
        assert row is not None and row.state == outgoing.QUEUED
        await sender.attempt(row)

    asyncio.run(send())
    os._exit(3)  # mark_sent was never reached: the test reports it


if __name__ == "__main__":
    main()
