"""Busy-time extraction over every calendar shipped in the tests of icalendar and
recurring-ical-events: many are real exports with odd zones, recurrences and
outright errors. None may make busy_from_calendar crash or hang."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import recurring_ical_events

from yoyaku.calendars.ical_busy import busy_from_calendar

# Generous: the slowest real file takes well under a second; a hang would not.
TIME_LIMIT_SECONDS = 30.0


def _corpus() -> list[Path]:
    roots = [
        Path(icalendar.__file__).parent / "tests",
        Path(recurring_ical_events.__file__).parent / "test",
    ]
    return sorted(p for root in roots for p in root.rglob("*.ics"))


CORPUS = _corpus()


def _id(path: Path) -> str:
    # e.g. "icalendar/tests/calendars/x.ics", unique across both packages.
    parts = path.parts
    for package in ("icalendar", "recurring_ical_events"):
        if package in parts:
            index = len(parts) - 1 - parts[::-1].index(package)
            return "/".join(parts[index:])
    return path.name


def test_corpus_is_found() -> None:
    assert len(CORPUS) > 150


def _earliest_start(calendar: icalendar.Calendar) -> datetime | None:
    earliest: datetime | None = None
    for event in calendar.walk("VEVENT"):
        try:
            value = event.decoded("DTSTART")
        except Exception:
            continue
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
        else:
            continue
        moment = moment.astimezone(UTC)
        if earliest is None or moment < earliest:
            earliest = moment
    return earliest


@pytest.mark.parametrize("path", CORPUS, ids=_id)
@pytest.mark.parametrize("time_zone", ["Europe/Berlin", "Pacific/Chatham"])
def test_busy_never_crashes_or_hangs(path: Path, time_zone: str) -> None:
    data = path.read_bytes()
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as error:
        pytest.skip(f"icalendar cannot parse this file: {error}")
    if not calendars:
        pytest.skip("no VCALENDAR in this file")
    for calendar in calendars:
        earliest = _earliest_start(calendar) or datetime(2020, 1, 1, tzinfo=UTC)
        windows = [
            (earliest - timedelta(days=1), earliest + timedelta(days=730)),
            (datetime(2019, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)),
        ]
        for start, end in windows:
            began = time.monotonic()
            busy = busy_from_calendar(
                calendar=calendar, start=start, end=end, time_zone=time_zone, owner_emails=["a@example.com"]
            )
            elapsed = time.monotonic() - began
            assert elapsed < TIME_LIMIT_SECONDS, f"took {elapsed:.1f}s"
            for interval in busy:
                assert interval.start.utcoffset() == timedelta(0)
                assert interval.end.utcoffset() == timedelta(0)
                assert start <= interval.start < interval.end <= end
                assert interval.status in ("busy", "tentative", "oof")
    # The raw-bytes entry point must not crash on the same file either.
    raw = busy_from_calendar(
        calendar=data,
        start=datetime(2019, 1, 1, tzinfo=UTC),
        end=datetime(2021, 1, 1, tzinfo=UTC),
        time_zone=time_zone,
    )
    assert isinstance(raw, list)
