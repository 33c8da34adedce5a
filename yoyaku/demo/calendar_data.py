"""What the demo calendar holds: real iCalendar objects, relative to a day in the host's zone.

The tests read the constants to know where busy time must (and must not) be.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

DEMO_WEEKLY_TITLE = "Weekly team sync"
DEMO_WEEKLY_HOUR = 10  # 10:00-11:00 local, on days +1 and +3 of each week
DEMO_WEEKLY_DAYS = (1, 3, 8, 10)  # instance days; +3 is moved, +8 is cancelled
DEMO_MOVED_FROM_DAY = 3
DEMO_MOVED_TO = (4, 15)  # day +4 at 15:00-16:00
DEMO_EXDATE_DAY = 8
DEMO_ALL_DAY_DAY = 5
DEMO_TENTATIVE = (2, 14)  # day +2 at 14:00-15:00, STATUS:TENTATIVE
DEMO_FREE = (2, 9)  # day +2 at 09:00-09:30, TRANSP:TRANSPARENT


def demo_anchor(*, today: date) -> date:
    """The day the demo events count from: today if it is a Sunday, else the coming Sunday.

    Day +1 is then a Monday, so every demo event falls on a working day of a
    Monday-to-Friday host, whatever weekday the demo is started on.
    """
    return today + timedelta(days=(6 - today.weekday()) % 7)


def _calendar(zone_name: str, *events: icalendar.Event) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Yoyaku//Demo data//EN")
    calendar.add("VERSION", "2.0")
    for event in events:
        calendar.add_component(event)
    if zone_name != "UTC":
        calendar.add_component(icalendar.Timezone.from_tzid(zone_name))
    return bytes(calendar.to_ical())


def _event(uid: str, title: str, stamp: datetime, **properties: object) -> icalendar.Event:
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", stamp)
    event.add("SUMMARY", title)
    for name, value in properties.items():
        event.add(name.replace("_", "-"), value)
    return event


def demo_calendar_events(*, time_zone: str, today: date) -> list[bytes]:
    """The demo host's calendar: one object per event, all within two weeks of ``today``.

    - a weekly meeting on days +1 and +3 (10:00-11:00), four instances; the day +3
      instance moved to day +4 15:00 (RECURRENCE-ID), the day +8 instance
      cancelled (EXDATE);
    - an all-day event on day +5;
    - a tentative meeting on day +2, 14:00-15:00;
    - a "free" (TRANSP:TRANSPARENT) focus block on day +2, 09:00-09:30.
    """
    zone = ZoneInfo(time_zone)
    stamp = datetime(today.year, today.month, today.day, tzinfo=ZoneInfo("UTC"))

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        d = today + timedelta(days=day)
        return datetime(d.year, d.month, d.day, hour, minute, tzinfo=zone)

    weekdays = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    first, second = (today + timedelta(days=1)).weekday(), (today + timedelta(days=3)).weekday()
    weekly = _event(
        "yoyaku-demo-weekly@example.invalid",
        DEMO_WEEKLY_TITLE,
        stamp,
        dtstart=at(1, DEMO_WEEKLY_HOUR),
        dtend=at(1, DEMO_WEEKLY_HOUR + 1),
        exdate=at(DEMO_EXDATE_DAY, DEMO_WEEKLY_HOUR),
    )
    weekly.add("RRULE", {"FREQ": "WEEKLY", "BYDAY": [weekdays[first], weekdays[second]], "COUNT": 4})
    moved = _event(
        "yoyaku-demo-weekly@example.invalid",
        f"{DEMO_WEEKLY_TITLE} (moved)",
        stamp,
        recurrence_id=at(DEMO_MOVED_FROM_DAY, DEMO_WEEKLY_HOUR),
        dtstart=at(DEMO_MOVED_TO[0], DEMO_MOVED_TO[1]),
        dtend=at(DEMO_MOVED_TO[0], DEMO_MOVED_TO[1] + 1),
        sequence=1,
    )
    all_day = _event(
        "yoyaku-demo-all-day@example.invalid",
        "Conference (all day)",
        stamp,
        dtstart=today + timedelta(days=DEMO_ALL_DAY_DAY),
        dtend=today + timedelta(days=DEMO_ALL_DAY_DAY + 1),
    )
    tentative = _event(
        "yoyaku-demo-tentative@example.invalid",
        "Maybe: vendor call",
        stamp,
        dtstart=at(*DEMO_TENTATIVE),
        dtend=at(DEMO_TENTATIVE[0], DEMO_TENTATIVE[1] + 1),
        status="TENTATIVE",
    )
    free = _event(
        "yoyaku-demo-free@example.invalid",
        "Focus time (shown as free)",
        stamp,
        dtstart=at(*DEMO_FREE),
        dtend=at(DEMO_FREE[0], DEMO_FREE[1], 30),
        transp="TRANSPARENT",
    )
    return [
        _calendar(time_zone, weekly, moved),
        _calendar(time_zone, all_day),
        _calendar(time_zone, tentative),
        _calendar(time_zone, free),
    ]
