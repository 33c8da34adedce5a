"""Inputs of the availability engine: one host's time, and a scheduling link's rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from .zones import get_zone

Interval = tuple[int, int]
"""Epoch seconds, half-open ``[start, end)``."""

# Start times are k * increment minutes after local midnight, restarting each day: 90 gives
# 00:00, 01:30, 03:00 ...; 720 gives midnight and noon.
MIN_INCREMENT = 5
MAX_INCREMENT = 720


def _check_hours(where: str, hours: Sequence[tuple[int, int]]) -> None:
    for start, end in hours:
        if not (0 <= start <= end <= 1440):
            raise ValueError(f"{where}: hours must satisfy 0 <= start <= end <= 1440, got ({start}, {end})")


@dataclass(frozen=True, slots=True)
class HostAvailability:
    """What the engine knows about one host.

    ``weekly`` maps a weekday (0 = Monday .. 6 = Sunday) to local ``(start_minute, end_minute)`` pairs
    counted from local midnight in ``time_zone``; ``overrides`` replaces the hours of one local date (an
    empty sequence is a day off). ``busy`` is calendar busy time as given; ``booked`` holds the spans of
    existing bookings already widened by their buffers. ``bookings_per_day`` counts active bookings per
    local date in the host's zone, for ``LinkRules.max_per_day``: only the bookings the limit is about
    (Yoyaku counts the page's own, since the limit is a rule of the page).
    """

    host_id: str
    time_zone: str
    weekly: Mapping[int, Sequence[tuple[int, int]]]
    overrides: Mapping[date, Sequence[tuple[int, int]]] = field(default_factory=dict)
    busy: Sequence[Interval] = ()
    booked: Sequence[Interval] = ()
    bookings_per_day: Mapping[date, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        get_zone(self.time_zone)  # raises UnknownTimeZone early, with the bad name in the message
        for weekday, hours in self.weekly.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"weekday must be 0 (Monday) .. 6 (Sunday), got {weekday}")
            _check_hours(f"weekday {weekday}", hours)
        for day, hours in self.overrides.items():
            _check_hours(f"override {day.isoformat()}", hours)


@dataclass(frozen=True, slots=True)
class LinkRules:
    """The booking rules of one scheduling link.

    The horizon is ``fixed_start``..``fixed_end`` (local dates in the grid zone, inclusive) when either is
    set; otherwise ``rolling_days`` from now when set (so "the next 2 days" can be said), else
    ``rolling_weeks`` from now; with none of them, there is no horizon.
    """

    duration_minutes: int
    increment_minutes: int = 30
    notice_minutes: int = 0
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    rolling_weeks: int | None = 8
    rolling_days: int | None = None
    fixed_start: date | None = None
    fixed_end: date | None = None
    max_per_day: int | None = None
    grid_time_zone: str | None = None

    def __post_init__(self) -> None:
        if self.duration_minutes < 1:
            raise ValueError(f"duration_minutes must be at least 1, got {self.duration_minutes}")
        if not MIN_INCREMENT <= self.increment_minutes <= MAX_INCREMENT:
            raise ValueError(
                f"increment_minutes must be {MIN_INCREMENT}..{MAX_INCREMENT}, got {self.increment_minutes}"
            )
        for name in ("notice_minutes", "buffer_before_minutes", "buffer_after_minutes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.rolling_weeks is not None and self.rolling_weeks < 0:
            raise ValueError(f"rolling_weeks must not be negative, got {self.rolling_weeks}")
        if self.rolling_days is not None and self.rolling_days < 0:
            raise ValueError(f"rolling_days must not be negative, got {self.rolling_days}")
        if self.fixed_start and self.fixed_end and self.fixed_end < self.fixed_start:
            raise ValueError("fixed_end is before fixed_start")
        if self.max_per_day is not None and self.max_per_day < 1:
            raise ValueError(f"max_per_day must be at least 1, got {self.max_per_day}")
        if self.grid_time_zone is not None:
            get_zone(self.grid_time_zone)
