"""Meetings whose calendar write or cancellation was given up: shown on the dashboard, retried from there,
and visible in the host API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from tests.connection_helpers import flash_messages
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import api_key_for, connect_caldav, make_host, make_link, run_calendar_writes
from tests.scheduling.helpers import connect, events_on, invitations
from tests.web.html import element, elements
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, User
from yoyaku.calendar_sync.outbox import DONE
from yoyaku.scheduling.calendar_writes import write_booking_event
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, MeetingLink
from yoyaku.web.dashboard import RETRYING

pytestmark = pytest.mark.django_db

UNREACHABLE = "The CalDAV server at 127.0.0.1:9 could not be reached."


def given_up(link: MeetingLink, host: User, *, status: str, state: str, event_id: str = "") -> Booking:
    start = timezone.now() + timedelta(days=3)
    return Booking.objects.create(
        link=link,
        status=status,
        start=start,
        end=start + timedelta(minutes=30),
        time_zone="Europe/Paris",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
        assigned_host=host,
        calendar_write=state,
        calendar_error=UNREACHABLE,
        calendar_event_id=event_id,
        calendar_attempts=50,
    )


def retry_url(booking: Booking) -> str:
    return reverse("booking-calendar-retry", args=[booking.pk])


def test_a_failed_write_is_shown_and_retry_now_puts_it_on_the_calendar(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    _, calendar = connect(host, host_radicale)
    link = make_link(host)
    booking = given_up(link, host, status=BookingStatus.CONFIRMED, state=CalendarWrite.FAILED)
    fine = given_up(link, host, status=BookingStatus.CONFIRMED, state=CalendarWrite.WRITTEN)

    page = client_in.get("/dashboard/").content.decode()

    row = element(page, "li", class_="row-item calendar-problem")
    assert row["id"] == f"calendar-problem-{booking.pk}", "only the failed one"
    assert UNREACHABLE in page
    element(page, "form", action=retry_url(booking))
    assert not elements(page, "form", action=retry_url(fine))

    response = client_in.post(retry_url(booking))

    assert response.status_code == 302
    assert flash_messages(response) == [RETRYING]
    assert run_calendar_writes() == 1  # the worker
    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_error, booking.calendar_attempts) == (
        CalendarWrite.WRITTEN,
        "",
        0,
    )
    assert [e.uid for e in events_on(host_radicale, calendar)] == [f"yoyaku-{booking.pk}"]
    assert len(invitations("REQUEST")) == 1
    assert not elements(
        client_in.get("/dashboard/").content.decode(), "li", class_="row-item calendar-problem"
    )


def test_retry_now_that_fails_again_keeps_retrying_in_the_background(host: User, client_in: Client) -> None:
    # Port 9 on loopback refuses at once.
    connect_caldav(
        host,
        server_url="http://127.0.0.1:9/dav/",
        username="hana",
        password="secret",
        calendar_url="http://127.0.0.1:9/dav/hana/calendar/",
    )
    booking = given_up(make_link(host), host, status=BookingStatus.CONFIRMED, state=CalendarWrite.FAILED)

    response = client_in.post(retry_url(booking))

    assert flash_messages(response) == [RETRYING]
    assert run_calendar_writes() == 1  # the worker, which fails again
    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_attempts) == (CalendarWrite.PENDING, 1)
    assert booking.calendar_retry_at is not None


def test_a_failed_cancellation_is_shown_and_retry_now_cancels_the_event(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    _, calendar = connect(host, host_radicale)
    booking = given_up(make_link(host), host, status=BookingStatus.CONFIRMED, state=CalendarWrite.PENDING)
    assert write_booking_event(booking=booking) == DONE
    Booking.objects.filter(pk=booking.pk).update(
        status=BookingStatus.CANCELLED, calendar_write=CalendarWrite.CANCEL_FAILED, calendar_error=UNREACHABLE
    )

    page = client_in.get("/dashboard/").content.decode()
    row = element(page, "li", class_="row-item calendar-problem")
    assert row["data-calendar-write"] == "cancel_failed"

    response = client_in.post(retry_url(booking))

    assert flash_messages(response) == [RETRYING]
    assert run_calendar_writes() == 1
    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.CANCELLED
    [event] = events_on(host_radicale, calendar)
    assert event.cancelled
    [(message, _itip)] = invitations("CANCEL")
    assert message.to == ["aiko@example.com"]


def test_retry_now_leaves_a_meeting_with_nothing_to_retry_alone(host: User, client_in: Client) -> None:
    booking = given_up(make_link(host), host, status=BookingStatus.CONFIRMED, state=CalendarWrite.WRITTEN)

    response = client_in.post(retry_url(booking))

    assert flash_messages(response) == ["There is nothing to retry for this meeting."]
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.WRITTEN


def test_a_meeting_of_another_host_cannot_be_retried(client_in: Client) -> None:
    other = make_host("taro")
    booking = given_up(
        make_link(other, slug="taro-call"), other, status=BookingStatus.CONFIRMED, state=CalendarWrite.FAILED
    )

    assert client_in.post(retry_url(booking)).status_code == 404
    assert client_in.get(retry_url(booking)).status_code == 405
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.FAILED


def test_the_host_api_shows_the_failed_write_and_its_error(host: User) -> None:
    booking = given_up(make_link(host), host, status=BookingStatus.CONFIRMED, state=CalendarWrite.FAILED)
    client = Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})

    [row] = client.get("/api/v1/me/bookings").json()

    assert row["id"] == str(booking.pk)
    assert (row["calendar_write"], row["calendar_error"]) == ("failed", UNREACHABLE)


def test_the_host_api_shows_a_failed_cancellation(host: User) -> None:
    booking = given_up(
        make_link(host), host, status=BookingStatus.CANCELLED, state=CalendarWrite.CANCEL_FAILED, event_id="x"
    )
    client = Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})

    response = client.get("/api/v1/me/bookings", {"include_cancelled": "true"})

    assert response.status_code == 200, response.content
    [row] = response.json()
    assert (row["id"], row["calendar_write"], row["calendar_error"]) == (
        str(booking.pk),
        "cancel_failed",
        UNREACHABLE,
    )


@pytest.mark.parametrize(
    ("status", "state", "event_id", "action", "wording"),
    [
        (BookingStatus.CONFIRMED, CalendarWrite.FAILED, "", "add", "could not add it to your calendar"),
        (
            BookingStatus.CONFIRMED,
            CalendarWrite.FAILED,
            "evt-1",
            "move",
            "could not move it on your calendar",
        ),
        (BookingStatus.CANCELLED, CalendarWrite.CANCEL_FAILED, "evt-1", "cancel", "could not cancel it"),
    ],
    ids=["add", "move", "cancel"],
)
def test_the_problem_says_whether_adding_moving_or_cancelling_failed(
    host: User, client_in: Client, status: str, state: str, event_id: str, action: str, wording: str
) -> None:
    # A failed write of a meeting that already has an event was the update of a move.
    booking = given_up(make_link(host), host, status=status, state=state, event_id=event_id)

    page = client_in.get("/dashboard/").content.decode()

    row = element(page, "li", class_="row-item calendar-problem")
    assert (row["id"], row["data-failed-action"]) == (f"calendar-problem-{booking.pk}", action)
    assert wording in page
    others = {"add": "could not add it", "move": "could not move it", "cancel": "could not cancel it"}
    assert [text for key, text in others.items() if key != action and text in page] == []


def test_a_failed_move_is_told_in_japanese(host: User, client_in: Client) -> None:
    given_up(make_link(host), host, status=BookingStatus.CONFIRMED, state=CalendarWrite.FAILED, event_id="e")
    client_in.cookies["django_language"] = "ja"
    try:
        page = client_in.get("/dashboard/").content.decode()
    finally:
        # The locale middleware leaves the request's language active in this thread.
        translation.activate("en")

    assert "カレンダー上の予定を移動できませんでした" in page
    assert "カレンダーに追加できませんでした" not in page


def test_retry_now_while_the_calendar_needs_reconnecting_says_so_and_waits(
    host: User, client_in: Client
) -> None:
    connection = connect_caldav(
        host,
        server_url="http://127.0.0.1:9/dav/",
        username="hana",
        password="secret",
        calendar_url="http://127.0.0.1:9/dav/hana/calendar/",
    )
    CalendarConnection.objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.NEEDS_RECONNECT, status_message="The CalDAV server rejected the password."
    )
    booking = given_up(make_link(host), host, status=BookingStatus.CONFIRMED, state=CalendarWrite.FAILED)

    response = client_in.post(retry_url(booking))

    assert flash_messages(response) == [
        "Your calendar must be reconnected first: Yoyaku sends the change to it as soon as you reconnect."
    ]
    run_calendar_writes()  # the worker finds the calendar still to be reconnected
    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_attempts) == (CalendarWrite.PENDING, 0)
    assert booking.calendar_error == "The CalDAV server rejected the password."
