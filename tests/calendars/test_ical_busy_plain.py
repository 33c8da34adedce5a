"""The plain-event path of busy_from_calendar gives what the full expansion gives.

Differential: every calendar (the iCalendar corpus of icalendar and recurring-ical-events, and
generated single events) is read twice, once as shipped and once with the plain-event path
turned off, and the intervals and the unreadable reports must be identical.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yoyaku.calendars import ical_busy
from yoyaku.calendars.base import BusyInterval, UnreadableEvent
from yoyaku.calendars.ical_busy import busy_from_calendar

from .test_ical_corpus import CORPUS, _id

WINDOW_START = datetime(2024, 3, 1, tzinfo=UTC)
WINDOW_END = datetime(2024, 12, 1, tzinfo=UTC)
OWNER = "host@example.com"


def _both_ways(
    data: bytes, *, time_zone: str, start: datetime = WINDOW_START, end: datetime = WINDOW_END
) -> tuple[Any, Any]:
    def read() -> tuple[list[BusyInterval], list[UnreadableEvent]]:
        unreadable: list[UnreadableEvent] = []
        busy = busy_from_calendar(
            calendar=data,
            start=start,
            end=end,
            time_zone=time_zone,
            owner_emails=[OWNER],
            unreadable=unreadable,
        )
        return busy, unreadable

    fast = read()
    original = ical_busy._plain_event_busy
    ical_busy._plain_event_busy = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        full = read()
    finally:
        ical_busy._plain_event_busy = original
    return fast, full


def test_plain_path_is_taken_for_a_plain_event() -> None:
    calendar = icalendar.Calendar.from_ical(
        _event(start="DTSTART:20240502T090000Z", end="DTEND:20240502T100000Z")
    )
    result = ical_busy._plain_event_busy(
        calendar, zone=UTC, owners=set(), window_start=WINDOW_START, window_end=WINDOW_END
    )
    assert result == [
        BusyInterval(datetime(2024, 5, 2, 9, tzinfo=UTC), datetime(2024, 5, 2, 10, tzinfo=UTC), "busy")
    ]


def test_plain_path_declines_a_series() -> None:
    calendar = icalendar.Calendar.from_ical(
        _event(
            start="DTSTART:20240502T090000Z", end="DTEND:20240502T100000Z", extra=["RRULE:FREQ=DAILY;COUNT=3"]
        )
    )
    assert (
        ical_busy._plain_event_busy(
            calendar, zone=UTC, owners=set(), window_start=WINDOW_START, window_end=WINDOW_END
        )
        is None
    )


@pytest.mark.parametrize("path", CORPUS, ids=_id)
def test_corpus_reads_the_same_both_ways(path: Path) -> None:
    data = path.read_bytes()
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as error:
        pytest.skip(f"icalendar cannot parse this file: {error}")
    for calendar in calendars:
        body = calendar.to_ical()
        for time_zone in ("Europe/Berlin", "Pacific/Chatham"):
            for start, end in (
                (datetime(2019, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)),
                (datetime(2010, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)),
            ):
                fast, full = _both_ways(body, time_zone=time_zone, start=start, end=end)
                assert fast == full


def _event(*, start: str, end: str | None, extra: list[str] | None = None) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//test//EN",
        "BEGIN:VEVENT",
        "UID:one@example.com",
        "DTSTAMP:20240101T000000Z",
        "SUMMARY:Meeting",
        start,
    ]
    if end is not None:
        lines.append(end)
    lines += extra or []
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


_ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "Pacific/Chatham", "UTC", "Asia/Tokyo"])
_MOMENTS = st.datetimes(
    min_value=datetime(2024, 2, 20),
    max_value=datetime(2024, 12, 10),
).map(lambda moment: moment.replace(second=0, microsecond=0))


@st.composite
def _times(draw: st.DrawFn) -> tuple[str, str | None]:
    kind = draw(st.sampled_from(["utc", "zoned", "floating", "date", "mixed", "zoned-utc"]))
    begin = draw(_MOMENTS)
    length = draw(
        st.sampled_from([timedelta(0), timedelta(minutes=-30), timedelta(minutes=30), timedelta(hours=25)])
        | st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=40))
    )
    finish = begin + length
    zone = draw(_ZONES)
    with_end = draw(st.booleans()) or kind != "date"
    stamp = "%Y%m%dT%H%M%S"
    if kind == "utc":
        return f"DTSTART:{begin:{stamp}}Z", f"DTEND:{finish:{stamp}}Z"
    if kind == "zoned":
        return f"DTSTART;TZID={zone}:{begin:{stamp}}", f"DTEND;TZID={zone}:{finish:{stamp}}"
    if kind == "zoned-utc":
        return f"DTSTART;TZID={zone}:{begin:{stamp}}", f"DTEND:{finish:{stamp}}Z"
    if kind == "floating":
        return f"DTSTART:{begin:{stamp}}", f"DTEND:{finish:{stamp}}"
    if kind == "date":
        end_day: date = finish.date()
        return (
            f"DTSTART;VALUE=DATE:{begin:%Y%m%d}",
            f"DTEND;VALUE=DATE:{end_day:%Y%m%d}" if with_end else None,
        )
    return f"DTSTART;VALUE=DATE:{begin:%Y%m%d}", f"DTEND:{finish:{stamp}}Z"


_EXTRAS = st.lists(
    st.sampled_from(
        [
            "TRANSP:TRANSPARENT",
            "TRANSP:OPAQUE",
            "STATUS:CANCELLED",
            "STATUS:TENTATIVE",
            "STATUS:CONFIRMED",
            "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
            "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
            "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE",
            f"ORGANIZER:mailto:{OWNER}",
            "ORGANIZER:mailto:someone@example.com",
            f"ATTENDEE;PARTSTAT=DECLINED:mailto:{OWNER}",
            f"ATTENDEE;PARTSTAT=TENTATIVE:mailto:{OWNER}",
            f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{OWNER.upper()}",
            f"ATTENDEE:mailto:{OWNER}",
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:other@example.com",
            "DURATION:PT1H",
            "RRULE:FREQ=WEEKLY;COUNT=3",
            "EXDATE:20240601T090000Z",
            "RECURRENCE-ID:20240502T090000Z",
            "DTEND:notadate",
        ]
    ),
    max_size=4,
    unique=True,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(times=_times(), extra=_EXTRAS, time_zone=_ZONES)
def test_generated_events_read_the_same_both_ways(
    times: tuple[str, str | None], extra: list[str], time_zone: str
) -> None:
    start, end = times
    fast, full = _both_ways(_event(start=start, end=end, extra=extra), time_zone=time_zone)
    assert fast == full
