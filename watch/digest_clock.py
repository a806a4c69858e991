"""When digests are due, in MAILSYNC_TIMEZONE: pure functions and the APScheduler trigger
built on them.

Why not APScheduler's CronTrigger: in APScheduler 3.11 with a zoneinfo zone, a daily
`hour=2, minute=30` fires twice on the night clocks fall back (02:30 summer time, then
02:30 winter time) and then keeps returning that same time. Here a daily digest is due once
per local date: at HH:MM, the first of the two when the clocks go back, and one hour later
in wall-clock terms (the same instant the clock skipped to) when HH:MM does not exist that
night. Hourly digests are due at the top of every local hour (real hours: the repeated
hour in autumn is one more hour, the skipped one in spring is none)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger

from i18n import N_, MsgError

DELIVERIES = ("instant", "hourly", "daily")
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_QUARTER = timedelta(minutes=15)  # every zone's offset today is a multiple of 15 minutes


class TimezoneError(MsgError):
    pass


def zone(name: str) -> ZoneInfo:
    """An IANA zone by name ('UTC', 'Europe/Berlin'), or TimezoneError."""
    try:
        if not name or name.startswith("/") or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimezoneError(
            N_(
                "MAILSYNC_TIMEZONE {name} is not an IANA time zone name (e.g. "
                "UTC, Europe/Berlin, America/New_York)."
            ),
            name=repr(name),
        ) from exc


def parse_hhmm(text: str) -> time:
    """'9:05' or '09:05' (24-hour clock) -> time; ValueError otherwise."""
    found = _HHMM.fullmatch(text.strip())
    if not found:
        raise MsgError(N_("digest_time is HH:MM on a 24-hour clock, e.g. 09:00 or 17:30"))
    return time(int(found[1]), int(found[2]))


def next_digest_at(delivery: str, at: time, tz: tzinfo, after: datetime) -> datetime:
    """The first digest time strictly after `after` (aware), in UTC."""
    if delivery == "hourly":
        return _next_hour(tz, after)
    if delivery != "daily":
        raise ValueError(f"no digest for delivery {delivery!r}")
    day = after.astimezone(tz).date()
    for offset in range(-1, 3):
        # fold=0: the first of a repeated time; a skipped time maps forward (zoneinfo reads
        # it with the offset before the change).
        wall = datetime.combine(day + timedelta(days=offset), at, tzinfo=tz)
        candidate = wall.astimezone(UTC)
        if candidate > after:
            return candidate
    raise AssertionError("a daily time recurs within three days")  # pragma: no cover


def _next_hour(tz: tzinfo, after: datetime) -> datetime:
    start = after.astimezone(UTC).replace(second=0, microsecond=0)
    candidate = start - timedelta(minutes=start.minute % 15)
    for _ in range(4 * 26):
        candidate += _QUARTER
        if candidate > after and candidate.astimezone(tz).minute == 0:
            return candidate
    return after.astimezone(UTC) + timedelta(hours=1)  # a zone off the quarter-hour grid


class DigestTrigger(BaseTrigger):
    """APScheduler trigger for one account's digests."""

    def __init__(self, delivery: str, at: time, tz: tzinfo) -> None:
        self.delivery, self.at, self.tz = delivery, at, tz

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            return next_digest_at(self.delivery, self.at, self.tz, previous_fire_time)
        return next_digest_at(self.delivery, self.at, self.tz, now - timedelta(microseconds=1))

    def __str__(self) -> str:
        if self.delivery == "hourly":
            return f"digest hourly ({self.tz})"
        return f"digest daily at {self.at:%H:%M} ({self.tz})"


def missed(delivery: str, at: time, tz: tzinfo, oldest_waiting: datetime, now: datetime) -> bool:
    """A digest fell due after the oldest waiting message arrived and has not run (the bot
    was down then): it should run at once."""
    return next_digest_at(delivery, at, tz, oldest_waiting) <= now
