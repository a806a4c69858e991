"""Logged-in IMAP connections kept between polls, one per account.

Reconnecting for every poll costs a TCP and TLS handshake and a LOGIN; keeping the
session makes a quiet poll one STATUS per folder. A connection is checked out while a
poll or a sweep uses it, so two threads never share one. Any failure drops it; a failure
on a reused connection (the server may have logged it out meanwhile) is retried once on
a fresh one before it counts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TypeVar

from imapclient import IMAPClient

from mail import imap, net
from mail.errors import ConnectError, MailError, ProtocolError
from mail.sweep import FolderCounts, SweepError, status_many
from mail.types import ServerConfig

T = TypeVar("T")
_STALE = (ConnectError, ProtocolError)


class SessionPool:
    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._idle: dict[Hashable, tuple[ServerConfig, IMAPClient]] = {}
        self._generation: dict[Hashable, int] = {}  # bumped by close(): stale checkouts drop
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._idle)

    def has(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._idle

    def _checkout(self, key: Hashable, cfg: ServerConfig) -> tuple[IMAPClient, bool, int]:
        with self._lock:
            held = self._idle.pop(key, None)
            generation = self._generation.get(key, 0)
        if held is not None:
            if held[0] == cfg:
                return held[1], True, generation
            imap.close(held[1])  # settings or password changed
        return imap.connect(cfg, self._allow_private), False, generation

    def _checkin(
        self, key: Hashable, cfg: ServerConfig, client: IMAPClient, generation: int
    ) -> None:
        with self._lock:
            if self._generation.get(key, 0) != generation:  # closed while in use
                old: tuple[ServerConfig, IMAPClient] | None = (cfg, client)
            else:
                old = self._idle.get(key)
                self._idle[key] = (cfg, client)
        if old is not None:
            imap.close(old[1])

    def run(self, key: Hashable, cfg: ServerConfig, work: Callable[[IMAPClient], T]) -> T:
        """Run blocking `work` on the account's session (opened if needed)."""
        for attempt in (1, 2):
            client, reused, generation = self._checkout(key, cfg)
            try:
                with net.translate_errors(cfg.host, cfg.port):
                    result = work(client)
            except Exception as exc:
                imap.close(client)
                stale = reused and (isinstance(exc, _STALE) or not isinstance(exc, MailError))
                if attempt == 1 and stale:
                    continue
                if isinstance(exc, MailError):
                    raise
                raise ProtocolError(f"`{cfg.host}` broke off the IMAP session ({exc}).") from exc
            self._checkin(key, cfg, client, generation)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def sweep(
        self, targets: Mapping[Hashable, Iterable[str]], timeout: float = 20.0
    ) -> dict[Hashable, dict[str, FolderCounts] | None]:
        """STATUS for every target that has an idle session, in one multiplexed round.
        None for a target without a usable session: the caller polls it the full way."""
        taken: dict[Hashable, tuple[ServerConfig, IMAPClient]] = {}
        generations: dict[Hashable, int] = {}
        with self._lock:
            for key in targets:
                held = self._idle.pop(key, None)
                if held is not None:
                    taken[key] = held
                    generations[key] = self._generation.get(key, 0)
        results = status_many(
            [(key, client, targets[key]) for key, (_cfg, client) in taken.items()], timeout
        )
        out: dict[Hashable, dict[str, FolderCounts] | None] = {key: None for key in targets}
        for key, (cfg, client) in taken.items():
            result = results.get(key)
            if result is None or isinstance(result, SweepError):
                imap.close(client)
                continue
            out[key] = result
            self._checkin(key, cfg, client, generations[key])
        return out

    def close(self, key: Hashable) -> None:
        """Forget the account's session. Safe on the event loop: the socket is shut here,
        without a LOGOUT round trip, and one checked out right now is dropped on return."""
        with self._lock:
            held = self._idle.pop(key, None)
            self._generation[key] = self._generation.get(key, 0) + 1
        if held is not None:
            with contextlib.suppress(Exception):
                held[1].shutdown()

    def close_all(self) -> None:
        with self._lock:
            held, self._idle = list(self._idle.values()), {}
        for _cfg, client in held:
            imap.close(client)
