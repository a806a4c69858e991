"""What imaplib and imapclient keep for each connection, trimmed: the bot holds one
connection per watched account, ten thousand of them in one process (bench.sweep).

Per connection, measured in the bot's heap (bench.memory_split --by-line):
- the capability list, twice (imaplib's str tuple, imapclient's bytes tuple), about
  3.5 KiB: every connection to one server has the same, so one tuple of each is shared;
- imaplib's tagged-response pattern, compiled per connection around its random tag
  prefix, about 0.9 KiB: one pattern for any prefix matches the same lines (a tagged line
  with another prefix is refused either way, as "unexpected");
- imaplib's ring of recent lines for `print_log`, which nothing here calls: the greeting
  and the capability lines, read before imapclient sends imaplib's log to its logger,
  about 0.9 KiB;
- imapclient's logging adapter, 1.6 KiB: one shared adapter does the same job;
- the connection object itself: CPython keeps an instance's attributes in a compact
  layout shared by its class only below 30 of them (about 0.3 KiB); imaplib's IMAP4 with
  imapclient's and ours came to exactly 30, so each connection carried a dict of its own
  (1.6 KiB). The attributes above are class attributes that ignore imaplib's per-instance
  assignment (`_Fixed`), which leaves 26.
"""

from __future__ import annotations

import logging
import re
import threading
from types import MappingProxyType
from typing import Any, TypeVar

from imapclient.imapclient import IMAPlibLoggerAdapter

# imaplib's own pattern, with its per-connection prefix (four letters A-P) generalized.
_TAGGED = re.compile(rb"(?P<tag>[A-P]+\d+) (?P<type>[A-Z]+) (?P<data>.*)", re.ASCII)
_IMAPLIB_LOG = IMAPlibLoggerAdapter(logging.getLogger("imapclient.imaplib"), {})

# Shared capability tuples. Any server may send any list, so the table is bounded: past
# its size the oldest entry goes (connections holding it keep it), and a list longer than
# any real server's is not shared at all.
_MAX_SHARED = 256
_MAX_SHARED_CHARS = 4096
_shared: dict[tuple, tuple] = {}
_shared_lock = threading.Lock()
Capabilities = TypeVar("Capabilities", bound=tuple)


def shared_capabilities(capabilities: Capabilities) -> Capabilities:
    """The one tuple equal to `capabilities` that connections share."""
    if sum(map(len, capabilities)) > _MAX_SHARED_CHARS:
        return capabilities
    with _shared_lock:
        found = _shared.get(capabilities)
        if found is not None:
            return found
        if len(_shared) >= _MAX_SHARED:
            del _shared[next(iter(_shared))]
        _shared[capabilities] = capabilities
    return capabilities


class _Fixed:
    """A class attribute an instance cannot override: the assignment imaplib or imapclient
    makes per connection is dropped, so the instance never holds the attribute."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return self.value

    def __set__(self, instance: object, value: Any) -> None:
        pass


class LeanIMAP4:
    """Mixin for our imaplib.IMAP4 subclasses (mail/net.py)."""

    # imaplib compiles a pattern per connection in _connect; the shared one is kept.
    tagre = _Fixed(_TAGGED)
    # imaplib's ring of recent lines for print_log: never kept (_log writes nothing).
    _cmd_log = _Fixed(MappingProxyType({}))
    _cmd_log_len = _Fixed(0)
    _cmd_log_idx = _Fixed(0)
    # imapclient gives each connection a logging adapter of its own: the shared one.
    _mesg = _Fixed(_IMAPLIB_LOG.debug)

    def _get_capabilities(self) -> None:
        super()._get_capabilities()  # type: ignore[misc]
        self.capabilities = shared_capabilities(self.capabilities)

    def _log(self, line: str) -> None:
        pass


class LeanIMAPClient:
    """Mixin for our IMAPClient subclass (mail/net.py)."""

    def capabilities(self) -> tuple:
        cached = self._cached_capabilities  # type: ignore[has-type]
        capabilities = super().capabilities()  # type: ignore[misc]
        if cached is not None and capabilities is cached:
            return capabilities  # shared when it was cached: has_capability stays cheap
        capabilities = shared_capabilities(capabilities)
        if self._cached_capabilities is not None:
            self._cached_capabilities = capabilities
        return capabilities
