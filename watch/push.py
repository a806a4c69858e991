"""Keeps an IDLE connection per IMAP account alive and turns pushes into polls.

The blocking parts (login, IDLE renewals, the selector) live in mail.idle; this side
decides when to (re)connect: at once on start, and after a loss with exponential backoff
plus jitter, capped at an hour. Every (re)connect is followed by a catch-up poll by UID,
so mail that arrived while the connection was down is announced once, in order."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from sqlalchemy import Engine

from mail import idle
from mail.errors import AuthError, MailError
from mail.types import Protocol, ServerConfig
from storage import repo
from storage.models import Account

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 3600.0
CONNECT_CONCURRENCY = 10  # a restart with many accounts must not hammer the servers
STABLE_AFTER = 60.0  # seconds an IDLE connection must live before its backoff resets


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """1, 2, 4 ... seconds (capped at an hour), each scaled by a jitter in [0.5, 1)."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(attempt, 20)) * (0.5 + rng() / 2)


class PushWatcher:
    def __init__(
        self,
        engine: Engine,
        config_of: Callable[[Account], ServerConfig],
        request_poll: Callable[[int], None],
        *,
        allow_private: bool,
        reissue_seconds: float,
    ) -> None:
        self._engine = engine
        self._allow_private = allow_private
        self._config_of = config_of
        self._request_poll = request_poll
        self._loop = asyncio.get_running_loop()
        self._hub = idle.IdleHub(
            on_activity=self._from_thread(self._activity),
            on_lost=self._from_thread(self._lost),
            reissue_seconds=reissue_seconds,
        )
        self._attempts: dict[int, int] = {}
        self._connected_at: dict[int, float] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._connect_slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
        self._closed = False

    def start(self) -> None:
        self._hub.start()

    async def stop(self) -> None:
        self._closed = True
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await asyncio.to_thread(self._hub.stop)

    def _from_thread(self, callback: Callable[..., None]) -> Callable[..., None]:
        def call(*args: object) -> None:
            if not self._closed:
                self._loop.call_soon_threadsafe(callback, *args)

        return call

    def watch(self, account_id: int) -> None:
        """Start (or restart) push for an account, with a fresh backoff."""
        self.unwatch(account_id)
        self._schedule(account_id, 0.0)

    def unwatch(self, account_id: int) -> None:
        task = self._tasks.pop(account_id, None)
        if task is not None:
            task.cancel()
        self._attempts.pop(account_id, None)
        self._hub.remove(account_id)

    def _schedule(self, account_id: int, delay: float) -> None:
        old = self._tasks.pop(account_id, None)
        if old is not None and old is not asyncio.current_task():
            old.cancel()
        self._tasks[account_id] = asyncio.create_task(self._connect(account_id, delay))

    def _retry(self, account_id: int) -> float:
        attempt = self._attempts.get(account_id, 0)
        self._attempts[account_id] = attempt + 1
        delay = backoff_delay(attempt)
        self._schedule(account_id, delay)
        return delay

    def _activity(self, account_id: object) -> None:
        self._request_poll(int(account_id))  # type: ignore[call-overload]

    def _lost(self, account_id: object, reason: str) -> None:
        if self._closed:
            return
        key = int(account_id)  # type: ignore[call-overload]
        if time.monotonic() - self._connected_at.pop(key, 0.0) > STABLE_AFTER:
            self._attempts.pop(key, None)  # it had been fine for a while: start over
        delay = self._retry(key)
        log.info("IDLE connection of account %s lost (%s); reconnect in %.1fs", key, reason, delay)

    async def _connect(self, account_id: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        account = await asyncio.to_thread(repo.get_account, self._engine, account_id)
        if account is None or account.paused or account.protocol != Protocol.IMAP:
            return
        if "INBOX" not in account.folder_list:
            return  # IDLE watches INBOX; other folders are polled at the interval
        try:
            cfg = self._config_of(account)
            async with self._connect_slots:
                client = await asyncio.to_thread(idle.open_idle, cfg, self._allow_private)
        except MailError as exc:
            if isinstance(exc, AuthError) or exc.kind == "secret":
                return  # a wrong or undecryptable password will not heal by retrying;
                # polls go on, report it, and /mail password restarts push
            delay = self._retry(account_id)
            log.info("IDLE for account %s failed (%s); retry in %.1fs", account_id, exc.kind, delay)
            return
        if client is None:
            log.info("account %s: server has no IDLE; polling at the interval", account_id)
            return
        self._hub.add(account_id, client)
        log.debug("IDLE watching account %s", account_id)
        # Backoff resets only once this connection has lived a while (see _lost): a server
        # or NAT that drops every connection at once must not be hammered.
        self._connected_at[account_id] = time.monotonic()
        self._request_poll(account_id)  # catch up on anything that arrived meanwhile
