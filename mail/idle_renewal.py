"""One pipelined IDLE renewal: "DONE", "GETQUOTAROOT INBOX" when asked, and "IDLE" in one
write, and the reading of their answers as they arrive (the IdleHub's thread does it for
every connection, so a renewal needs no worker and no round trip per command)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from imapclient import IMAPClient

from mail import imap_quota
from mail.quota import QuotaReport


class Progress(Enum):
    PENDING = "pending"  # more answers to come
    RENEWED = "renewed"  # IDLE's "+" arrived: idling again
    REFUSED = "refused"  # DONE or IDLE was refused: the connection is no good


@dataclass(eq=False, slots=True)
class Renewal:
    done_tag: bytes
    quota_tag: bytes | None
    idle_tag: bytes
    deadline: float
    quota_lines: list[bytes] = field(default_factory=list)
    quota_ok: bool = False
    activity: bool = False  # EXISTS, EXPUNGE, FETCH ... arrived meanwhile
    probe: bool = False  # sent because the connection was silent, not on the timer

    @classmethod
    def begin(cls, client: IMAPClient, with_quota: bool, deadline: float) -> tuple[Renewal, bytes]:
        """The renewal and the bytes to send. Tags come from imaplib, so imapclient can
        go on using the connection afterwards."""
        imap4 = client._imap
        quota_tag = imap4._new_tag() if with_quota else None
        renewal = cls(client._idle_tag, quota_tag, imap4._new_tag(), deadline)
        data = b"DONE\r\n"
        if quota_tag is not None:
            data += quota_tag + b' GETQUOTAROOT "INBOX"\r\n'
        return renewal, data + renewal.idle_tag + b" IDLE\r\n"

    def read(self, client: IMAPClient, lines: list[bytes]) -> tuple[Progress, list[bytes]]:
        """Consume answers; with RENEWED, the lines after IDLE's "+" (IDLE updates)."""
        tagged = client._imap.tagged_commands
        for index, line in enumerate(lines):
            upper = line.upper()
            if line.startswith(b"+"):
                return Progress.RENEWED, lines[index + 1 :]
            if upper.startswith(b"* QUOTA "):
                self.quota_lines.append(line)
            elif not line or upper.startswith((b"* OK", b"* QUOTAROOT")):
                continue
            elif line.startswith(b"*"):
                self.activity = True
            else:
                tag, _, rest = line.partition(b" ")
                tagged.pop(tag, None)
                ok = rest.upper().startswith(b"OK")
                if tag == self.quota_tag:
                    self.quota_ok = ok
                elif tag in (self.done_tag, self.idle_tag) and not ok:
                    return Progress.REFUSED, []
        return Progress.PENDING, []

    def finish(self, client: IMAPClient) -> QuotaReport | None:
        """Bookkeeping once idling again: the new IDLE tag (so a later DONE completes it),
        the finished tags dropped; the quota read, if one was asked for and answered."""
        client._idle_tag = self.idle_tag
        tagged = client._imap.tagged_commands
        tagged.pop(self.done_tag, None)
        if self.quota_tag is None:
            return None
        tagged.pop(self.quota_tag, None)
        return imap_quota.parse_quota_lines(self.quota_lines) if self.quota_ok else None
