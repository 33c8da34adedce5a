"""A booking's narrow read finds all-day and floating events in any host zone, on both servers.

Servers filter a calendar-query by time range reading floating times and dates in a zone of
their own (RFC 4791 §9.9), which can be up to 26 hours away from the host's. The adapter widens
the query by ``QUERY_MARGIN`` and places the objects itself: these reads are as narrow as a
booking's (a quarter of an hour) in the zones furthest from UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.xandikos_server import XandikosServer
from yoyaku.calendars.caldav import CalDAVAdapter

Server = RadicaleServer | XandikosServer


def _object(uid: str, *times: str) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Another client//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        "SUMMARY:Local",
        *times,
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "Asia/Tokyo"])
def test_all_day_and_floating_events_block_a_narrow_read(
    dav_server: Server, dav_calendar: str, zone: str
) -> None:
    day = datetime(2025, 6, 11)
    dav_server.seed(
        dav_calendar,
        [
            _object("all-day", "DTSTART;VALUE=DATE:20250611", "DTEND;VALUE=DATE:20250612"),
            _object("floating", "DTSTART:20250613T000000", "DTEND:20250613T010000"),
        ],
    )
    adapter = CalDAVAdapter(
        url=dav_server.url,
        username=dav_server.username,
        password=dav_server.password,
        time_zone=zone,
        calendar_url=dav_calendar,
        allowed_networks=["127.0.0.0/8"],
    )
    local = ZoneInfo(zone)
    with adapter:
        for start in (
            day.replace(hour=0, minute=5, tzinfo=local),  # the first minutes of the all-day event's day
            day.replace(hour=23, minute=40, tzinfo=local),  # its last ones
            datetime(2025, 6, 13, 0, 15, tzinfo=local),  # inside the floating hour
        ):
            busy = adapter.busy(start=start, end=start + timedelta(minutes=15), calendar_ids=[dav_calendar])
            assert busy, f"nothing found at {start} in {zone}"
        free = datetime(2025, 6, 12, 12, tzinfo=local)
        assert adapter.busy(start=free, end=free + timedelta(minutes=15), calendar_ids=[dav_calendar]) == []
