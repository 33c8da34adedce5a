"""Moving a meeting on Google and Microsoft 365 (local emulators): the same event moves, no second one."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from tests.connection_helpers import (
    berlin,
    future_day,
)
from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.factories import make_host, make_link, run_calendar_writes, send_queued_mail
from tests.providers import GOOGLE_EMAIL
from yoyaku.accounts.models import User
from yoyaku.scheduling.models import Booking, CalendarWrite
from yoyaku.scheduling.services import book_meeting, cancel_booking, reschedule_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    user = make_host()
    make_link(user, durations=[30, 60])
    return user


def book(host: User, start: datetime) -> Booking:
    booking = book_meeting(
        link=host.owned_links.get(),
        start=start,
        duration=30,
        time_zone="Europe/Berlin",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
    ).booking
    run_calendar_writes()  # the worker puts it on the calendar
    booking.refresh_from_db()
    return booking


def start_of(value: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))


@pytest.mark.usefixtures("connected_google")
def test_google_moves_the_same_event_and_its_own_time_does_not_block(
    host: User, google: GoogleEmulator
) -> None:
    day = future_day()
    booking = book(host, berlin(day, 11))
    assert booking.calendar_write == CalendarWrite.WRITTEN

    # Longer, from the same start: it overlaps only the meeting's own event.
    reschedule_booking(booking=booking, start=berlin(day, 11), duration=60)
    run_calendar_writes()
    reschedule_booking(booking=booking, start=berlin(day, 14), duration=60)
    run_calendar_writes()

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    [event] = google.events(GOOGLE_EMAIL)
    assert event["id"] == booking.calendar_event_id
    assert start_of(event["start"]) == berlin(day, 14)
    assert start_of(event["end"]) == berlin(day, 15)


@pytest.mark.usefixtures("connected_microsoft")
def test_microsoft_moves_the_same_event(host: User, microsoft: MicrosoftEmulator) -> None:
    day = future_day()
    booking = book(host, berlin(day, 11))

    reschedule_booking(booking=booking, start=berlin(day, 14))
    run_calendar_writes()

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    [event] = microsoft.events()
    assert event["id"] == booking.calendar_event_id
    moved = microsoft.event(booking.calendar_event_id)
    zone = moved["start"].get("timeZone", "UTC")
    assert zone in ("UTC", "Europe/Berlin"), zone
    starts = start_of(moved["start"])
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=ZoneInfo(zone))
    assert starts == berlin(day, 14)


@pytest.mark.usefixtures("connected_google")
def test_a_reason_reaches_the_contact_when_google_mails_the_cancellation(
    host: User, google: GoogleEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    booking = book(host, berlin(future_day(), 11))
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        cancel_booking(booking=booking, reason="The office is closed that day.")
        run_calendar_writes()

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.CANCELLED, "Google cancels the entry and tells the contact"
    assert all(e.get("status") == "cancelled" for e in google.events(GOOGLE_EMAIL))
    # Yoyaku's mail carries the reason only: no .ics, so the contact's calendar is not touched twice.
    send_queued_mail()
    [note] = [m for m in mail.outbox if m.to == ["aiko@example.com"]]
    assert "The office is closed that day." in note.body
    assert not note.attachments and not getattr(note, "alternatives", [])


@pytest.mark.usefixtures("connected_google")
def test_without_a_reason_google_alone_tells_the_contact(
    host: User, django_capture_on_commit_callbacks: Any
) -> None:
    booking = book(host, berlin(future_day(), 11))
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        cancel_booking(booking=booking)
        run_calendar_writes()

    send_queued_mail()
    assert [m for m in mail.outbox if m.to == ["aiko@example.com"]] == []
