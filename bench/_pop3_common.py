"""What every bench.pop3 runner shares: where to connect (Target), what a run measured
(Run), and the check that a tool stored exactly the delivered Message-IDs (verify)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.plugins.dovecot import Dovecot, MailUser

_MESSAGE_ID_RE = re.compile(rb"^Message-ID:[ \t]*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Run:
    tool: str
    wall: float
    cpu: float
    got: int


@dataclass(frozen=True)
class Target:
    """Where and how every tool connects: the same mailbox, port and security."""

    dovecot: Dovecot
    user: MailUser
    tls: bool

    @property
    def port(self) -> int:
        return self.dovecot.pop3s_port if self.tls else self.dovecot.pop3_port


def ids_in(data: bytes) -> list[str]:
    return [m.decode("ascii", "replace") for m in _MESSAGE_ID_RE.findall(data)]


def verify(tool: str, found: list[str], expected: set[str]) -> int:
    """Fail loudly unless `found` is exactly the delivered Message-IDs, once each."""
    unique = set(found)
    if len(found) != len(expected) or unique != expected:
        missing = len(expected - unique)
        extra = len(unique - expected)
        raise BenchError(
            f"{tool} stored {len(found)} messages ({len(unique)} distinct Message-IDs) but "
            f"{len(expected)} were delivered: {missing} missing, {extra} unexpected"
        )
    return len(found)
