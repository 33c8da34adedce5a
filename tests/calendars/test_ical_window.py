"""``plainly_outside`` never drops an object the full parse would find busy time in.

Differential, like the plain-event path's test: every corpus calendar and generated single events
(times in UTC, named zones, floating, dates, folded lines, recurrence, broken values), each asked of
narrow windows around it. Whenever ``plainly_outside`` says "outside", ``busy_from_calendar`` must
give no busy time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yoyaku.calendars.base import UnreadableEvent
from yoyaku.calendars.ical_build import event_to_ical
from yoyaku.calendars.ical_busy import busy_from_calendar
from yoyaku.calendars.ical_window import plainly_outside
from yoyaku.demo.calendar_data import demo_calendar_events

from .test_ical_busy_plain import _EXTRAS, _MOMENTS, _ZONES, _event, _times
from .test_ical_corpus import CORPUS, _id

OWNER = "host@example.com"


def _full_read(data: bytes, *, start: datetime, end: datetime, time_zone: str) -> tuple[list, list]:
    unreadable: list[UnreadableEvent] = []
    busy = busy_from_calendar(
        calendar=data, start=start, end=end, time_zone=time_zone, owner_emails=[OWNER], unreadable=unreadable
    )
    return busy, unreadable


def _assert_never_drops(data: bytes, *, start: datetime, end: datetime, time_zone: str) -> bool:
    outside = plainly_outside(data, start=start, end=end)
    if outside:
        # No busy time. (What the full parse would report as unreadable is the sync's to report: a
        # booking's narrow read keeps no such list.)
        busy, _unreadable = _full_read(data, start=start, end=end, time_zone=time_zone)
        assert busy == []
    return outside


def _fold(data: bytes) -> bytes:
    """Every content line folded after 10 octets (RFC 5545 §3.1), as some servers write them."""
    lines = data.split(b"\r\n")
    return b"\r\n".join(
        b"\r\n ".join(line[i : i + 10] for i in range(0, len(line), 10)) if len(line) > 10 else line
        for line in lines
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    times=_times(),
    extra=_EXTRAS,
    time_zone=_ZONES,
    window_start=_MOMENTS,
    minutes=st.integers(min_value=1, max_value=600),
    folded=st.booleans(),
)
def test_generated_events_outside_the_window_hold_no_busy_time(
    times: tuple[str, str | None],
    extra: list[str],
    time_zone: str,
    window_start: datetime,
    minutes: int,
    folded: bool,
) -> None:
    data = _event(start=times[0], end=times[1], extra=extra)
    start = window_start.replace(tzinfo=UTC)
    _assert_never_drops(
        _fold(data) if folded else data,
        start=start,
        end=start + timedelta(minutes=minutes),
        time_zone=time_zone,
    )


@pytest.mark.parametrize("path", CORPUS, ids=_id)
def test_corpus_objects_outside_the_window_hold_no_busy_time(path: Path) -> None:
    data = path.read_bytes()
    for start in (datetime(2019, 6, 1, 12, tzinfo=UTC), datetime(2024, 1, 10, 9, tzinfo=UTC)):
        for time_zone in ("Europe/Berlin", "Pacific/Chatham"):
            _assert_never_drops(data, start=start, end=start + timedelta(minutes=30), time_zone=time_zone)


def test_the_events_yoyaku_writes_and_the_demo_calendar_are_decided_without_a_parse() -> None:
    """The common case, which the shortcut exists for: a booked meeting or a plain event elsewhere."""
    start = datetime(2026, 12, 2, 9, tzinfo=UTC)
    window = {"start": start + timedelta(days=1), "end": start + timedelta(days=1, minutes=30)}
    demo = demo_calendar_events(time_zone="Europe/Berlin", today=start.date())
    plain = [data for data in demo if b"RRULE" not in data and b"VALUE=DATE" not in data]
    assert plain, "the demo calendar has plain events"
    decided = 0
    for data in plain:
        if plainly_outside(data, **window):
            decided += 1
            continue
        busy, _unreadable = _full_read(data, time_zone="Europe/Berlin", **window)
        assert busy, f"kept an event outside the window: {data!r}"
    assert decided > 0


def test_an_event_inside_the_window_or_ending_before_it_starts_is_left_to_the_parse() -> None:
    start = datetime(2024, 5, 2, 9, tzinfo=UTC)
    inside = _event(start="DTSTART:20240502T090000Z", end="DTEND:20240502T100000Z")
    inverted = _event(start="DTSTART:20240510T090000Z", end="DTEND:20240510T080000Z")
    floating = _event(start="DTSTART:20240510T090000", end="DTEND:20240510T100000")
    berlin_outside = _event(
        start="DTSTART;TZID=Europe/Berlin:20240502T120000", end="DTEND;TZID=Europe/Berlin:20240502T130000"
    )
    window = {"start": start, "end": start + timedelta(minutes=30)}
    assert not plainly_outside(inside, **window)
    assert not plainly_outside(inverted, **window)
    assert not plainly_outside(floating, **window)
    assert plainly_outside(berlin_outside, **window)
    # Berlin noon is 10:00 UTC in May: a window from 10:30 UTC touches it.
    assert not plainly_outside(
        berlin_outside, start=start + timedelta(minutes=90), end=start + timedelta(hours=2)
    )


def test_a_booked_meeting_as_yoyaku_writes_it() -> None:
    from yoyaku.calendars.base import Attendee, EventDraft

    draft = EventDraft(
        uid="booking-1@yoyaku",
        title="Intro call: Gita Guest",
        start=datetime(2026, 12, 2, 9, tzinfo=UTC),
        end=datetime(2026, 12, 2, 9, 15, tzinfo=UTC),
        location="https://meet.example.com/hana",
        organizer_email="hana@example.com",
        organizer_name="Hana",
        attendees=(Attendee(email="gita@example.org", name="Gita Guest"),),
    )
    data = event_to_ical(draft=draft, client_schedules=True)
    later = datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert plainly_outside(data, start=later, end=later + timedelta(minutes=15))
    assert not plainly_outside(data, start=later - timedelta(minutes=50), end=later)


def test_a_zone_only_the_object_defines_is_left_to_the_parse() -> None:
    """The full parse reads an unknown TZID from the object's VTIMEZONE; a known name as the
    zone database has it (as ``icalendar`` does): the shortcut only decides the second kind."""
    vtimezone = [
        "BEGIN:VTIMEZONE",
        "TZID:Custom Zone",
        "BEGIN:STANDARD",
        "DTSTART:19700101T000000",
        "TZOFFSETFROM:+0500",
        "TZOFFSETTO:+0500",
        "END:STANDARD",
        "END:VTIMEZONE",
    ]
    data = _event(
        start="DTSTART;TZID=Custom Zone:20240502T120000", end="DTEND;TZID=Custom Zone:20240502T130000"
    ).replace(b"BEGIN:VEVENT", "\r\n".join(vtimezone).encode() + b"\r\nBEGIN:VEVENT")
    # 12:00 at +05:00 is 07:00 UTC: busy there, whatever the name suggests.
    window = {"start": datetime(2024, 5, 2, 7, tzinfo=UTC), "end": datetime(2024, 5, 2, 7, 30, tzinfo=UTC)}
    assert not plainly_outside(data, **window)
    assert _full_read(data, time_zone="UTC", **window)[0]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # 02:30 does not exist in Berlin on 31 March 2024 (clocks go from 02:00 to 03:00)...
        ("DTSTART;TZID=Europe/Berlin:20240331T023000", "DTEND;TZID=Europe/Berlin:20240331T040000"),
        # ...and happens twice on 27 October 2024 (from 03:00 back to 02:00).
        ("DTSTART;TZID=Europe/Berlin:20241027T023000", "DTEND;TZID=Europe/Berlin:20241027T040000"),
    ],
)
def test_a_local_time_a_change_of_offset_skips_or_repeats_is_left_to_the_parse(start: str, end: str) -> None:
    data = _event(start=start, end=end)
    far = datetime(2024, 6, 1, 9, tzinfo=UTC)
    assert not plainly_outside(data, start=far, end=far + timedelta(minutes=30))
