"""watch/digest_clock.py: digest times across daylight-saving changes (no skip, no double),
the APScheduler trigger on them, MAILSYNC_TIMEZONE names and digest_time."""

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from watch.digest_clock import (
    DigestTrigger,
    TimezoneError,
    missed,
    next_digest_at,
    parse_hhmm,
    zone,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _fires(trigger, start: datetime, count: int) -> list[datetime]:
    """Fire times as APScheduler asks for them: first from `now`, then from the last."""
    out, previous, now = [], None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        out.append(fire)
        previous, now = fire, fire
    return out


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK], ids=str)
@pytest.mark.parametrize("at", ["02:30", "01:30", "03:00", "09:00", "00:00", "23:59"])
def test_daily_fires_once_per_local_date_for_a_year(tz, at):
    """A year of daily digests (two DST changes): exactly one per local date, in order."""
    trigger = DigestTrigger("daily", parse_hhmm(at), tz)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fires = _fires(trigger, start, 365)
    dates = [f.astimezone(tz).date() for f in fires]
    assert dates[0] - start.astimezone(tz).date() in (timedelta(0), timedelta(days=1))
    assert dates == [dates[0] + timedelta(days=i) for i in range(365)]
    assert all(f.astimezone(tz).time() == parse_hhmm(at) for f in fires if f.month not in (3, 11))
    assert all(b > a for a, b in itertools.pairwise(fires))


def test_berlin_fall_back_fires_the_first_0230_only():
    """25 Oct 2026, 02:30 happens twice in Berlin: the digest comes at the first."""
    trigger = DigestTrigger("daily", time(2, 30), BERLIN)
    fires = _fires(trigger, datetime(2026, 10, 24, 12, tzinfo=BERLIN), 3)
    assert [f.isoformat() for f in fires] == [
        "2026-10-25T00:30:00+00:00",  # 02:30 CEST
        "2026-10-26T01:30:00+00:00",  # 02:30 CET the next day
        "2026-10-27T01:30:00+00:00",
    ]


def test_berlin_spring_forward_fires_at_the_skipped_instant():
    """29 Mar 2026 has no 02:30 in Berlin: the digest comes when the clock jumps (03:30
    CEST = 01:30 UTC), not a day later."""
    trigger = DigestTrigger("daily", time(2, 30), BERLIN)
    fires = _fires(trigger, datetime(2026, 3, 28, 12, tzinfo=BERLIN), 2)
    assert [f.isoformat() for f in fires] == [
        "2026-03-29T01:30:00+00:00",
        "2026-03-30T00:30:00+00:00",  # 02:30 CEST
    ]


def test_new_york_fall_back_0130_once():
    """1 Nov 2026, 01:30 happens twice in New York: one digest, at the first (EDT)."""
    trigger = DigestTrigger("daily", time(1, 30), NEW_YORK)
    fires = _fires(trigger, datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), 2)
    assert [f.isoformat() for f in fires] == [
        "2026-11-01T05:30:00+00:00",
        "2026-11-02T06:30:00+00:00",
    ]


def test_apscheduler_cron_trigger_doubles_where_ours_does_not():
    """Why the project has its own trigger: CronTrigger fires 02:30 twice that night."""
    start = datetime(2026, 10, 24, 12, tzinfo=BERLIN)
    cron = _fires(CronTrigger(hour=2, minute=30, timezone=BERLIN), start, 2)
    ours = _fires(DigestTrigger("daily", time(2, 30), BERLIN), start, 2)
    assert cron[0].astimezone(BERLIN).date() == cron[1].astimezone(BERLIN).date()
    assert ours[0].astimezone(BERLIN).date() != ours[1].astimezone(BERLIN).date()


@pytest.mark.parametrize(
    ("tz", "day"),
    [(BERLIN, (2026, 10, 24)), (BERLIN, (2026, 3, 28)), (NEW_YORK, (2026, 11, 1))],
    ids=["berlin-autumn", "berlin-spring", "new-york-autumn"],
)
def test_hourly_fires_every_real_hour_through_a_change(tz, day):
    """Hourly: at every local top of the hour, exactly one real hour apart, also through
    the repeated and the skipped hour."""
    trigger = DigestTrigger("hourly", time(0), tz)
    fires = _fires(trigger, datetime(*day, 20, 10, tzinfo=tz), 30)
    assert all(f.astimezone(tz).minute == 0 for f in fires)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(fires))


def test_hourly_in_a_half_hour_zone_is_the_local_top_of_the_hour():
    """India is UTC+05:30: local hours start at :30 UTC."""
    fire = next_digest_at(
        "hourly", time(0), ZoneInfo("Asia/Kolkata"), datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    )
    assert fire == datetime(2026, 5, 1, 10, 30, tzinfo=UTC)


def test_a_fire_exactly_now_counts_and_the_next_is_strictly_after():
    """The first fire may be `now` itself; after a fire the next is a day later."""
    trigger = DigestTrigger("daily", time(9), UTC)
    now = datetime(2026, 5, 1, 9, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, now) == now
    assert trigger.get_next_fire_time(now, now) == now + timedelta(days=1)


def test_missed_while_down():
    """Mail waiting since before a due digest time: run at once; since after: wait."""
    oldest = datetime(2026, 5, 1, 8, tzinfo=UTC)
    assert missed("daily", time(9), UTC, oldest, datetime(2026, 5, 1, 9, 5, tzinfo=UTC))
    assert not missed("daily", time(9), UTC, oldest, datetime(2026, 5, 1, 8, 30, tzinfo=UTC))


def test_zone_names():
    """IANA names are accepted; anything else is refused with one clear line."""
    assert zone("Europe/Berlin") == BERLIN
    assert str(zone("UTC")) == "UTC"
    for bad in ("Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "CEST+2"):
        with pytest.raises(TimezoneError, match="is not an IANA time zone name"):
            zone(bad)


def test_digest_time_format():
    """HH:MM on a 24-hour clock; one-digit hours allowed; anything else refused."""
    assert parse_hhmm("9:05") == time(9, 5)
    assert parse_hhmm(" 23:59 ") == time(23, 59)
    for bad in ("24:00", "12:60", "9", "9am", "09:5", "", "12:00:00"):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_hhmm(bad)
