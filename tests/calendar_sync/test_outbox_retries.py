"""The outbox's retries of bookings' calendar writes and cancellations (Radicale behind a switch), and
their end: pending while the server is away, written once it is back, failed past the bounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.tcp_switch import TcpSwitch
from tests.factories import make_host, make_link, run_calendar_writes
from tests.scheduling.helpers import berlin, book, connect, events_on, invitations, outbox_entry, queue_again
from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.calendar_sync.models import CalendarOutboxEntry
from yoyaku.calendar_sync.tasks import perform_calendar_write, sweep_calendar_outbox
from yoyaku.calendars.base import CalendarUnavailable
from yoyaku.calendars.exchange import CANCEL_UNSUPPORTED_MESSAGE
from yoyaku.scheduling.calendar_writes import next_try
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite
from yoyaku.scheduling.services import cancel_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(radicale: RadicaleServer) -> Iterator[TcpSwitch]:
    with TcpSwitch(target_port=radicale.port) as switch:
        yield switch


def pending_booking(radicale: RadicaleServer, switch: TcpSwitch) -> tuple[Booking, str]:
    """A confirmed booking whose event could not be written: the server went down after the check.

    Booked while the server is up, then put back to where a failed write leaves it, its outbox row due.
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
    queue_again(booking)
    return booking, calendar


def later(booking: Booking) -> datetime:
    """The booking's retry time, when the worker may try it again."""
    booking.refresh_from_db()
    assert booking.calendar_retry_at is not None
    return booking.calendar_retry_at


def test_the_retry_writes_the_event_once_the_server_is_back(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, calendar = pending_booking(radicale, switch)
    switch.down()

    assert run_calendar_writes() == 1
    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CONFIRMED, CalendarWrite.PENDING)
    assert run_calendar_writes() == 0, "not again before its retry time"

    switch.up()
    assert run_calendar_writes(at=later(booking)) == 1

    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_error) == (CalendarWrite.WRITTEN, "")
    [event] = events_on(radicale, calendar)
    assert event.uid == f"yoyaku-{booking.pk}"
    assert {a.email for a in event.attendees} == {"aiko@example.com"}
    assert booking.calendar_event_id.endswith(f"yoyaku-{booking.pk}.ics")
    assert not CalendarOutboxEntry.objects.exists(), "a performed row is gone"


def test_the_retry_time_honours_retry_after_and_otherwise_doubles_up_to_an_hour() -> None:
    now = timezone.now()
    down = CalendarUnavailable("The CalDAV server could not be reached.")
    waits = [next_try(error=down, attempts=attempts, now=now) - now for attempts in (1, 2, 3, 30)]
    assert waits == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2), timedelta(hours=1)]
    asked = CalendarUnavailable("Busy.", retry_after=7)
    assert next_try(error=asked, attempts=30, now=now) == now + timedelta(seconds=7)
    assert next_try(error=KeyError("href"), attempts=1, now=now) == now + timedelta(seconds=30)


