"""`bench.sweep --two-way`: the engine's sweep of parked IMAP sessions with two-way tracking
on (every account has actions on and `alerts` live alerts, inserted directly in the store)
against tracking off, in the same run and process, alternating.

The engine (watch/engine.Watcher, no Discord) watches one non-INBOX folder per account,
so every session is parked and swept (no IDLE). Tracking on makes the sweep's STATUS ask
HIGHESTMODSEQ too and compare it with the last two-way check's; the folders are unchanged,
so no account gets a poll. Also timed: one full poll of every account each way (tracking
on adds the store read of its live alerts and the two-way check, a STATUS per folder)."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import insert, update

from cogs._notices import EmbedRenderer
from mail.types import FolderBaseline, FolderState
from storage import repo
from storage.crypto import SecretBox
from storage.db import make_engine, migrate
from storage.models import Account, FolderStateRow, LiveAlert, OutboxAlert, utcnow
from tests.plugins.dovecot import Dovecot
from watch.engine import Watcher
from watch.state import WatchSettings

FOLDER = "Work"


def _folder_state(dovecot: Dovecot, user) -> tuple[int, int, int]:
    with dovecot.imap(user) as client:
        if not client.folder_exists(FOLDER):
            client.create_folder(FOLDER)
        status = client.folder_status(FOLDER, [b"UIDVALIDITY", b"UIDNEXT", b"HIGHESTMODSEQ"])
    return status[b"UIDVALIDITY"], status[b"UIDNEXT"] - 1, status[b"HIGHESTMODSEQ"]


def _store(dovecot: Dovecot, users: list, engine, secrets: SecretBox, alerts: int) -> list[int]:
    ids = []
    for user in users:
        uidvalidity, highest, modseq = _folder_state(dovecot, user)
        new = repo.NewAccount(
            guild_id=1,
            channel_id=2,
            name=user.name,
            protocol="imap",
            host=dovecot.host,
            port=dovecot.imaps_port,
            security="tls",
            username=user.name,
            password_encrypted=secrets.encrypt(user.password),
            folders=(FOLDER,),
            interval_minutes=1,
            created_by=1,
        )
        baseline = FolderBaseline(FOLDER, FolderState(uidvalidity, highest), 0, 0)
        account = repo.create_account(engine, new, [baseline])
        ids.append(account.id)
        with engine.begin() as conn:
            key = conn.execute(
                update(FolderStateRow)
                .where(FolderStateRow.account_id == account.id)
                .values(highest_modseq=modseq)
                .returning(FolderStateRow.id)
            ).scalar_one()
            now = utcnow()
            first = conn.execute(
                insert(OutboxAlert).returning(OutboxAlert.id),
                [
                    {
                        "account_id": account.id,
                        "channel_id": 2,
                        "payload": '{"embed": {}, "role": null, "actions": true}',
                        "created_at": now,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "sent_at": now,
                        "kind": "post",
                        "message_id": 10**17 + i,
                    }
                    for i in range(alerts)
                ],
            ).scalars()
            rows = [
                {
                    "account_id": account.id,
                    "folder_id": key,
                    "uidvalidity": uidvalidity,
                    "uid": 1000 + i,
                    "outbox_id": outbox_id,
                    "channel_id": 2,
                    "message_id": 10**17 + i,
                    "seen": False,
                    "flagged": False,
                    "deleted": False,
                    "state": "present",
                    "created_at": now,
                }
                for i, outbox_id in enumerate(first)
            ]
            conn.execute(insert(LiveAlert), rows)
    return ids


async def _poll_all(watcher: Watcher, ids: list[int]) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(watcher.poll(i) for i in ids))
    return time.perf_counter() - start


async def _sweep(watcher: Watcher, ids: list[int]) -> tuple[float, float]:
    for i in ids:
        watcher.due_now(i)
    polls = watcher.metrics.polls.labels("imap")._value.get()
    wall, cpu = time.perf_counter(), time.process_time()
    await watcher.sweep()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await asyncio.sleep(0)  # polls the sweep asked for would start now
    if watcher._again or watcher.metrics.polls.labels("imap")._value.get() != polls:
        raise SystemExit("a quiet sweep asked for polls: the figures would not compare")
    return wall, cpu


async def run(dovecot: Dovecot, users: list, alerts: int, rounds: int, tmp: Path) -> dict:
    engine = make_engine(f"sqlite:///{tmp / 'two_way.db'}")
    migrate(engine)
    secrets = SecretBox(Fernet.generate_key().decode())
    ids = await asyncio.to_thread(_store, dovecot, users, engine, secrets, alerts)
    watcher = Watcher(
        engine,
        secrets,
        EmbedRenderer(),
        WatchSettings(allow_private_hosts=True, poll_concurrency=20),
    )
    for account in await asyncio.to_thread(repo.active_accounts, engine):
        watcher.schedule(account, first_in=3600)
    figures: dict[str, list] = {"off": [], "on": [], "poll_off": [], "poll_on": []}
    try:
        await _poll_all(watcher, ids)  # open every session; Dovecot's indexes warm
        for _ in range(2):
            for mode in ("off", "on"):
                with engine.begin() as conn:
                    actions = "triage" if mode == "on" else "off"
                    conn.execute(update(Account).values(actions=actions))
                figures[f"poll_{mode}"].append(await _poll_all(watcher, ids))
                if mode == "on" and len(watcher.two_way.modseq_targets) != len(ids):
                    raise SystemExit("tracking is not on for every account")
                await _sweep(watcher, ids)  # warm-up round
                figures[mode].extend([await _sweep(watcher, ids) for _ in range(rounds)])
    finally:
        await watcher.stop()
        engine.dispose()
    return figures


def report(figures: dict, accounts: int, alerts: int) -> None:
    def med(mode: str, i: int) -> float:
        return statistics.median(f[i] for f in figures[mode])

    n = len(figures["on"])
    print(
        f"two-way tracking: {accounts} parked IMAP sessions (TLS), {alerts} live alerts each "
        f"in the store, folders unchanged; sweep medians of {n} rounds each way, alternating"
    )
    print(f"{'sweep of every account':<34}{'wall ms':>10}{'CPU ms':>10}")
    for mode in ("off", "on"):
        print(f"  tracking {mode:<23}{med(mode, 0) * 1000:>10.1f}{med(mode, 1) * 1000:>10.1f}")
    print(
        f"  ratio on / off{'':<17}{med('on', 0) / med('off', 0):>9.2f}x"
        f"{med('on', 1) / med('off', 1):>9.2f}x"
    )
    off, on = statistics.median(figures["poll_off"]), statistics.median(figures["poll_on"])
    print(
        f"one full poll of every account (20 at once): off {off:.2f} s, on {on:.2f} s "
        f"({on / off:.2f}x; on reads {alerts} live alerts per account and checks the folder)"
    )
