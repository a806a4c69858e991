"""IMAP IDLE push for many accounts from one thread, on each account's only connection.

Each watched connection sits in IDLE on its INBOX; one hub thread waits on all their
sockets with a selector, so a thousand idle accounts cost one thread, not a thousand.
The hub only needs to know *that* something happened: it reads raw bytes, ignores the
server's "* OK" keepalives, reports anything else as activity (the caller then polls by
UID, which is exact), and reports EOF, errors and "* BYE" as a lost connection. IDLE is
re-issued on a timer (RFC 2177: servers may drop a client idle for 30 minutes), which
also proves the connection alive; a connection silent for a window is probed early and
dropped without an answer (mail/idle_silence.py); TCP keepalive catches a dead path.

The connection is also the account's session for polls: `take` hands it out of IDLE to a
worker (which sends DONE), and `add` takes it back once it idles again. A renewal is
pipelined by the hub thread itself, without a worker: "DONE", "GETQUOTAROOT INBOX" when
`quota_due` says so, and "IDLE" go out in one write, and the answers are read as they
come with the other sockets; the quota goes to `on_quota`. So a quiet account costs one
round trip every renewal and nothing in between. The renewal schedule lives in
mail/idle_schedule.py, the epoll wait and the per-connection record in idle_poller.py."""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor

from imapclient import IMAPClient

from mail.idle_conn import NOT_READY, buffered, keepalive, reader, release_reader
from mail.idle_poller import Poller, Watch
from mail.idle_schedule import READ_TIMEOUT, RenewalSchedule
from mail.idle_silence import DEFAULT_PROBE_SECONDS, DEFAULT_SILENCE_SECONDS, SilenceCheck
from mail.idle_timetable import Timetable
from mail.quota import QuotaReport

log = logging.getLogger(__name__)

DEFAULT_REISSUE_SECONDS = 24 * 60
TAKE_TIMEOUT = 2 * READ_TIMEOUT + 5  # a renewal under way may hold the connection that long


READ_SIZE = 16384  # one TLS record at most; a keepalive line is 20 bytes
_KEEPALIVE = b"* OK "  # Dovecot's "* OK Still here" every 2 minutes (imap_idle_notify_interval)
# Servers send keepalives in bursts: Dovecot times every IDLE connection from one client
# address to the same second (imap_keepalive_interval_msecs), so a thousand accounts'
# lines arrive within a second. After a pass that read nothing new (keepalives, renewal
# answers) the hub waits this long before reading again, so one wake-up reads many lines
# instead of one each; news arriving meanwhile waits at most this long.
HOLD_OFF = 0.05
RENEWAL_GRID = 5.0  # renewal times are rounded up to this step so renewals go out together


