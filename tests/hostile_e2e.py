"""Helpers of the end-to-end fault tests (tests/test_e2e_hostile_*.py): the account's
recorded error, a healthy account's alert timed while a fault runs, figures for the log."""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import Session

from storage.models import AccountHealth
from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import Harness, until

log = logging.getLogger("tests.faults")

MiB = 1024 * 1024
RSS_BOUND = 64 * MiB  # issue 20: per misbehaving connection
HEALTHY_ALERT_BOUND = 10.0  # seconds, issue 20 item 4


def last_error(harness: Harness, account_id: int) -> tuple[str | None, str | None]:
    """(kind, message) of the account's last failed poll, as /mail list shows it."""
    assert harness.bot is not None
    with Session(harness.bot.engine) as session:
        health = session.get(AccountHealth, account_id)
        assert health is not None
        return health.last_error_kind, health.last_error


async def healthy_alert_seconds(harness: Harness, dovecot, user, subject: str) -> float:
    """Deliver to a healthy (pushed) account on the real Dovecot; seconds until posted."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.to_thread(dovecot.append, user, make_message(subject=subject))
    channel = harness.double.channel_id

    def posted() -> bool:
        return any(
            p["embeds"][0]["title"] == subject for p in harness.double.channel_messages(channel)
        )

    await until(posted, timeout=60)
    return loop.time() - started


def report(name: str, **figures: object) -> None:
    """The measured figures, for docs/faults.md (pytest -s or the captured log shows them)."""
    shown = (f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    text = ", ".join(shown)
    log.warning("fault %s: %s", name, text)
    print(f"\nFAULT {name}: {text}")
