"""IMAP quota (RFC 2087/9208): GETQUOTAROOT on a session, and the `* QUOTA` lines of a
pipelined one (mail/idle_renewal.py reads those itself)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from i18n import N_
from mail import providers
from mail.errors import ConnectError
from mail.quota import QuotaReport, QuotaResource, QuotaRoot

_QUOTA_LINE = re.compile(rb'^\* QUOTA (?:"((?:[^"\\]|\\.)*)"|(\S+)) \(([^)]*)\)', re.IGNORECASE)


def parse_quota_lines(lines: Iterable[bytes]) -> QuotaReport:
    """`* QUOTA root (RESOURCE usage limit ...)` lines, as a pipelined GETQUOTAROOT gets
    them (mail/idle.py reads those itself). Unreadable triplets are skipped."""
    roots = []
    for line in lines:
        found = _QUOTA_LINE.match(line)
        if not found:
            continue
        name = (found.group(1) or found.group(2) or b"").decode("utf-8", "replace")
        items = found.group(3).split()
        resources = []
        for i in range(0, len(items) - 2, 3):
            try:
                usage, limit = int(items[i + 1]), int(items[i + 2])
            except ValueError:
                continue
            resources.append(
                QuotaResource(items[i].decode("ascii", "replace").upper(), usage, limit)
            )
        if resources:
            roots.append(QuotaRoot(name, tuple(resources)))
    return QuotaReport(supported=True, roots=tuple(roots))


def quota(client: IMAPClient, mailbox: str = "INBOX") -> QuotaReport:
    """GETQUOTAROOT (RFC 2087/9208). Zero roots means no limit applies."""
    if not client.has_capability("QUOTA"):
        provider = providers.of_client(client)
        return QuotaReport(supported=False, note=provider.quota_note if provider else None)
    try:
        roots_info, quotas = client.get_quota_root(mailbox)
    except IMAPClientAbortError as exc:
        raise ConnectError(N_("The IMAP connection was lost ({exc})."), exc=exc) from exc
    except IMAPClientError:  # offered but refused (NO/BAD): report no usable quota
        return QuotaReport(supported=False)
    by_root: dict[str, list[QuotaResource]] = {name: [] for name in roots_info.quota_roots}
    for q in quotas:
        by_root.setdefault(q.quota_root, []).append(
            QuotaResource(name=str(q.resource).upper(), usage=int(q.usage), limit=int(q.limit))
        )
    roots = tuple(QuotaRoot(name, tuple(res)) for name, res in by_root.items() if res)
    return QuotaReport(supported=True, roots=roots)
