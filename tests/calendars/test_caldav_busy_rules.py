"""CalDAV busy time: the calendar's own zone and the owner's addresses, against Radicale."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from lxml import etree

from tests.emulators.radicale_server import RadicaleServer
from yoyaku.calendars import caldav as caldav_module
from yoyaku.calendars.caldav import CalDAVAdapter

TOKYO_VTIMEZONE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\n"
    "BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\n"
    "TZNAME:JST\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
)


def adapter(server: RadicaleServer, calendar: str, **kwargs: Any) -> CalDAVAdapter:
    options: dict[str, Any] = {
        "url": server.url,
        "username": server.username,
        "password": server.password,
        "time_zone": "Europe/Berlin",
        "calendar_url": calendar,
        "allowed_networks": ["127.0.0.0/8"],
    }
    options.update(kwargs)
    return CalDAVAdapter(**options)


def event(body: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uuid.uuid4().hex}@test\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:x\r\n{body}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def set_calendar_timezone(server: RadicaleServer, calendar: str, vtimezone: str) -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
        f"<C:calendar-timezone>{vtimezone.replace('&', '&amp;').replace('<', '&lt;')}</C:calendar-timezone>"
        "</D:prop></D:set></D:propertyupdate>"
    )
    response = httpx.request(
        "PROPPATCH",
        calendar,
        content=body.encode(),
        auth=(server.username, server.password),
        headers={"Content-Type": "application/xml; charset=utf-8"},
    )
    assert response.status_code == 207, response.text


def test_all_day_events_are_days_in_the_calendars_timezone(radicale: RadicaleServer) -> None:
    calendar = radicale.ensure_calendar(f"tz-{uuid.uuid4().hex[:8]}")
    set_calendar_timezone(radicale, calendar, TOKYO_VTIMEZONE)
    radicale.seed(calendar, [event("DTSTART;VALUE=DATE:20300312\r\nDTEND;VALUE=DATE:20300313\r\n")])
    with adapter(radicale, calendar) as client:
        busy = client.busy(
            start=datetime(2030, 3, 10, tzinfo=UTC),
            end=datetime(2030, 3, 15, tzinfo=UTC),
            calendar_ids=[calendar],
        )
    # Tokyo's 12 March, not Berlin's (the host's zone).
    assert [(i.start, i.end) for i in busy] == [
        (datetime(2030, 3, 11, 15, tzinfo=UTC), datetime(2030, 3, 12, 15, tzinfo=UTC))
    ]


def test_without_calendar_timezone_the_hosts_zone_is_used(radicale: RadicaleServer) -> None:
    calendar = radicale.ensure_calendar(f"tz-{uuid.uuid4().hex[:8]}")
    radicale.seed(calendar, [event("DTSTART;VALUE=DATE:20300312\r\nDTEND;VALUE=DATE:20300313\r\n")])
    with adapter(radicale, calendar) as client:
        busy = client.busy(
            start=datetime(2030, 3, 10, tzinfo=UTC),
            end=datetime(2030, 3, 15, tzinfo=UTC),
            calendar_ids=[calendar],
        )
    assert [(i.start, i.end) for i in busy] == [
        (datetime(2030, 3, 11, 23, tzinfo=UTC), datetime(2030, 3, 12, 23, tzinfo=UTC))
    ]


def test_the_host_is_found_by_the_principals_calendar_user_addresses(
    radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The login ("alice") is no address; the principal's calendar-user-address-set names the host's.

    Radicale answers the property with the principal's path only, so the answer a server with
    addresses gives (RFC 6638 §2.4.1) is put in its place.
    """
    calendar = radicale.ensure_calendar(f"cuas-{uuid.uuid4().hex[:8]}")
    radicale.seed(
        calendar,
        [
            event(
                "DTSTART:20300312T100000Z\r\nDTEND:20300312T110000Z\r\nORGANIZER:mailto:boss@example.org\r\n"
                "ATTENDEE;PARTSTAT=DECLINED:mailto:alice.smith@example.com\r\n"
            )
        ],
    )
    real = CalDAVAdapter._propfind

    def propfind(self: CalDAVAdapter, url: str, props: Any, **kwargs: Any) -> Any:
        answer = real(self, url, props, **kwargs)
        if props == [(caldav_module.CALDAV, "calendar-user-address-set")]:
            element = etree.fromstring(
                f'<C:calendar-user-address-set xmlns:C="{caldav_module.CALDAV}" xmlns:D="DAV:">'
                f"<D:href>/alice/</D:href><D:href>mailto:alice.smith@example.com</D:href>"
                "</C:calendar-user-address-set>"
            )
            for item in answer or []:
                item.props[caldav_module._q(caldav_module.CALDAV, "calendar-user-address-set")] = element
        return answer

    window = {"start": datetime(2030, 3, 12, tzinfo=UTC), "end": datetime(2030, 3, 13, tzinfo=UTC)}
    with adapter(radicale, calendar, owner_email="") as client:
        assert len(client.busy(calendar_ids=[calendar], **window)) == 1  # declined, but by whom?
    monkeypatch.setattr(CalDAVAdapter, "_propfind", propfind)
    with adapter(radicale, calendar, owner_email="") as client:
        assert client.owner_addresses() == ["alice.smith@example.com"]
        assert client.busy(calendar_ids=[calendar], **window) == []
