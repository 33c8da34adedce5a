"""An event the calendar holds but Yoyaku cannot read properly is neither offered nor booked over."""

from __future__ import annotations

import uuid
from datetime import UTC

import pytest

from tests.connection_helpers import berlin, book, future_day, slots
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, sync_now
from tests.scheduling.helpers import connect
from yoyaku.accounts.models import CalendarConnection
from yoyaku.accounts.unreadable import unreadable_events
from yoyaku.scheduling.models import Booking

pytestmark = pytest.mark.django_db


def test_an_event_ending_before_it_starts_blocks_its_span_on_the_page_and_for_bookings(
    radicale: RadicaleServer,
) -> None:
    host = make_host("hana")
    connection, calendar = connect(host, radicale)
    link = make_link(host)
    day = future_day()
    start, end = berlin(day, 11).astimezone(UTC), berlin(day, 10).astimezone(UTC)
    radicale.seed(
        calendar,
        [
            (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:{uuid.uuid4().hex}@test\r\nDTSTAMP:20250101T000000Z\r\nSUMMARY:Budget review\r\n"
                f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n"
            ).encode()
        ],
    )
    sync_now(connection)  # the pages read what the sync stored

    offered, _ = slots(link.slug, day)
    assert "09:30" in offered[day.isoformat()]
    assert not {"10:00", "10:30"} & set(offered[day.isoformat()])
    assert book(link.slug, berlin(day, 10)).status_code == 409
    assert not Booking.objects.exists()
    stored = unreadable_events(connection=CalendarConnection.objects.get(pk=connection.pk))
    assert [(e.event, e.reason) for e in stored] == [("Budget review", "end")]
