"""Retries of calendar writes that failed while booking (Radicale behind a switch)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.tcp_switch import TcpSwitch
from tests.factories import make_host, make_link
from tests.scheduling.helpers import berlin, book, connect, events_on, invitations
from yoyaku.accounts.models import CalendarConnection
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite
from yoyaku.scheduling.services import cancel_booking
from yoyaku.tasks.calendar import retry_booking_event, sweep_pending_calendar_writes

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
