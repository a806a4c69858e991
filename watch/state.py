"""What the engine keeps per account and is configured with, and the failure backoff."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from mail import oauth
from storage.models import Account
from storage.shards import ALL_SHARDS, ShardSet

TROUBLE_AFTER = 3
BACKOFF_CAP = timedelta(hours=1)


def failure_backoff(interval_minutes: int, failures: int) -> timedelta:
    """From the third failure on, double the wait each time, up to an hour."""
    extra = max(0, failures - TROUBLE_AFTER)
    return min(BACKOFF_CAP, timedelta(minutes=interval_minutes) * 2 ** min(extra, 12))


@dataclass(slots=True)
class Watched:
    """What the schedule needs of an account: a few hundred bytes, where the ORM row
    costs about 2 KiB, times every watched account."""

    id: int
    name: str
    protocol: str
    folder_list: list[str]
    interval_minutes: float
    quota_warn: str
    quota_level: int
    auth: str

    @classmethod
    def of(cls, account: Account) -> Watched:
        return cls(
            account.id or 0,
            account.name,
            account.protocol,
            account.folder_list,
            account.interval_minutes,
            account.quota_warn,
            account.quota_level,
            account.auth,
        )


@dataclass(frozen=True)
class WatchSettings:
    allow_private_hosts: bool = False
    poll_concurrency: int = 20
    idle_reissue_seconds: float = 24 * 60.0
    idle_silence_seconds: float = 300.0  # an idling connection silent this long is probed
    idle_probe_seconds: float = 30.0  # ... and dropped without an answer within this
    oauth_providers: Mapping[str, oauth.Provider] = field(default_factory=dict)
    shards: ShardSet = ALL_SHARDS  # the accounts of guilds on these shards only
