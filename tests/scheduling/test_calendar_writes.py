"""Writing bookings to the host's CalDAV calendar (Radicale behind a switch that can cut it off)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from django.core import mail

from tests.connection_helpers import berlin as api_berlin
from tests.connection_helpers import book as api_book
from tests.connection_helpers import future_day
from tests.emulators.dav_proxy import DavProxy
from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.tcp_switch import TcpSwitch
from tests.factories import make_host, make_link, run_calendar_writes, send_queued_mail
from tests.scheduling.helpers import (
    NOW,
    berlin,
    book,
    calendar_mails,
    connect,
    events_on,
    invitations,
    outbox_entry,
    queue_again,
)
from yoyaku.accounts.models import CalendarConnection
from yoyaku.calendar_sync.outbox import DONE
from yoyaku.calendars.base import CalendarAdapter, EventDraft
from yoyaku.calendars.caldav import CalDAVAdapter
from yoyaku.scheduling import calendar_writes, notifications
from yoyaku.scheduling.calendar_writes import cancel_booking_event, write_booking_event
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, MeetingLink, Reservation
from yoyaku.scheduling.services import cancel_booking, reschedule_booking

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
) -> None:
    link, calendar = page
    down_before_writing(monkeypatch, switch)

    outcome = book(link, berlin(10))  # the worker's write fails

    booking = Booking.objects.get(pk=outcome.booking.pk)
    assert outbox_entry(booking).run_after == booking.calendar_retry_at, "the row waits for its retry"
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
    assert write_booking_event(booking=booking) == DONE

    booking.refresh_from_db()
    assert [e.uid for e in events_on(radicale, calendar)] == [event.uid]
    assert (booking.calendar_event_id, booking.calendar_write) == (first_id, CalendarWrite.WRITTEN)


def test_a_booking_without_a_calendar_is_not_written() -> None:
    host = make_host("hana")
    booking = book(make_link(host), berlin(10)).booking
    Booking.objects.filter(pk=booking.pk).update(calendar_write=CalendarWrite.PENDING)
    booking.refresh_from_db()

    assert write_booking_event(booking=booking) == DONE

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.NONE
    assert calendar_mails() == []  # the request's receipt and notice only


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


# -- failures that are not the provider's ---------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        KeyError("href"),
        ConnectionResetError(104, "Connection reset by peer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=["adapter-bug", "connection-reset", "protocol-error"],
)
def test_an_unexpected_failure_while_writing_still_answers_201_and_is_retried(
    page: tuple[MeetingLink, str],
    radicale: RadicaleServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
) -> None:
    link, calendar = page
    real_create = CalDAVAdapter.create_event

    def create_event(self: CalDAVAdapter, *, draft: EventDraft, calendar_id: str | None = None) -> str:
        raise failure

    monkeypatch.setattr(CalDAVAdapter, "create_event", create_event)

    with caplog.at_level(logging.WARNING, logger="yoyaku.scheduling.calendar_writes"):
        response = api_book(link.slug, api_berlin(future_day(), 11))  # and the worker's first try

    assert response.status_code == 201, response.content
    assert response.json()["calendar_write"] == "pending"
    booking = Booking.objects.get(pk=response.json()["id"])
    assert (booking.status, booking.calendar_write) == (BookingStatus.CONFIRMED, CalendarWrite.PENDING)
    assert type(failure).__name__ in booking.calendar_error
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None and record.exc_info[1] is failure, "logged with its traceback"
    assert outbox_entry(booking).run_after == booking.calendar_retry_at, "a retry is scheduled"

    monkeypatch.setattr(CalDAVAdapter, "create_event", real_create)
    assert run_calendar_writes(at=booking.calendar_retry_at) == 1

    booking.refresh_from_db()
    assert (booking.calendar_write, booking.calendar_error) == (CalendarWrite.WRITTEN, "")
    assert [e.uid for e in events_on(radicale, calendar)] == [f"yoyaku-{booking.pk}"]


def test_a_failing_invitation_mail_leaves_the_written_event_written(
    page: tuple[MeetingLink, str], radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, calendar = page

    def send_invitation(**kwargs: object) -> None:
        raise UnicodeEncodeError("ascii", "予約", 0, 1, "not ascii")

    monkeypatch.setattr(notifications, "send_invitation", send_invitation)

    booking = book(link, berlin(10)).booking

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    assert len(events_on(radicale, calendar)) == 1


# -- adapters are closed ------------------------------------------------------------------


def test_the_adapters_used_to_write_and_cancel_are_closed(
    page: tuple[MeetingLink, str], switch: TcpSwitch, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, _calendar = page
    made: list[Any] = []
    real: Callable[[CalendarConnection], CalendarAdapter] = calendar_writes.adapter_for

    def adapter_for(connection: CalendarConnection) -> CalendarAdapter:
        if len(made) == 1:
            switch.down()  # the second write fails: its adapter must be closed all the same
        made.append(real(connection))
        return made[-1]

    monkeypatch.setattr(calendar_writes, "adapter_for", adapter_for)

    booking = book(link, berlin(10)).booking
    second = book(link, berlin(12)).booking
    switch.up()
    cancel_booking(booking=booking)
    run_calendar_writes()
    booking.refresh_from_db()

    assert (booking.calendar_write, second.calendar_write) == (CalendarWrite.CANCELLED, CalendarWrite.PENDING)
    assert len(made) == 3
    assert [a._client.is_closed for a in made] == [True, True, True]


# -- a cancel racing a write ------------------------------------------------------------------


def pending_write(link: MeetingLink, radicale: RadicaleServer, calendar: str) -> Booking:
    """A confirmed booking whose write is pending: nothing of it on the calendar yet."""
    booking = book(link, berlin(10)).booking
    [event] = events_on(radicale, calendar)
    radicale.delete(radicale.url + event.id.split("/", 3)[3])
    Booking.objects.filter(pk=booking.pk).update(calendar_write=CalendarWrite.PENDING, calendar_event_id="")
    send_queued_mail()
    mail.outbox.clear()
    booking.refresh_from_db()
    queue_again(booking)
    return booking


@pytest.mark.postgres
def test_a_cancel_landing_while_the_write_is_in_flight_takes_the_event_off_again(
    page: tuple[MeetingLink, str], radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    link, calendar = page
    booking = pending_write(link, radicale, calendar)
    real_create = CalDAVAdapter.create_event

    def create_then_cancelled(
        self: CalDAVAdapter, *, draft: EventDraft, calendar_id: str | None = None
    ) -> str:
        event_id = real_create(self, draft=draft, calendar_id=calendar_id)
        # The booking is cancelled while the write's answer is on its way back: the cancel finds
        # no event to take off.
        cancel_booking(booking=Booking.objects.get(pk=booking.pk))
        return event_id

    monkeypatch.setattr(CalDAVAdapter, "create_event", create_then_cancelled)

    run_calendar_writes()

    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.CANCELLED)
    [event] = events_on(radicale, calendar)
    assert event.cancelled and event.uid == f"yoyaku-{booking.pk}"
    assert calendar_mails() == [], "the booker was never invited to it"


@pytest.mark.postgres
def test_a_cancel_from_a_copy_loaded_before_the_write_landed_still_cancels_the_event(
    page: tuple[MeetingLink, str], radicale: RadicaleServer
) -> None:
    link, calendar = page
    booking = pending_write(link, radicale, calendar)
    loaded_earlier = Booking.objects.get(pk=booking.pk)

    run_calendar_writes()  # the write lands
    cancel_booking(booking=loaded_earlier)
    run_calendar_writes()

    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.CANCELLED)
    [event] = events_on(radicale, calendar)
    assert event.cancelled and event.uid == f"yoyaku-{booking.pk}"
    assert len(invitations("CANCEL")) == 1


# -- RFC 6638 servers and events deleted on the server -------------------------------------


def test_a_server_that_schedules_itself_never_mails_the_guest_a_second_time(radicale: RadicaleServer) -> None:
    """Servers like those behind Nextcloud and Baïkal send iTIP themselves for attendees they schedule;
    the proxy counts what such a server would send. Only Yoyaku's own iMIP mail may reach the guest."""
    with DavProxy(target=radicale.url, auto_schedule=True) as proxy:
        host = make_host("hana")
        connect(host, radicale, base_url=proxy.url + "/")
        booking = book(make_link(host), berlin(10)).booking
        reschedule_booking(booking=booking, start=berlin(11), now=NOW)
        run_calendar_writes()
        cancel_booking(booking=booking)
        run_calendar_writes()

        assert [r.method for r in proxy.seen].count("PUT") == 3
        assert proxy.scheduled == []
    assert [m.to for m, _itip in invitations("REQUEST")] == [["aiko@example.com"], ["aiko@example.com"]]
    assert [m.to for m, _itip in invitations("CANCEL")] == [["aiko@example.com"]]
    # The parameter is for the server; the iTIP messages themselves carry none (RFC 6638 §7.1).
    for _message, itip in invitations("REQUEST") + invitations("CANCEL"):
        assert "SCHEDULE-AGENT" not in itip.to_ical().decode()


def test_moving_a_meeting_whose_event_was_deleted_on_the_server_fails_at_once(
    radicale: RadicaleServer, caplog: pytest.LogCaptureFixture
) -> None:
    host = make_host("hana")
    connect(host, radicale)
    booking = book(make_link(host), berlin(10)).booking
    radicale.delete(booking.calendar_event_id)

    with caplog.at_level(logging.WARNING, logger="yoyaku.scheduling.calendar_writes"):
        reschedule_booking(booking=booking, start=berlin(11), now=NOW)
        run_calendar_writes()

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.FAILED
    assert booking.calendar_retry_at is None
    assert "deleted from the CalDAV calendar" in booking.calendar_error
    assert not [r for r in caplog.records if "unexpectedly" in r.getMessage()]
