"""What a poll's outcome does to an account's schedule, for the Watcher (watch/engine.py):
a success restarts the push bookkeeping; a failure counts, backs off (past the login
budget, not before it allows another login) or stops the account until /mail reauth; a
server that keeps renumbering its folders pauses the account with one notice. A mixin of
Watcher: it uses the watcher's schedule, sessions, reconnects and health."""

from __future__ import annotations

import asyncio
import logging
import time

from mail import oauth
from mail.errors import ConnectError, MailError, ProtocolError
from mail.login_budget import LoginLimitError
from storage import pauses
from storage.models import Account
from watch.rebaselines import ChurnPausedError
from watch.state import TROUBLE_AFTER, failure_backoff

log = logging.getLogger(__name__)


class PollOutcome:
    async def _succeeded(self, account: Account) -> None:
        if account.id is not None:
            if self.sessions.idling(account.id):
                self.reconnects.connected(account.id)
            else:
                self._due_within_interval(account.id)
        await self.poll_health.succeeded(account, account.id in self._due)

    def _due_within_interval(self, account_id: int) -> None:
        """No longer pushed: due at its interval at the latest, not PUSHED_RECHECK's."""
        due, watched = self._due.get(account_id), self._watched.get(account_id)
        if due is not None and watched is not None:
            self._due[account_id] = min(due, time.monotonic() + watched.interval_minutes * 60)

    async def _failed(self, account: Account, exc: MailError) -> None:
        """Count the failure, back off from the third in a row; a refused sign-in stops
        the account until /mail reauth."""
        if account.id is None or isinstance(exc, ChurnPausedError):
            return  # paused with its notice and error already
        if isinstance(exc, oauth.ReauthNeededError):
            await self.poll_health.reauth_needed(account, exc)
            self.unschedule(account.id)
            return
        self._due_within_interval(account.id)
        pushed = self.pushable(account) and account.id in self._due
        if pushed and isinstance(exc, ConnectError | ProtocolError):
            # The connection is gone: bring push back with the reconnect backoff. A wrong
            # password, a missing folder or a certificate will not heal by retrying soon.
            # Past the login budget, not before the budget allows another login.
            wait = exc.wait_seconds if isinstance(exc, LoginLimitError) else 0.0
            self.reconnects.lost(account.id, f"poll failed: {exc.kind}", at_least=wait)
        failures = await self.poll_health.failed(account, exc)
        if failures >= TROUBLE_AFTER and account.id in self._due:
            delay = failure_backoff(account.interval_minutes, failures)
            self._due[account.id] = time.monotonic() + delay.total_seconds()

    async def _pause_for_churn(self, account: Account) -> None:
        """UIDVALIDITY changed past the re-baseline limit: pause with one notice that
        says why (the pause and the notice are stored together), and stop watching."""
        if account.id is None:
            return
        reason = self.rebaselines.reason()
        self.unschedule(account.id)
        paused = await asyncio.to_thread(
            pauses.pause_with_notice,
            self.engine,
            account.id,
            "uidvalidity",
            str(reason),
            lambda: self._notice(
                self.render.paused(account.name, reason, guild_id=account.guild_id)
            ),
        )
        if paused:
            log.warning("account %s paused: UIDVALIDITY changes on every select", account.id)
            self._on_queued()
        self.boards.touch(account.id)
