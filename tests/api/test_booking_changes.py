"""POST /me/bookings/{id}/reschedule and /cancel: a host moves or cancels a meeting through the API."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import api_key_for, make_host, make_link, run_calendar_writes
from tests.scheduling.helpers import add_event, connect, events_on
from yoyaku.accounts.models import CalendarConnection, Provider, User
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, MeetingLink, Reservation
from yoyaku.scheduling.services import book_meeting

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(hour: int, minute: int = 0) -> datetime:
    day = timezone.now().astimezone(BERLIN).date() + timedelta(days=3)
    return datetime.combine(day, time(hour, minute), BERLIN)


def book(link: MeetingLink, start: datetime, email: str = "aiko@example.com") -> Booking:
    """A booking, its event written by the worker."""
    booking = book_meeting(
        link=link,
        start=start,
        duration=30,
        time_zone="Asia/Tokyo",
        first_name="Aiko",
        last_name="Sato",
        email=email,
    ).booking
    run_calendar_writes()
    booking.refresh_from_db()
    return booking


def client_for(user: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key_for(user)}"})


def post(client: Client, booking: Booking, action: str, body: dict[str, Any] | None = None) -> Any:
    """The answer, which comes before the calendar changes; then the worker changes it."""
    response = client.post(
        f"/api/v1/me/bookings/{booking.pk}/{action}", data=body or {}, content_type="application/json"
    )
    run_calendar_writes()
    return response


@pytest.fixture
def hana(radicale: RadicaleServer) -> tuple[User, str]:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    return host, calendar


def test_reschedule_moves_the_meeting_and_answers_with_it(
    hana: tuple[User, str], radicale: RadicaleServer
) -> None:
    host, calendar = hana
    booking = book(make_link(host, durations=[30, 60]), berlin(10))

    body = {"start": berlin(14).isoformat(), "duration": 60}
    response = post(client_for(host), booking, "reschedule", body)

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["id"], data["status"], data["calendar_write"]) == (str(booking.pk), "confirmed", "pending")
    assert datetime.fromisoformat(data["start"]) == berlin(14)
    assert datetime.fromisoformat(data["end"]) == berlin(15)
    [event] = events_on(radicale, calendar)
    assert (event.start, event.end) == (berlin(14), berlin(15))


def test_reschedule_into_a_taken_time_is_409_and_changes_nothing(
    hana: tuple[User, str], radicale: RadicaleServer
) -> None:
    host, calendar = hana
    link = make_link(host)
    booking = book(link, berlin(10))
    book(link, berlin(11), email="ken@example.com")
    add_event(radicale, calendar, start=berlin(12), end=berlin(13))
    client = client_for(host)

    for taken in (berlin(11), berlin(12)):
        response = post(client, booking, "reschedule", {"start": taken.isoformat()})
        assert response.status_code == 409, response.content
        assert "not free" in response.json()["detail"]
    booking.refresh_from_db()
    assert booking.start == berlin(10)


def test_reschedule_with_bad_input_is_422(hana: tuple[User, str]) -> None:
    host, _calendar = hana
    booking = book(make_link(host), berlin(10))
    client = client_for(host)

    no_offset = post(client, booking, "reschedule", {"start": berlin(14).replace(tzinfo=None).isoformat()})
    odd_length = post(client, booking, "reschedule", {"start": berlin(14).isoformat(), "duration": 45})
    missing = post(client, booking, "reschedule", {})

    assert [r.status_code for r in (no_offset, odd_length, missing)] == [422, 422, 422]
    assert "start" in no_offset.json()["errors"]
    assert "duration" in odd_length.json()["errors"]
    assert "start" in missing.json()["errors"]


def test_reschedule_to_a_time_the_page_never_offers_is_422_with_the_rule(hana: tuple[User, str]) -> None:
    host, _calendar = hana
    booking = book(make_link(host), berlin(10))
    client = client_for(host)
    past = berlin(10) - timedelta(days=4)

    cases = {
        "in the past": past,
        "must not have seconds": berlin(14).replace(second=15),
        "30-minute grid": berlin(14, 10),
        "outside the hours": berlin(20),
    }
    for words, start in cases.items():
        response = post(client, booking, "reschedule", {"start": start.isoformat()})
        assert response.status_code == 422, (words, response.content)
        assert words in response.json()["errors"]["start"]
    booking.refresh_from_db()
    assert booking.start == berlin(10)


def test_cancel_frees_the_time_and_is_idempotent(hana: tuple[User, str], radicale: RadicaleServer) -> None:
    host, calendar = hana
    booking = book(make_link(host), berlin(10))
    client = client_for(host)

    first = post(client, booking, "cancel")
    again = post(client, booking, "cancel")

    assert [first.status_code, again.status_code] == [200, 200]
    assert first.json()["status"] == "cancelled"
    assert first.json()["calendar_write"] == CalendarWrite.CANCEL_PENDING  # answered before the calendar
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.CANCELLED
    assert not Reservation.objects.filter(booking=booking, active=True).exists()
    [event] = events_on(radicale, calendar)
    assert event.cancelled
    # A cancelled meeting cannot be moved.
    moved = post(client, booking, "reschedule", {"start": berlin(14).isoformat()})
    assert moved.status_code == 409


def test_exchange_meetings_are_refused_with_the_reason(hana: tuple[User, str]) -> None:
    host, _calendar = hana
    booking = book(make_link(host), berlin(10))
    CalendarConnection.objects.filter(user=host).update(provider=Provider.EXCHANGE)
    client = client_for(host)

    moved = post(client, booking, "reschedule", {"start": berlin(14).isoformat()})
    cancelled = post(client, booking, "cancel")

    assert (moved.status_code, cancelled.status_code) == (403, 403)
    assert "reschedule it in Outlook" in moved.json()["detail"]
    assert "cancel it in Outlook" in cancelled.json()["detail"]
    booking.refresh_from_db()
    assert (booking.status, booking.start) == (BookingStatus.CONFIRMED, berlin(10))


def test_other_peoples_meetings_are_not_found(hana: tuple[User, str]) -> None:
    host, _calendar = hana
    booking = book(make_link(host), berlin(10))
    stranger = client_for(make_host("ken"))

    assert post(stranger, booking, "cancel").status_code == 404
    assert post(stranger, booking, "reschedule", {"start": berlin(14).isoformat()}).status_code == 404
    booking.refresh_from_db()
    assert (booking.status, booking.start) == (BookingStatus.CONFIRMED, berlin(10))