def test_a_retried_write_does_not_make_a_second_event(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, calendar = pending_booking(radicale, switch)
    run_calendar_writes()
    first_id = Booking.objects.get(pk=booking.pk).calendar_event_id
    # The write went through but its answer was lost: the booking still says pending.
    Booking.objects.filter(pk=booking.pk).update(calendar_write=CalendarWrite.PENDING, calendar_event_id="")
    queue_again(booking)

    sweep_calendar_outbox.call_local()

    booking.refresh_from_db()
    assert [e.uid for e in events_on(radicale, calendar)] == [f"yoyaku-{booking.pk}"]
    assert (booking.calendar_write, booking.calendar_event_id) == (CalendarWrite.WRITTEN, first_id)


def test_a_written_booking_is_left_alone(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, calendar = pending_booking(radicale, switch)
    entry_id = outbox_entry(booking).pk
    run_calendar_writes()
    sent = len(invitations("REQUEST"))

    perform_calendar_write.call_local(entry_id)  # a duplicate of the task: its row is gone
    queue_again(booking)
    sweep_calendar_outbox.call_local()

    assert len(invitations("REQUEST")) == sent
    assert len(events_on(radicale, calendar)) == 1


def test_a_booking_cancelled_before_its_write_is_never_written(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, calendar = pending_booking(radicale, switch)
    cancel_booking(booking=booking)

    run_calendar_writes()
    sweep_calendar_outbox.call_local()

    assert events_on(radicale, calendar) == []
    assert len(invitations("REQUEST")) == 1
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.NONE
    assert not CalendarOutboxEntry.objects.exists()


def test_retries_stop_when_the_host_disconnects_the_calendar(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, _calendar = pending_booking(radicale, switch)
    CalendarConnection.objects.filter(user=booking.assigned_host).delete()

    run_calendar_writes()

    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.NONE
    assert not CalendarOutboxEntry.objects.exists()


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
    run_calendar_writes()

    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.CANCEL_PENDING)
    assert "could not be reached" in booking.calendar_error
    run_calendar_writes(at=later(booking))
    assert invitations("CANCEL") == []

    switch.up()
    [event] = events_on(radicale, calendar)
    assert not event.cancelled, "still on the calendar as confirmed until the retry"
    run_calendar_writes(at=later(booking))

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
    run_calendar_writes()
    switch.up()

    sweep_calendar_outbox.call_local()
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.CANCEL_PENDING, "not due yet"
    CalendarOutboxEntry.objects.update(run_after=timezone.now() - timedelta(seconds=1))
    sweep_calendar_outbox.call_local()

    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.CANCELLED
    [event] = events_on(radicale, calendar)
    assert event.cancelled


def test_the_sweep_waits_for_a_pending_writes_retry_time(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, calendar = pending_booking(radicale, switch)
    CalendarOutboxEntry.objects.update(run_after=timezone.now() + timedelta(minutes=10))

    sweep_calendar_outbox.call_local()
    assert events_on(radicale, calendar) == []

    CalendarOutboxEntry.objects.update(run_after=timezone.now() - timedelta(seconds=1))
    sweep_calendar_outbox.call_local()
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.WRITTEN
    assert len(events_on(radicale, calendar)) == 1


def test_the_sweep_passes_a_row_another_worker_holds(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, calendar = pending_booking(radicale, switch)
    CalendarOutboxEntry.objects.update(lease_until=timezone.now() + timedelta(minutes=5))

    sweep_calendar_outbox.call_local()
    assert events_on(radicale, calendar) == []

    # The worker holding it died: its lease lapses and the row is performed.
    assert run_calendar_writes(at=timezone.now() + timedelta(minutes=6)) == 1
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.WRITTEN


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
    queue_again(booking)

    run_calendar_writes()  # refused: the row is done with

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.CANCEL_FAILED
    assert booking.calendar_error == CANCEL_UNSUPPORTED_MESSAGE
    assert not CalendarOutboxEntry.objects.exists()


# -- retries end ------------------------------------------------------------------------------


@override_settings(YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS=3)
def test_a_write_is_given_up_after_its_attempts_with_the_last_error(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    booking, calendar = pending_booking(radicale, switch)
    switch.down()
    run_calendar_writes()
    run_calendar_writes(at=later(booking))
    run_calendar_writes(at=later(booking))  # the last one

    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write, booking.calendar_attempts) == (
        BookingStatus.CONFIRMED,
        CalendarWrite.FAILED,
        3,
    )
    assert "could not be reached" in booking.calendar_error
    assert not CalendarOutboxEntry.objects.exists(), "given up: nothing left for a worker"
    switch.up()
    sweep_calendar_outbox.call_local()
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
    run_calendar_writes()
    assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.PENDING

    Booking.objects.filter(pk=booking.pk).update(calendar_pending_since=timezone.now() - limit)
    run_calendar_writes(at=later(booking))

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.FAILED
    assert "could not be reached" in booking.calendar_error


@override_settings(YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS=2)
def test_a_cancellation_is_given_up_after_its_attempts(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    booking, _calendar = written_booking(radicale, switch)
    switch.down()
    cancel_booking(booking=booking)
    run_calendar_writes()  # the first attempt

    run_calendar_writes(at=later(booking))

    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_attempts) == (CalendarWrite.CANCEL_FAILED, 2)
    assert "could not be reached" in booking.calendar_error
