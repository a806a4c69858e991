"""What a poll's outcome writes: a failure count and, at the third in a row, one warning;
a recovery and its notice; a refused sign-in that only /mail reauth can fix. Each notice
goes into the same transaction as its state (storage/health.py). A good poll of an account
already known healthy writes nothing; it is only remembered here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from mail.errors import MailError
from storage import health
from storage.models import Account
from storage.outbox import Alert
from watch.render import Renderer
from watch.state import TROUBLE_AFTER, failure_backoff

log = logging.getLogger(__name__)


class PollHealth:
    def __init__(
        self,
        engine: Engine,
        render: Renderer,
        notice: Callable[[dict], Alert],
        on_queued: Callable[[], None],
    ) -> None:
        self._engine = engine
        self._render = render
        self._notice = notice
        self._on_queued = on_queued
        self._healthy: set[int] = set()  # last poll's success is in the store already
        self.last_poll: dict[int, datetime] = {}  # quiet polls and sweeps, not written
        # The failing accounts' last errors as raised (msgid and arguments), so a board or
        # /mail list shows them in the reader's language; the store keeps the English text.
        self.last_error: dict[int, MailError] = {}

    def forget(self, account_id: int) -> None:
        self._healthy.discard(account_id)
        self.last_error.pop(account_id, None)

    async def succeeded(self, account: Account, keep: bool) -> None:
        """`keep`: the account is scheduled, so later quiet polls may skip the store."""
        account_id = account.id
        if account_id is None:
            return
        self.last_error.pop(account_id, None)
        if account_id in self._healthy:
            self.last_poll[account_id] = datetime.now(UTC)
            return
        recovered = await asyncio.to_thread(
            health.record_success,
            self._engine,
            account_id,
            lambda failures: self._notice(
                self._render.recovered(account.name, failures, guild_id=account.guild_id)
            ),
        )
        if keep:
            self._healthy.add(account_id)
        if recovered is not None:
            log.info("account %s recovered after %d failed polls", account_id, recovered)
            self._on_queued()

    async def failed(self, account: Account, exc: MailError) -> int:
        """Count the failure (the warning comes with the third); returns the streak."""
        if account.id is None:
            return 0
        self._healthy.discard(account.id)
        self.last_error[account.id] = exc

        def trouble(failures: int) -> Alert:
            retry_at = datetime.now(UTC) + failure_backoff(account.interval_minutes, failures)
            return self._notice(
                self._render.trouble(
                    account.name, failures, exc, exc.kind, retry_at, guild_id=account.guild_id
                )
            )

        state = await asyncio.to_thread(
            health.record_failure,
            self._engine,
            account.id,
            exc.kind,
            str(exc),
            TROUBLE_AFTER,
            trouble,
        )
        if state.consecutive_failures >= TROUBLE_AFTER:
            self._on_queued()  # the warning, when this failure was the one that queued it
        return state.consecutive_failures

    async def reauth_needed(self, account: Account, exc: MailError) -> None:
        """Only a new sign-in helps: one warning that says /mail reauth."""
        if account.id is None:
            return
        self._healthy.discard(account.id)
        self.last_error[account.id] = exc
        flagged = await asyncio.to_thread(
            health.record_reauth_needed,
            self._engine,
            account.id,
            str(exc),
            lambda failures: self._notice(
                self._render.trouble(
                    account.name, failures, exc, exc.kind, None, guild_id=account.guild_id
                )
            ),
        )
        if flagged:
            log.info("account %s needs /mail reauth; polls stopped", account.id)
            self._on_queued()
