"""mail/quota.py: thresholds, warning crossings with re-arm, bars, units, projection."""

from datetime import UTC, datetime, timedelta

import pytest

from mail.quota import (
    QuotaReport,
    QuotaResource,
    QuotaRoot,
    bar,
    days_until_full,
    human_kib,
    next_warning,
    parse_thresholds,
)

T = (80, 90, 95)


def test_thresholds_parse_sort_and_refuse_nonsense():
    """'95, 80,90%' is read as (80, 90, 95); 0, 101 and words are refused."""
    assert parse_thresholds("95, 80,90%") == (80, 90, 95)
    for bad in ("0", "101", "eighty", "", "1,2,3,4,5,6,7,8,9,10,11"):
        with pytest.raises(ValueError):
            parse_thresholds(bad)


def test_warns_once_for_the_highest_threshold_crossed():
    """Jumping from 10 % to 92 % warns once, for 90; staying there warns no more."""
    assert next_warning(92, T, 0) == (90, 90)
    assert next_warning(93, T, 90) == (None, 90)
    assert next_warning(96, T, 90) == (95, 95)


def test_rearms_only_five_points_below():
    """Falling just under a threshold keeps it armed-off; 5 points under re-arms it."""
    assert next_warning(79, T, 80) == (None, 80)
    assert next_warning(74, T, 80) == (None, 0)
    assert next_warning(81, T, 0) == (80, 80)
    assert next_warning(89, T, 95) == (None, 90)  # 95 re-armed, 90 still warned
    assert next_warning(95, T, 90) == (95, 95)


def test_report_picks_the_fullest_resource_and_survives_zero_limits():
    """The fullest rated resource is chosen; a limit of 0 has no percent and no crash."""
    report = QuotaReport(
        True,
        (
            QuotaRoot(
                "User quota",
                (QuotaResource("STORAGE", 900, 1000), QuotaResource("MESSAGE", 5, 0)),
            ),
        ),
    )
    assert report.fullest.name == "STORAGE"
    assert report.roots[0].resources[1].percent is None
    assert bar(None) == "\N{LIGHT SHADE}" * 20
    assert bar(150).count("\N{FULL BLOCK}") == 20


def test_human_units_from_kib():
    """The protocol counts KiB; people read KiB, MiB, GiB."""
    assert human_kib(512) == "512 KiB"
    assert human_kib(1536) == "1.5 MiB"
    assert human_kib(3 * 1024 * 1024) == "3.0 GiB"


def test_projection_needs_an_upward_trend():
    """A steady rise projects the days left; a flat or short history projects nothing."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rising = [(start + timedelta(days=d), 100 + 10 * d) for d in range(5)]
    assert days_until_full(rising, 240) == pytest.approx(10.0)
    flat = [(start + timedelta(days=d), 100) for d in range(5)]
    assert days_until_full(flat, 240) is None
    assert days_until_full(rising[:2], 240) is None
