"""Malformed iCalendar events are blocked as far as they can be placed, logged and reported."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from yoyaku.calendars.base import BusyInterval, UnreadableEvent
from yoyaku.calendars.ical_busy import busy_from_calendar

WINDOW = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 10, tzinfo=UTC))


def vcalendar(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\n{e}\nEND:VEVENT\n" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{body}END:VCALENDAR\n".replace("\n", "\r\n")


def read(
    text: str, *, zone: str = "UTC", owners: tuple[str, ...] = ()
) -> tuple[list[BusyInterval], list[UnreadableEvent]]:
    problems: list[UnreadableEvent] = []
    busy = busy_from_calendar(
        calendar=text,
        start=WINDOW[0],
        end=WINDOW[1],
        time_zone=zone,
        owner_emails=owners,
        unreadable=problems,
    )
    return busy, problems


def spans(busy: list[BusyInterval]) -> list[tuple[str, str]]:
    return [(i.start.isoformat(), i.end.isoformat()) for i in busy]


def test_broken_rrule_blocks_the_stated_span_and_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    text = vcalendar(
        "UID:weekly@x\nSUMMARY:Team sync\nDTSTART:20250305T100000Z\nDTEND:20250305T110000Z\n"
        "RRULE:FREQ=WEEKLY;BYDAY=XX"
    )
    with caplog.at_level(logging.WARNING, logger="yoyaku.calendars.ical_busy"):
        busy, problems = read(text)
    assert spans(busy) == [("2025-03-05T10:00:00+00:00", "2025-03-05T11:00:00+00:00")]
    assert [(p.event, p.reason) for p in problems] == [("Team sync", "recurrence")]
    assert "Team sync" in caplog.text


def test_broken_exdate_blocks_every_instance_of_the_rule() -> None:
    text = vcalendar(
        "UID:daily@x\nSUMMARY:Standup\nDTSTART:20250305T100000Z\nDTEND:20250305T103000Z\n"
        "RRULE:FREQ=DAILY;COUNT=3\nEXDATE:2025-03-06"
    )
    busy, problems = read(text)
    assert [s for s, _ in spans(busy)] == [
        "2025-03-05T10:00:00+00:00",
        "2025-03-06T10:00:00+00:00",
        "2025-03-07T10:00:00+00:00",
    ]
    assert [(p.event, p.reason) for p in problems] == [("Standup", "recurrence")]


def test_broken_dtend_blocks_the_day_of_the_start_in_the_calendars_zone() -> None:
    text = vcalendar("UID:e@x\nSUMMARY:Dentist\nDTSTART:20250305T100000Z\nDTEND:20250305T1100")
    busy, problems = read(text, zone="Asia/Tokyo")
    # 2025-03-05 10:00Z is 19:00 on the 5th in Tokyo: that whole Tokyo day.
    assert spans(busy) == [("2025-03-04T15:00:00+00:00", "2025-03-05T15:00:00+00:00")]
    assert [(p.event, p.reason) for p in problems] == [("Dentist", "end")]


def test_broken_dtstart_blocks_the_day_of_the_end() -> None:
    text = vcalendar("UID:s@x\nSUMMARY:Flight\nDTSTART:2025030ST100000Z\nDTEND:20250305T110000Z")
    busy, problems = read(text)
    assert spans(busy) == [("2025-03-05T00:00:00+00:00", "2025-03-06T00:00:00+00:00")]
    assert [(p.event, p.reason) for p in problems] == [("Flight", "start")]


def test_unreadable_dtstart_and_dtend_block_the_day_their_digits_name() -> None:
    text = vcalendar("UID:d@x\nSUMMARY:Odd\nDTSTART:20250306Tbad\nDTEND:20250306Tworse")
    busy, problems = read(text)
    assert spans(busy) == [("2025-03-06T00:00:00+00:00", "2025-03-07T00:00:00+00:00")]
    assert [p.reason for p in problems] == ["start"]


def test_end_before_start_is_blocked_and_reported() -> None:
    text = vcalendar("UID:i@x\nSUMMARY:Inverted\nDTSTART:20250305T100000Z\nDTEND:20250305T090000Z")
    busy, problems = read(text)
    assert spans(busy) == [("2025-03-05T09:00:00+00:00", "2025-03-05T10:00:00+00:00")]
    assert [(p.event, p.reason) for p in problems] == [("Inverted", "end")]


def test_data_that_does_not_parse_blocks_the_day_it_names() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Broken\r\nDTSTART:20250305T100000Z\r\n"
        "no colon\r\nEND:VCALENDAR\r\n"
    )
    busy, problems = read(text)
    assert spans(busy) == [("2025-03-05T00:00:00+00:00", "2025-03-06T00:00:00+00:00")]
    assert [(p.event, p.reason) for p in problems] == [("Broken", "data")]


def test_a_declined_malformed_event_blocks_nothing() -> None:
    text = vcalendar(
        "UID:n@x\nSUMMARY:Declined\nDTSTART:20250305T100000Z\nDTEND:20250305T1100\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:host@example.com"
    )
    busy, problems = read(text, owners=("host@example.com",))
    assert busy == []
    assert problems == []


def test_good_events_are_not_reported() -> None:
    busy, problems = read(
        vcalendar("UID:g@x\nSUMMARY:Fine\nDTSTART:20250305T100000Z\nDTEND:20250305T110000Z")
    )
    assert spans(busy) == [("2025-03-05T10:00:00+00:00", "2025-03-05T11:00:00+00:00")]
    assert problems == []
