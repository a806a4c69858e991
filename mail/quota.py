"""Mailbox quota: the usage a server reports, when to warn, and when it will be full.
Pure logic shared by IMAP (GETQUOTAROOT) and POP3 (STAT size against a declared limit)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from i18n import N_, MsgError

DEFAULT_THRESHOLDS = (80, 90, 95)
REARM_POINTS = 5
BAR_WIDTH = 20


@dataclass(frozen=True)
class QuotaResource:
    name: str  # STORAGE (KiB), MESSAGE (count), ...
    usage: int
    limit: int

    @property
    def percent(self) -> float | None:
        return None if self.limit <= 0 else 100.0 * self.usage / self.limit


@dataclass(frozen=True)
class QuotaRoot:
    name: str
    resources: tuple[QuotaResource, ...]


@dataclass(frozen=True)
class QuotaReport:
    supported: bool
    roots: tuple[QuotaRoot, ...] = ()
    note: str | None = None  # why there is no quota, where a provider profile knows

    @property
    def fullest(self) -> QuotaResource | None:
        """The resource closest to its limit: the one warnings are about."""
        rated = [r for root in self.roots for r in root.resources if r.percent is not None]
        return max(rated, key=lambda r: r.percent or 0.0, default=None)

    @property
    def storage(self) -> QuotaResource | None:
        return next(
            (r for root in self.roots for r in root.resources if r.name.upper() == "STORAGE"),
            None,
        )


def parse_thresholds(text: str) -> tuple[int, ...]:
    """'80, 90,95' -> (80, 90, 95). Raises ValueError with a readable message."""
    values = []
    for part in text.split(","):
        part = part.strip().rstrip("%")
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= 100:
            raise MsgError(N_("`{part}` is not a percentage from 1 to 100"), part=part[:20])
        values.append(int(part))
    if not values:
        raise MsgError(N_("give at least one percentage, e.g. 80,90,95"))
    if len(values) > 10:
        raise MsgError(N_("at most 10 thresholds"))
    return tuple(sorted(set(values)))


def next_warning(percent: float, thresholds: Sequence[int], level: int) -> tuple[int | None, int]:
    """Decide a warning from the current percent and the stored level (the threshold last
    warned about, 0 for none). Returns (threshold to warn about now or None, new level).

    Warn once on an upward crossing, for the highest threshold crossed; a level re-arms
    when usage falls REARM_POINTS below it, so hovering at a line does not spam."""
    ordered = sorted(thresholds)
    while level > 0 and percent < level - REARM_POINTS:
        lower = [t for t in ordered if t < level]
        level = lower[-1] if lower else 0
    crossed = max((t for t in ordered if percent >= t), default=0)
    if crossed > level:
        return crossed, crossed
    return None, level


def bar(percent: float | None, width: int = BAR_WIDTH) -> str:
    if percent is None:
        return "\N{LIGHT SHADE}" * width
    filled = min(width, max(0, round(width * percent / 100)))
    return "\N{FULL BLOCK}" * filled + "\N{LIGHT SHADE}" * (width - filled)


def human_kib(kib: int) -> str:
    value = float(kib)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "KiB" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def days_until_full(samples: Iterable[tuple[datetime, int]], limit: int) -> float | None:
    """Least-squares trend of (time, usage) samples; days until usage reaches `limit`,
    or None when the trend is flat or falling or there is too little history."""
    points = [(t.timestamp() / 86400.0, float(u)) for t, u in samples]
    if len(points) < 3 or limit <= 0:
        return None
    span = max(p[0] for p in points) - min(p[0] for p in points)
    if span < 1 / 24:  # under an hour of history says nothing about a trend
        return None
    n = len(points)
    mean_t = sum(p[0] for p in points) / n
    mean_u = sum(p[1] for p in points) / n
    var = sum((p[0] - mean_t) ** 2 for p in points)
    slope = sum((p[0] - mean_t) * (p[1] - mean_u) for p in points) / var
    if slope <= 0:
        return None
    latest_t = max(p[0] for p in points)
    latest_u = mean_u + slope * (latest_t - mean_t)
    return max(0.0, (limit - latest_u) / slope)
