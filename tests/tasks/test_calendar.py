"""Retries of calendar writes and cancellations that failed (Radicale behind a switch), and their end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.tcp_switch import TcpSwitch
from tests.factories import make_host, make_link
from tests.scheduling.helpers import berlin, book, connect, events_on, invitations
from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.calendars.exchange import CANCEL_UNSUPPORTED_MESSAGE
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite
from yoyaku.scheduling.services import cancel_booking
from yoyaku.tasks.calendar import retry_booking_cancel, retry_booking_event, sweep_pending_calendar_writes

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(radicale: RadicaleServer) -> Iterator[TcpSwitch]:
    with TcpSwitch(target_port=radicale.port) as switch:
        yield switch


def pending_booking(radicale: RadicaleServer, switch: TcpSwitch) -> tuple[Booking, str]:
    """A confirmed booking whose event could not be written: the server went down after the check.

    Booked while the server is up, then put back to where a failed write leaves it.
    """
    host = make_host("hana")
    _, calendar = connect(host, radicale, base_url=switch.url)
    booking = book(make_link(host), berlin(10)).booking
    [event] = events_on(radicale, calendar)
    radicale.delete(radicale.url + event.id.split("/", 3)[3])
    Booking.objects.filter(pk=booking.pk).update(
        calendar_write=CalendarWrite.PENDING, calendar_event_id="", calendar_error="unreachable"
    )
    booking.refresh_from_db()
    return booking, calendar


def test_the_retry_writes_the_event_once_the_server_is_back(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, calendar = pending_booking(radicale, switch)
    switch.down()

    with pytest.raises(RuntimeError, match="still failing"):
        retry_booking_event.call_local(str(booking.pk))
    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CONFIRMED, CalendarWrite.PENDING)

    switch.up()
    retry_booking_event.call_local(str(booking.pk))

    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_error) == (CalendarWrite.WRITTEN, "")
    [event] = events_on(radicale, calendar)
    assert event.uid == f"yoyaku-{booking.pk}"
    assert {a.email for a in event.attendees} == {"aiko@example.com"}
    assert booking.calendar_event_id.endswith(f"yoyaku-{booking.pk}.ics")


def test_a_retried_write_does_not_make_a_second_event(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, calendar = pending_booking(radicale, switch)
    retry_booking_event.call_local(str(booking.pk))
    first_id = Booking.objects.get(pk=booking.pk).calendar_event_id
    # The write went through but its answer was lost: the booking still says pending.
    Booking.objects.filter(pk=booking.pk).update(calendar_write=CalendarWrite.PENDING, calendar_event_id="")

    sweep_pending_calendar_writes.call_local()

    booking.refresh_from_db()
    assert [e.uid for e in events_on(radicale, calendar)] == [f"yoyaku-{booking.pk}"]
    assert (booking.calendar_write, booking.calendar_event_id) == (CalendarWrite.WRITTEN, first_id)


def test_a_written_booking_is_left_alone(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, calendar = pending_booking(radicale, switch)
    retry_booking_event.call_local(str(booking.pk))
    sent = len(invitations("REQUEST"))

    retry_booking_event.call_local(str(booking.pk))
    sweep_pending_calendar_writes.call_local()

    assert len(invitations("REQUEST")) == sent
    assert len(events_on(radicale, calendar)) == 1


def test_a_booking_cancelled_before_its_write_is_never_written(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, calendar = pending_booking(radicale, switch)
    cancel_booking(booking=booking)

    retry_booking_event.call_local(str(booking.pk))
    sweep_pending_calendar_writes.call_local()

    assert events_on(radicale, calendar) == []
    assert len(invitations("REQUEST")) == 1
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.NONE


def test_retries_stop_when_the_host_disconnects_the_calendar(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, _calendar = pending_booking(radicale, switch)
    CalendarConnection.objects.filter(user=booking.assigned_host).delete()

    retry_booking_event.call_local(str(booking.pk))

    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.NONE


# -- cancellations are retried like writes ----------------------------------------------------


def written_booking(radicale: RadicaleServer, switch: TcpSwitch) -> tuple[Booking, str]:
    host = make_host("hana")
    _, calendar = connect(host, radicale, base_url=switch.url)
    booking = book(make_link(host), berlin(10)).booking
    assert booking.calendar_write == CalendarWrite.WRITTEN
    return booking, calendar


def test_a_failed_cancellation_is_retried_until_the_event_is_cancelled(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, calendar = written_booking(radicale, switch)
    switch.down()

    cancel_booking(booking=booking)

    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.CANCEL_PENDING)
    assert "could not be reached" in booking.calendar_error
    with pytest.raises(RuntimeError, match="still failing"):
        retry_booking_cancel.call_local(str(booking.pk))
    assert invitations("CANCEL") == []

    switch.up()
    [event] = events_on(radicale, calendar)
    assert not event.cancelled, "still on the calendar as confirmed until the retry"
    retry_booking_cancel.call_local(str(booking.pk))

    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_error) == (CalendarWrite.CANCELLED, "")
    [event] = events_on(radicale, calendar)
    assert event.cancelled
    [(message, _itip)] = invitations("CANCEL")
    assert message.to == ["aiko@example.com"]


def test_the_sweep_retries_a_pending_cancellation_once_it_is_due(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, calendar = written_booking(radicale, switch)
    switch.down()
    cancel_booking(booking=booking)
    switch.up()

    sweep_pending_calendar_writes.call_local()
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.CANCEL_PENDING, "not due yet"
    Booking.objects.filter(pk=booking.pk).update(calendar_retry_at=timezone.now() - timedelta(seconds=1))
    sweep_pending_calendar_writes.call_local()

    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.CANCELLED
    [event] = events_on(radicale, calendar)
    assert event.cancelled


def test_the_sweep_waits_for_a_pending_writes_retry_time(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, calendar = pending_booking(radicale, switch)
    Booking.objects.filter(pk=booking.pk).update(calendar_retry_at=timezone.now() + timedelta(minutes=10))

    sweep_pending_calendar_writes.call_local()
    assert events_on(radicale, calendar) == []

    Booking.objects.filter(pk=booking.pk).update(calendar_retry_at=timezone.now() - timedelta(seconds=1))
    sweep_pending_calendar_writes.call_local()
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.WRITTEN
    assert len(events_on(radicale, calendar)) == 1


def test_a_refused_exchange_cancellation_is_not_retried() -> None:
    host = make_host("hana")
    connection = CalendarConnection(
        user=host,
        provider=Provider.EXCHANGE,
        account_email="hana@example.com",
        server_url="https://127.0.0.1:9/EWS/Exchange.asmx",
    )
    connection.secret = "secret"
    connection.save()
    start = timezone.now() + timedelta(days=2)
    booking = Booking.objects.create(
        link=make_link(host),
        status=BookingStatus.CANCELLED,
        start=start,
        end=start + timedelta(minutes=30),
        time_zone="Asia/Tokyo",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
        assigned_host=host,
        calendar_event_id="AAMkAGI2TG93AAA=",
        calendar_write=CalendarWrite.CANCEL_PENDING,
        calendar_pending_since=timezone.now(),
    )

    retry_booking_cancel.call_local(str(booking.pk))  # refused: no exception for huey to retry

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.CANCEL_FAILED
    assert booking.calendar_error == CANCEL_UNSUPPORTED_MESSAGE
    sweep_pending_calendar_writes.call_local()
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.CANCEL_FAILED


# -- retries end ------------------------------------------------------------------------------


@override_settings(YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS=3)
def test_a_write_is_given_up_after_its_attempts_with_the_last_error(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, calendar = pending_booking(radicale, switch)
    switch.down()
    for _attempt in range(2):
        with pytest.raises(RuntimeError, match="still failing"):
            retry_booking_event.call_local(str(booking.pk))

    retry_booking_event.call_local(str(booking.pk))  # the last one: no exception, so huey stops

    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write, booking.calendar_attempts) == (
        BookingStatus.CONFIRMED,
        CalendarWrite.FAILED,
        3,
    )
    assert "could not be reached" in booking.calendar_error
    switch.up()
    Booking.objects.filter(pk=booking.pk).update(calendar_retry_at=None)
    sweep_pending_calendar_writes.call_local()
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.FAILED
    assert events_on(radicale, calendar) == []


def test_a_write_pending_longer_than_the_limit_is_given_up(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, _calendar = pending_booking(radicale, switch)
    limit = timedelta(hours=settings.YOYAKU_CALENDAR_RETRY_MAX_HOURS)
    Booking.objects.filter(pk=booking.pk).update(
        calendar_pending_since=timezone.now() - limit + timedelta(hours=1)
    )
    switch.down()
    with pytest.raises(RuntimeError, match="still failing"):
        retry_booking_event.call_local(str(booking.pk))
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.PENDING

    Booking.objects.filter(pk=booking.pk).update(calendar_pending_since=timezone.now() - limit)
    retry_booking_event.call_local(str(booking.pk))

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.FAILED
    assert "could not be reached" in booking.calendar_error


@override_settings(YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS=2)
def test_a_cancellation_is_given_up_after_its_attempts(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, _calendar = written_booking(radicale, switch)
    switch.down()
    cancel_booking(booking=booking)  # the first attempt

    retry_booking_cancel.call_local(str(booking.pk))

    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_attempts) == (CalendarWrite.CANCEL_FAILED, 2)
    assert "could not be reached" in booking.calendar_error
