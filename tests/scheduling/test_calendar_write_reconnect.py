"""A sign-in refused while writing, moving or cancelling an event (the Google emulator's revoked grant).

The connection turns to "needs reconnect" as it does when a read is refused (one mail to the host),
the booking stays pending without using up its attempts, its outbox row waits (the sweep passes it
by), and reconnecting sends what waited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from tests.connection_helpers import (
    GOOGLE_ALLOW,
    berlin,
    book,
    calendar_write_of,
    connect_in_browser,
    future_day,
    google_settings,
    provider_settings,
)
from tests.emulators.google import GoogleEmulator
from tests.emulators.google import start as start_google
from tests.factories import make_host, make_link, run_calendar_writes, send_queued_mail
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, User
from yoyaku.calendar_sync.models import CalendarOutboxEntry
from yoyaku.calendar_sync.tasks import perform_calendar_write
from yoyaku.calendars.base import CalendarAdapter
from yoyaku.scheduling import calendar_writes
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite
from yoyaku.scheduling.services import cancel_booking, reschedule_booking

pytestmark = pytest.mark.django_db

EMAIL = "host@example.com"
RECONNECT_SUBJECT = f"Reconnect your calendar: Google ({EMAIL})"


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    emu = start_google(accounts=(EMAIL,))
    try:
        # One attempt only: a refused sign-in that counted as an attempt would give the write up at once.
        with (
            provider_settings(**google_settings(emu)),
            override_settings(YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS=1),
        ):
            yield emu
    finally:
        emu.stop()


@pytest.fixture
def host(google: GoogleEmulator) -> User:
    user = make_host(email="hana@example.org")
    make_link(user)
    connect(user)
    return user


def connect(user: User) -> None:
    browser = Client()
    browser.force_login(user)
    assert connect_in_browser(browser, "google", button=GOOGLE_ALLOW)["Location"] == "/dashboard/"


def revoke(google: GoogleEmulator) -> None:
    google.revoke(EMAIL)
    google.expire_access_tokens()


def revoke_before_writing(monkeypatch: pytest.MonkeyPatch, google: GoogleEmulator) -> None:
    """The grant is revoked after the booking's fresh read, just before its event is written."""
    real: Callable[[CalendarConnection], CalendarAdapter] = calendar_writes.adapter_for

    def adapter_for(connection: CalendarConnection) -> CalendarAdapter:
        revoke(google)
        return real(connection)

    monkeypatch.setattr(calendar_writes, "adapter_for", adapter_for)


def reconnect_notices() -> list[Any]:
    send_queued_mail()
    return [m for m in mail.outbox if m.subject == RECONNECT_SUBJECT]


def event_start(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["start"]["dateTime"])


def our_events(google: GoogleEmulator, *, include_cancelled: bool = False) -> list[dict[str, Any]]:
    return google.events(EMAIL, include_cancelled=include_cancelled)


def assert_waits_for_reconnect(booking: Booking, state: str) -> None:
    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_attempts) == (state, 0)
    assert "reconnect" in booking.calendar_error.lower()
    connection = CalendarConnection.objects.get(user=booking.assigned_host)
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert len(reconnect_notices()) == 1


def retry_while_broken(booking: Booking, django_capture_on_commit_callbacks: Any) -> None:
    """The sweep passes the booking by; a worker already queued ends quietly without using an attempt."""
    entry = CalendarOutboxEntry.objects.get(target="booking", target_id=str(booking.pk))
    assert entry.run_after is None, "waits for the reconnect, not for a time"
    # A day on: whatever waits for its time would be due by then.
    assert run_calendar_writes(at=timezone.now() + timedelta(days=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        perform_calendar_write.call_local(entry.pk)


def reconnect(user: User, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        connect(user)
    assert CalendarConnection.objects.get(user=user).status == ConnectionStatus.OK


def test_a_refused_create_waits_and_is_written_after_reconnecting(
    google: GoogleEmulator,
    host: User,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    day = future_day()
    revoke_before_writing(monkeypatch, google)
    with django_capture_on_commit_callbacks(execute=True):
        response = book("intro", berlin(day, 11))

    assert response.status_code == 201, response.content
    assert response.json()["calendar_write"] == "pending"
    booking = Booking.objects.get(pk=response.json()["id"])
    assert booking.status == BookingStatus.CONFIRMED
    assert_waits_for_reconnect(booking, CalendarWrite.PENDING)
    monkeypatch.undo()
    retry_while_broken(booking, django_capture_on_commit_callbacks)
    assert_waits_for_reconnect(booking, CalendarWrite.PENDING)
    assert our_events(google) == []

    reconnect(host, django_capture_on_commit_callbacks)

    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_error) == (CalendarWrite.WRITTEN, "")
    [event] = our_events(google)
    assert event["id"] == booking.calendar_event_id
    assert event_start(event) == berlin(day, 11)
    assert len(reconnect_notices()) == 1


def test_a_refused_move_waits_and_moves_the_event_after_reconnecting(
    google: GoogleEmulator,
    host: User,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    day = future_day()
    booked = book("intro", berlin(day, 11))
    assert calendar_write_of(booked) == "written"
    booking = Booking.objects.get(pk=booked.json()["id"])

    revoke_before_writing(monkeypatch, google)
    with django_capture_on_commit_callbacks(execute=True):
        moved = reschedule_booking(booking=booking, start=berlin(day, 14))

    assert moved.start == berlin(day, 14)
    assert_waits_for_reconnect(booking, CalendarWrite.PENDING)
    monkeypatch.undo()
    retry_while_broken(booking, django_capture_on_commit_callbacks)
    assert_waits_for_reconnect(booking, CalendarWrite.PENDING)
    [event] = our_events(google)
    assert event_start(event) == berlin(day, 11), "still at the old time while the grant is revoked"

    reconnect(host, django_capture_on_commit_callbacks)

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    [event] = our_events(google)
    assert (event["id"], event_start(event)) == (booking.calendar_event_id, berlin(day, 14))


def test_a_refused_cancellation_waits_and_cancels_the_event_after_reconnecting(
    google: GoogleEmulator, host: User, django_capture_on_commit_callbacks: Any
) -> None:
    day = future_day()
    booking = Booking.objects.get(pk=book("intro", berlin(day, 11)).json()["id"])
    [event] = our_events(google)

    revoke(google)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_booking(booking=booking)

    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CANCELLED
    assert_waits_for_reconnect(booking, CalendarWrite.CANCEL_PENDING)
    retry_while_broken(booking, django_capture_on_commit_callbacks)
    assert_waits_for_reconnect(booking, CalendarWrite.CANCEL_PENDING)
    assert [e["id"] for e in our_events(google)] == [event["id"]]

    reconnect(host, django_capture_on_commit_callbacks)

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.CANCELLED
    assert our_events(google) == []
    [cancelled] = our_events(google, include_cancelled=True)
    assert (cancelled["id"], cancelled["status"]) == (event["id"], "cancelled")
