"""The host API answers meeting requests (confirm, decline), lists past meetings with their outcome and
cancels with a reason for the contact."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client

from tests.factories import api_key_for, make_host, make_link, send_queued_mail
from yoyaku.accounts.models import User
from yoyaku.crm.models import Meeting
from yoyaku.scheduling.models import Booking, MeetingLink, Reservation
from yoyaku.scheduling.services import book_meeting, confirm_request

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]
BERLIN = ZoneInfo("Europe/Berlin")


def weekday_ahead(days: int) -> date:
    day = datetime.now(tz=UTC).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)


def request_for(link: MeetingLink, start: datetime, email: str, *, now: datetime | None = None) -> Booking:
    return book_meeting(
        link=link,
        start=start,
        duration=30,
        time_zone="Europe/Berlin",
        first_name=email.split("@")[0].capitalize(),
        last_name="Guest",
        email=email,
        now=now,
    ).booking


@pytest.fixture
def host() -> User:
    return make_host("ken", email="ken@example.org")


@pytest.fixture
def link(host: User) -> MeetingLink:
    return make_link(host, slug="consult", name="Consultation")


@pytest.fixture
def client(host: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})


def test_confirm_makes_the_request_a_booking(client: Client, link: MeetingLink) -> None:
    request = request_for(link, at(weekday_ahead(7), 10), "ada@example.org")

    response = client.post(f"/api/v1/me/requests/{request.pk}/confirm", content_type="application/json")

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["outcome"]) == ("confirmed", "scheduled")
    again = client.post(f"/api/v1/me/requests/{request.pk}/confirm", content_type="application/json")
    assert again.status_code == 409, "a booking is not a request any more"


def test_confirm_of_a_taken_time_is_409_with_free_times(client: Client, link: MeetingLink) -> None:
    day = weekday_ahead(7)
    waiting = request_for(link, at(day, 10), "ada@example.org")
    Reservation.objects.update(expires_at=datetime.now(tz=UTC) - timedelta(seconds=1))  # the hold lapsed
    confirm_request(booking=request_for(link, at(day, 10), "bo@example.org"))

    response = client.post(f"/api/v1/me/requests/{waiting.pk}/confirm", content_type="application/json")

    assert response.status_code == 409, response.content
    body = response.json()
    assert "no longer free" in body["detail"]
    alternatives = [datetime.fromisoformat(a) for a in body["alternatives"]]
    assert alternatives and at(day, 10) not in alternatives
    chosen = client.post(
        f"/api/v1/me/requests/{waiting.pk}/confirm",
        {"start": alternatives[0].isoformat()},
        content_type="application/json",
    )
    assert chosen.status_code == 200, chosen.content


def test_confirm_of_a_time_the_page_never_offers_is_422(client: Client, link: MeetingLink) -> None:
    day = weekday_ahead(7)
    request = request_for(link, at(day, 10), "ada@example.org")

    # 20:00 is outside the host's working hours (9 to 5).
    response = client.post(
        f"/api/v1/me/requests/{request.pk}/confirm",
        {"start": at(day, 20).isoformat()},
        content_type="application/json",
    )

    assert response.status_code == 422, response.content
    assert "start" in response.json()["errors"]


def test_decline_mails_the_requester_the_message(
    client: Client, link: MeetingLink, django_capture_on_commit_callbacks: Capture
) -> None:
    request = request_for(link, at(weekday_ahead(7), 10), "ada@example.org")
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/me/requests/{request.pk}/decline",
            {"message": "Fully booked that week."},
            content_type="application/json",
        )

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["cancel_reason"]) == (
        "cancelled",
        "Fully booked that week.",
    )
    send_queued_mail()
    [notice] = mail.outbox
    assert notice.to == ["ada@example.org"] and "Fully booked that week." in notice.body
    too_long = client.post(
        f"/api/v1/me/requests/{request_for(link, at(weekday_ahead(8), 11), 'bo@example.org').pk}/decline",
        {"message": "x" * 2001},
        content_type="application/json",
    )
    assert too_long.status_code == 422


def test_past_meetings_with_their_outcome(client: Client, link: MeetingLink) -> None:
    day = weekday_ahead(7)
    upcoming = confirm_request(booking=request_for(link, at(day, 10), "ada@example.org"))
    past_day = datetime.now(tz=UTC).date() - timedelta(days=14)
    while past_day.weekday() >= 5:
        past_day -= timedelta(days=1)
    early = at(past_day, 9) - timedelta(days=1)
    held = confirm_request(
        booking=request_for(link, at(past_day, 10), "bo@example.org", now=early), now=early
    )
    no_show = confirm_request(
        booking=request_for(link, at(past_day, 11), "cy@example.org", now=early), now=early
    )
    assert held.meeting_id is not None and no_show.meeting_id is not None
    Meeting.objects.filter(pk=held.meeting_id).update(outcome="completed")
    Meeting.objects.filter(pk=no_show.meeting_id).update(outcome="no_show")

    past = client.get("/api/v1/me/bookings", {"when": "past"})
    coming = client.get("/api/v1/me/bookings")

    assert past.status_code == 200, past.content
    assert [(b["email"], b["outcome"]) for b in past.json()] == [
        ("cy@example.org", "no_show"),
        ("bo@example.org", "completed"),
    ]
    assert [b["id"] for b in coming.json()] == [str(upcoming.pk)]
    assert client.get("/api/v1/me/bookings", {"when": "later"}).status_code == 422


def test_cancel_with_a_reason_for_the_contact(
    client: Client, link: MeetingLink, django_capture_on_commit_callbacks: Capture
) -> None:
    booking = confirm_request(booking=request_for(link, at(weekday_ahead(7), 10), "ada@example.org"))
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/me/bookings/{booking.pk}/cancel",
            {"reason": "I am ill, sorry."},
            content_type="application/json",
        )

    assert response.status_code == 200, response.content
    assert response.json()["cancel_reason"] == "I am ill, sorry."
    send_queued_mail()
    [cancellation] = [m for m in mail.outbox if m.to == ["ada@example.org"]]
    assert "I am ill, sorry." in cancellation.body
    send_queued_mail()
    assert [m for m in mail.outbox if m.to == ["ken@example.org"]] == [], "the host who cancelled is not told"
    # Without a body, as before.
    other = confirm_request(booking=request_for(link, at(weekday_ahead(8), 11), "bo@example.org"))
    assert (
        client.post(f"/api/v1/me/bookings/{other.pk}/cancel", content_type="application/json").status_code
        == 200
    )