class IdleHub(RenewalSchedule, SilenceCheck):
    """Watches IDLE connections. Callbacks run on the hub's threads: keep them short and
    thread-safe (e.g. loop.call_soon_threadsafe)."""

    def __init__(
        self,
        on_activity: Callable[[Hashable], None],
        on_lost: Callable[[Hashable, str], None],
        reissue_seconds: float = DEFAULT_REISSUE_SECONDS,
        workers: int = 4,
        quota_due: Callable[[Hashable], bool] = lambda key: False,
        on_quota: Callable[[Hashable, QuotaReport], None] = lambda key, report: None,
        silence_seconds: float = DEFAULT_SILENCE_SECONDS,
        probe_seconds: float = DEFAULT_PROBE_SECONDS,
    ) -> None:
        self._on_activity = on_activity
        self._on_lost = on_lost
        self._quota_due = quota_due
        self._on_quota = on_quota
        self._reissue_seconds = reissue_seconds
        self._silence_seconds = silence_seconds
        self._probe_seconds = probe_seconds
        self._rhythm: dict[Hashable, float] = {}  # the servers' keepalive periods, once seen
        self._news = 0  # activity, losses and hand-overs the hub thread reported so far
        self._grid = min(RENEWAL_GRID, reissue_seconds / 12)
        self._poller = Poller()
        self._watches: dict[Hashable, Watch] = {}
        self._by_fd: dict[int, Watch] = {}
        self._renewing: set[Hashable] = set()
        self._timers = Timetable()  # renewals, silence checks, renewal deadlines
        self._reread: set[Watch] = set()  # sockets whose SSL layer still holds bytes
        self._waiters: defaultdict[Hashable, list[Future]] = defaultdict(list)
        self._dropped: set[Hashable] = set()  # removed keys whose renewal may still land
        # Keys the hub holds or is about to hold, kept by the callers' threads as well, so
        # `has` is right the moment `add` returns (the hub thread applies commands later).
        self._held: set[Hashable] = set()
        self._held_lock = threading.Lock()
        self._commands: queue.SimpleQueue[tuple[str, Hashable, object]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_fd = self._wake_r.fileno()
        self._poller.register(self._wake_fd)
        self._wake_poller = Poller()  # the hold-off waits on the wake socket alone
        self._wake_poller.register(self._wake_fd)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imap-idle")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="imap-idle-hub", daemon=True)

    @property
    def watched(self) -> int:
        return len(self._held)

    def has(self, key: Hashable) -> bool:
        """Idling (or being renewed) right now."""
        return key in self._held

    def _hold(self, key: Hashable, held: bool) -> None:
        with self._held_lock:
            if held:
                self._held.add(key)
            else:
                self._held.discard(key)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for watch in list(self._watches.values()):
            self._close(watch)
        self._watches.clear()
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set_result(None)
        self._wake_r.close()
        self._wake_w.close()
        self._poller.close()
        self._wake_poller.close()

    def add(self, key: Hashable, client: IMAPClient, activity: bool = False) -> None:
        """Hand over a client already in IDLE (see enter_idle); the hub owns it from now on.
        `activity`: the caller knows of a change IDLE will not report (reported at once)."""
        pending = activity or buffered(client)
        if not buffered(client):
            release_reader(client)
        self._hold(key, True)
        self._commands.put(("add", key, client))
        self._wake()
        if pending:
            self._on_activity(key)

    def report_lost(self, key: Hashable, reason: str) -> None:
        """A connection that was meant for the hub broke before it got here."""
        self._on_lost(key, reason)

    def remove(self, key: Hashable) -> None:
        self._hold(key, False)
        self._commands.put(("remove", key, None))
        self._wake()

    def take(self, key: Hashable, timeout: float = TAKE_TIMEOUT) -> IMAPClient | None:
        """The account's idling client, handed out of the hub (still in IDLE: the caller
        sends DONE, see leave_idle), or None if the hub holds none for `key`. Blocking."""
        if self._stopping.is_set() or not self._thread.is_alive():
            return None  # a hub that is not running holds nothing
        waiter: Future[IMAPClient | None] = Future()
        self._commands.put(("take", key, waiter))
        self._wake()
        try:
            client = waiter.result(timeout)
        except TimeoutError:
            waiter.cancel()
            return None
        if client is not None:
            self._hold(key, False)
            reader(client)
        return client

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        # Each pass costs what happened in it, not the number of watched connections: a
        # timetable holds the renewal times, only sockets just read are checked for bytes the
        # SSL layer still holds, and commands are looked at only when a caller woke the
        # hub. A quiet account's one regular pass is the server's keepalive line, so this
        # loop is the bot's idle CPU (issue 11): keep it lean.
        by_fd = self._by_fd
        while not self._stopping.is_set():
            ready, self._reread = self._reread, set()
            timeout = 0.0 if ready else self._until_next_renewal(time.monotonic())
            woken = False
            for fd in self._poller.poll(timeout):
                watch = by_fd.get(fd)
                if watch is not None:
                    ready.add(watch)
                elif fd == self._wake_fd:
                    woken = True
            news = self._news
            for watch in ready:
                if by_fd.get(watch.fd) is watch:
                    self._read(watch)
            if woken:  # drained before the commands are read: a later command wakes again
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
                self._apply_commands()
            if self._timers.due(time.monotonic()):
                self._renew_due(time.monotonic())
            elif ready and news == self._news and not woken and not self._reread:
                self._hold_off()  # only keepalives or renewal answers were read

    def _hold_off(self) -> None:
        """Wait HOLD_OFF for more of a burst; a caller's command ends the wait at once."""
        self._wake_poller.poll(HOLD_OFF)

    def _hand_over(self, key: Hashable, client: IMAPClient) -> bool:
        """Give `client` to the first take() still waiting for it (the others get None)."""
        given = False
        for waiter in self._waiters.pop(key, []):
            if waiter.set_running_or_notify_cancel():
                waiter.set_result(None if given else client)
                given = True
        return given

    @staticmethod
    def _ssl_pending(watch: Watch) -> bool:
        return isinstance(watch.sock, ssl.SSLSocket) and watch.sock.pending() > 0

    def _apply_commands(self) -> None:
        while True:
            try:
                command, key, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            getattr(self, f"_cmd_{command}")(key, arg)

    def _cmd_add(self, key: Hashable, client: object) -> None:
        self._dropped.discard(key)
        self._register(key, client)  # type: ignore[arg-type]

    def _cmd_remove(self, key: Hashable, _arg: object) -> None:
        self._dropped.add(key)
        self._rhythm.pop(key, None)
        old = self._watches.get(key)
        if old is not None:
            self._detach(old)
            self._close(old)
        self._release_waiters(key)

    def _cmd_take(self, key: Hashable, waiter: object) -> None:
        assert isinstance(waiter, Future)  # noqa: S101 (internal command)
        if waiter.cancelled():
            return
        watch = self._watches.get(key)
        if watch is not None and watch.renewal is not None:
            self._waiters[key].append(waiter)  # answered when the renewal lands
        elif watch is not None:
            self._detach(watch)
            if not waiter.set_running_or_notify_cancel():
                self._register(key, watch.client)
                return
            waiter.set_result(watch.client)
        elif key in self._renewing:
            self._waiters[key].append(waiter)  # answered when the renewal lands
        elif waiter.set_running_or_notify_cancel():
            waiter.set_result(None)

    def _cmd_renewed(self, key: Hashable, client: object) -> None:
        self._renewing.discard(key)
        if key in self._dropped:  # removed while its IDLE was being renewed
            if client is not None:
                with contextlib.suppress(Exception):
                    reader(client).shutdown()  # type: ignore[arg-type]
            self._release_waiters(key)
            return
        if client is None:  # the renewal failed; on_lost was reported
            self._release_waiters(key)
            return
        if not self._hand_over(key, client):  # type: ignore[arg-type]
            self._register(key, client)  # type: ignore[arg-type]

    def _release_waiters(self, key: Hashable) -> None:
        for waiter in self._waiters.pop(key, []):
            if waiter.set_running_or_notify_cancel():
                waiter.set_result(None)

    def _register(self, key: Hashable, client: IMAPClient) -> None:
        old = self._watches.get(key)
        if old is not None:
            self._detach(old)
            self._close(old)
        sock = client.socket()
        keepalive(sock)
        sock.setblocking(False)
        stale = self._by_fd.get(sock.fileno())
        if stale is not None:  # its socket was closed and the number reused
            self._detach(stale)
        every = self._renewal_period(client)
        watch = Watch(key, client, sock, sock.fileno(), self._next_reissue(every), every=every)
        watch.heard = time.monotonic()
        self._watches[key] = watch
        self._by_fd[watch.fd] = watch
        self._poller.register(watch.fd)
        self._timers.add(watch.reissue_at, watch)
        self._arm_quiet(watch)

    def _read(self, watch: Watch) -> None:
        try:
            data = watch.sock.recv(READ_SIZE)
        except NOT_READY:
            return
        except OSError as exc:
            self._lose(watch, f"connection error: {exc}")
            return
        if not data:
            self._lose(watch, "the server closed the connection")
            return
        watch.heard = now = time.monotonic()
        if (  # the server's keepalive, whole: nothing to split or report
            data.startswith(_KEEPALIVE)
            and data.find(b"\r\n") == len(data) - 2
            and not watch.partial
            and watch.renewal is None
        ):
            self._keepalive_heard(watch, now)
            if self._ssl_pending(watch):
                self._reread.add(watch)
            return
        if self._flooded(watch, len(data)):
            return
        *lines, watch.partial = (watch.partial + data).split(b"\r\n")
        watch.partial = watch.partial[-8192:]
        bye = next((line for line in lines if line.upper().startswith(b"* BYE")), None)
        if bye is not None:  # its text says why (e.g. Exchange's AccessTokenExpired)
            said = bye[5:120].decode("ascii", "replace").strip()
            self._lose(watch, f"the server ended the session ({said})")
            return
        if watch.renewal is not None:
            lines = self._renewal_lines(watch, lines)
            if self._watches.get(watch.key) is not watch:
                return  # lost, or handed to a waiting take()
        if any(line and not line.upper().startswith(b"* OK") for line in lines):
            self._activity(watch.key)
        if self._ssl_pending(watch):  # more decrypted bytes than one recv took
            self._reread.add(watch)

    def _detach(self, watch: Watch) -> None:
        if self._watches.get(watch.key) is watch:
            del self._watches[watch.key]
        if self._by_fd.get(watch.fd) is watch:
            del self._by_fd[watch.fd]
            self._poller.unregister(watch.fd)

    def _activity(self, key: Hashable) -> None:
        self._news += 1
        self._on_activity(key)

    def _lose(self, watch: Watch, reason: str) -> None:
        self._news += 1
        self._hold(watch.key, False)
        self._detach(watch)
        self._close(watch)
        self._release_waiters(watch.key)  # a take() waiting on a renewal gets None at once
        self._on_lost(watch.key, reason)

    @staticmethod
    def _close(watch: Watch) -> None:
        with contextlib.suppress(Exception):
            reader(watch.client).shutdown()
