"""Writing bookings to the host's CalDAV calendar (Radicale behind a switch that can cut it off)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core import mail

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.tcp_switch import TcpSwitch
from tests.factories import make_host, make_link
from tests.scheduling.helpers import berlin, book, calendar_mails, connect, events_on, invitations
from yoyaku.accounts.models import CalendarConnection
from yoyaku.calendars.base import CalendarAdapter
from yoyaku.scheduling import calendar_writes
from yoyaku.scheduling.calendar_writes import cancel_booking_event, write_booking_event
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, MeetingLink, Reservation

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(radicale: RadicaleServer) -> Iterator[TcpSwitch]:
    with TcpSwitch(target_port=radicale.port) as switch:
        yield switch


@pytest.fixture
def page(radicale: RadicaleServer, switch: TcpSwitch) -> tuple[MeetingLink, str]:
    """A one-on-one page whose host's calendar is reached through the switch."""
    host = make_host("hana")
    _, calendar = connect(host, radicale, base_url=switch.url)
    return make_link(host), calendar


def down_before_writing(monkeypatch: pytest.MonkeyPatch, switch: TcpSwitch) -> None:
    """The server goes away after the booking's fresh read, just before the event is written."""
    real: Callable[[CalendarConnection], CalendarAdapter] = calendar_writes.adapter_for

    def adapter_for(connection: CalendarConnection) -> CalendarAdapter:
        switch.down()
        return real(connection)

    monkeypatch.setattr(calendar_writes, "adapter_for", adapter_for)


def test_a_failed_write_keeps_the_booking_confirmed_and_pending(
    page: tuple[MeetingLink, str],
    radicale: RadicaleServer,
    switch: TcpSwitch,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    link, calendar = page
    down_before_writing(monkeypatch, switch)

    # The retry it schedules runs at once (tasks are immediate here) and fails too.
    with django_capture_on_commit_callbacks(execute=True) as retries:
        outcome = book(link, berlin(10))

    assert len(retries) == 1
    booking = Booking.objects.get(pk=outcome.booking.pk)
    assert outcome.created
    assert (booking.status, booking.calendar_write, booking.calendar_event_id) == (
        BookingStatus.CONFIRMED,
        CalendarWrite.PENDING,
        "",
    )
    assert "could not be reached" in booking.calendar_error
    assert Reservation.objects.filter(booking=booking, active=True).count() == 1
    assert booking.contact is not None and booking.meeting is not None
    assert calendar_mails() == [], "no invitation for an event that is not on the calendar"
    switch.up()
    assert events_on(radicale, calendar) == []


def test_the_event_uid_comes_from_the_booking_and_a_second_write_finds_it(
    page: tuple[MeetingLink, str], radicale: RadicaleServer
) -> None:
    link, calendar = page
    booking = book(link, berlin(10)).booking
    [event] = events_on(radicale, calendar)
    assert event.uid == f"yoyaku-{booking.pk}"
    first_id = booking.calendar_event_id

    # As if the first answer had been lost: the same booking is written again.
    Booking.objects.filter(pk=booking.pk).update(calendar_write=CalendarWrite.PENDING, calendar_event_id="")
    booking.refresh_from_db()
    assert write_booking_event(booking=booking)

    booking.refresh_from_db()
    assert [e.uid for e in events_on(radicale, calendar)] == [event.uid]
    assert (booking.calendar_event_id, booking.calendar_write) == (first_id, CalendarWrite.WRITTEN)


def test_a_booking_without_a_calendar_is_not_written() -> None:
    host = make_host("hana")
    booking = book(make_link(host), berlin(10)).booking
    Booking.objects.filter(pk=booking.pk).update(calendar_write=CalendarWrite.PENDING)
    booking.refresh_from_db()

    assert not write_booking_event(booking=booking)

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.NONE
    assert mail.outbox == []


def test_cancelling_an_event_the_host_already_deleted_still_tells_the_booker(
    page: tuple[MeetingLink, str], radicale: RadicaleServer
) -> None:
    link, calendar = page
    booking = book(link, berlin(10)).booking
    [event] = events_on(radicale, calendar)
    radicale.delete(radicale.url + event.id.split("/", 3)[3])

    cancel_booking_event(booking=booking)

    assert events_on(radicale, calendar) == []
    [(message, _itip)] = invitations("CANCEL")
    assert message.to == ["aiko@example.com"]
