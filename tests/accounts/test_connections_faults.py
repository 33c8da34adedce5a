"""Provider faults after connecting: throttling and server errors are retried or leave a clear state,
and a booking once accepted is never lost."""

from __future__ import annotations

import pytest

from tests.connection_helpers import (
    berlin,
    book,
    calendar_write_of,
    future_day,
    slots,
)
from tests.emulators.exchange import ExchangeEmulator
from tests.emulators.exchange import start as start_exchange
from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.factories import make_host, make_link, run_calendar_writes, sync_now
from tests.providers import GOOGLE_EMAIL
from yoyaku.accounts.connections import connect_exchange_calendar
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, User
from yoyaku.calendar_sync.services import sync_connection_now
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, Reservation

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    user = make_host()
    make_link(user)
    return user


@pytest.mark.usefixtures("connected_google")
def test_throttled_event_insert_is_retried_and_written_once(google: GoogleEmulator) -> None:
    day = future_day()
    google.add_fault(status=429, retry_after=1, path_contains="/events", method="POST", count=1)
    booked = book("intro", berlin(day, 11))
    assert booked.status_code == 201, booked.content
    assert calendar_write_of(booked) == "written"
    assert len(google.events(GOOGLE_EMAIL)) == 1
    inserts = [r for r in google.requests if r.startswith("POST /calendar/v3/calendars/")]
    assert len(inserts) == 2  # the throttled one and its retry


@pytest.mark.usefixtures("connected_microsoft")
def test_a_failing_calendar_write_keeps_the_booking_and_is_retried(microsoft: MicrosoftEmulator) -> None:
    day = future_day()
    microsoft.faults.add(status=503, path_contains="/events", method="POST", count=100)
    booked = book("intro", berlin(day, 11))
    assert booked.status_code == 201, booked.content
    booking = Booking.objects.get(pk=booked.json()["id"])
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.calendar_write == CalendarWrite.PENDING
    assert Reservation.objects.filter(booking=booking, active=True).exists()
    assert microsoft.events() == []
    # The slot stays taken while the write is pending.
    offered, _ = slots("intro", day)
    assert "11:00" not in offered[day.isoformat()]

    microsoft.faults.clear()
    assert run_calendar_writes(at=booking.calendar_retry_at) == 1
    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    events = microsoft.events()
    assert len(events) == 1
    assert booking.calendar_event_id == events[0]["id"]


@pytest.mark.usefixtures("connected_google")
def test_server_errors_while_reading_offer_no_slots_then_recover(google: GoogleEmulator) -> None:
    day = future_day()
    google.add_fault(status=500, path_contains="/events", method="GET", count=100)
    connection = CalendarConnection.objects.get(provider="google")
    assert not sync_connection_now(connection_id=connection.pk)
    offered, data = slots("intro", day)
    assert data["calendar_error"] and offered.get(day.isoformat(), []) == []
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.UNAVAILABLE
    assert book("intro", berlin(day, 11)).status_code == 503
    assert not Booking.objects.exists()

    google.faults.clear()
    sync_now(connection)
    offered, data = slots("intro", day)
    assert data["calendar_error"] == "" and "11:00" in offered[day.isoformat()]
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.OK


def test_an_unreachable_exchange_server_refuses_bookings_clearly(host: User) -> None:
    server: ExchangeEmulator = start_exchange(email="a@example.com", password="pw")
    try:
        connect_exchange_calendar(user=host, email="a@example.com", password="pw", ews_url=server.ews_url)
    finally:
        server.stop()
    day = future_day()
    offered, data = slots("intro", day)
    assert data["calendar_error"] and offered.get(day.isoformat(), []) == []
    response = book("intro", berlin(day, 11))
    assert response.status_code == 503
    assert "cannot be read" in response.json()["detail"]
    assert not Booking.objects.exists()
