"""Hosts moving a confirmed meeting, against calendars on a real Radicale."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.core import mail

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, run_calendar_writes, send_queued_mail
from tests.scheduling.helpers import NOW, add_event, berlin, book, connect, events_on, invitations
from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.calendars.base import CalendarOperationNotSupported
from yoyaku.crm.models import Meeting
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, LinkKind, Reservation
from yoyaku.scheduling.services import (
    BookingNotChangeable,
    SlotUnavailable,
    cancel_booking,
    request_meeting,
    reschedule_booking,
)
from yoyaku.scheduling.validation import BookingInputError

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def spans(booking: Booking) -> list[tuple[object, object]]:
    return list(Reservation.objects.filter(booking=booking, active=True).values_list("start", "end"))


def test_moving_a_meeting_moves_its_time_its_event_and_its_crm_meeting(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host, buffer_after_minutes=15)
    booking = book(link, berlin(10)).booking
    send_queued_mail()
    mail.outbox.clear()

    moved = reschedule_booking(booking=booking, start=berlin(14), now=NOW)
    run_calendar_writes()
    moved.refresh_from_db()

    booking.refresh_from_db()
    assert (booking.start, booking.end) == (berlin(14), berlin(14, 30))
    assert (booking.status, booking.calendar_write) == (BookingStatus.CONFIRMED, CalendarWrite.WRITTEN)
    assert moved.calendar_event_id == booking.calendar_event_id
    assert spans(booking) == [(berlin(14), berlin(14, 45))]
    meeting = Meeting.objects.get(pk=booking.meeting_id)
    assert (meeting.start, meeting.end) == (berlin(14), berlin(14, 30))
    [event] = events_on(radicale, calendar)
    assert event.id == booking.calendar_event_id, "updated in place, not a second event"
    assert (event.start, event.end) == (berlin(14), berlin(14, 30))
    assert not event.cancelled
    # The booker's copy is replaced: same UID, a higher SEQUENCE than the first invitation's 0.
    [(message, itip)] = invitations("REQUEST")
    [vevent] = itip.walk("VEVENT")
    assert message.to == ["aiko@example.com"]
    assert str(vevent["UID"]) == event.uid
    assert int(vevent["SEQUENCE"]) == 1
    assert vevent.decoded("DTSTART") == berlin(14).astimezone(UTC)
    # The old time is free again and the new one is taken.
    assert book(link, berlin(10), email="ken@example.com").created
    with pytest.raises(SlotUnavailable):
        book(link, berlin(14), email="mio@example.com")


def test_a_second_move_and_a_cancel_keep_raising_the_sequence(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connect(host, radicale)
    booking = book(make_link(host), berlin(10)).booking
    reschedule_booking(booking=booking, start=berlin(11), now=NOW)
    run_calendar_writes()
    reschedule_booking(booking=booking, start=berlin(12), now=NOW)
    run_calendar_writes()
    cancel_booking(booking=booking)
    run_calendar_writes()

    sequences = [int(i.walk("VEVENT")[0]["SEQUENCE"]) for _m, i in invitations("REQUEST")]
    [(_message, cancel)] = invitations("CANCEL")
    assert sequences == [0, 1, 2]
    assert int(cancel.walk("VEVENT")[0]["SEQUENCE"]) == 3


def test_the_meetings_own_event_and_reservation_do_not_block_an_overlapping_new_time(
    radicale: RadicaleServer,
) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host, durations=[30, 60])
    booking = book(link, berlin(10)).booking

    reschedule_booking(booking=booking, start=berlin(10), duration=60, now=NOW)
    run_calendar_writes()

    booking.refresh_from_db()
    assert (booking.start, booking.end) == (berlin(10), berlin(11))
    [event] = events_on(radicale, calendar)
    assert (event.start, event.end) == (berlin(10), berlin(11))


def test_another_event_at_exactly_the_meetings_time_still_blocks_it(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host, durations=[30, 60])
    booking = book(link, berlin(10)).booking
    add_event(radicale, calendar, start=berlin(10), end=berlin(10, 30))

    with pytest.raises(SlotUnavailable):
        reschedule_booking(booking=booking, start=berlin(10), duration=60, now=NOW)


def test_a_busy_or_unoffered_time_is_refused_and_nothing_changes(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host)
    booking = book(link, berlin(10)).booking
    other = book(link, berlin(15), email="ken@example.com").booking
    add_event(radicale, calendar, start=berlin(14), end=berlin(14, 30))
    send_queued_mail()
    mail.outbox.clear()

    # Busy on the calendar, or taken by another booking: offered, but not free (409).
    for start in (berlin(14), berlin(15)):
        with pytest.raises(SlotUnavailable):
            reschedule_booking(booking=booking, start=start, now=NOW)
    # After hours, off the grid: never offered (422, with what to change).
    for start, words in ((berlin(20), "outside the hours"), (berlin(11, 10), "30-minute grid")):
        with pytest.raises(BookingInputError) as error:
            reschedule_booking(booking=booking, start=start, now=NOW)
        assert words in error.value.errors["start"]

    booking.refresh_from_db()
    assert (booking.start, booking.calendar_write) == (berlin(10), CalendarWrite.WRITTEN)
    assert spans(booking) == [(berlin(10), berlin(10, 30))]
    assert spans(other) == [(berlin(15), berlin(15, 30))]
    moved = [e for e in events_on(radicale, calendar) if e.id == booking.calendar_event_id]
    assert [(e.start, e.end) for e in moved] == [(berlin(10), berlin(10, 30))]
    send_queued_mail()
    assert mail.outbox == []


def test_bad_input_and_meetings_that_cannot_move(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connect(host, radicale)
    link = make_link(host)
    booking = book(link, berlin(10)).booking

    with pytest.raises(BookingInputError) as error:
        reschedule_booking(booking=booking, start=berlin(14), duration=45, now=NOW)
    assert set(error.value.errors) == {"duration"}
    with pytest.raises(BookingInputError) as error:
        reschedule_booking(booking=booking, start=berlin(14).replace(tzinfo=None), now=NOW)
    assert set(error.value.errors) == {"start"}

    cancel_booking(booking=booking)
    run_calendar_writes()
    with pytest.raises(BookingNotChangeable):
        reschedule_booking(booking=booking, start=berlin(14), now=NOW)
    request = request_meeting(
        link=link, time_zone="UTC", first_name="Ken", last_name="Ito", email="ken@example.com", message=""
    ).booking
    with pytest.raises(BookingNotChangeable):
        reschedule_booking(booking=request, start=berlin(14), now=NOW)


def test_exchange_meetings_are_refused_up_front_and_nothing_changes(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connection, calendar = connect(host, radicale)
    booking = book(make_link(host), berlin(10)).booking
    # The same booking as if its calendar were Exchange, which Yoyaku only adds meetings to.
    CalendarConnection.objects.filter(pk=connection.pk).update(provider=Provider.EXCHANGE)
    send_queued_mail()
    mail.outbox.clear()

    with pytest.raises(CalendarOperationNotSupported, match="reschedule it in Outlook"):
        reschedule_booking(booking=booking, start=berlin(14), now=NOW)
    with pytest.raises(CalendarOperationNotSupported, match="cancel it in Outlook"):
        cancel_booking(booking=booking)

    booking.refresh_from_db()
    assert (booking.status, booking.start, booking.calendar_write) == (
        BookingStatus.CONFIRMED,
        berlin(10),
        CalendarWrite.WRITTEN,
    )
    assert spans(booking) == [(berlin(10), berlin(10, 30))]
    [event] = events_on(radicale, calendar)
    assert (event.start, event.cancelled) == (berlin(10), False)
    send_queued_mail()
    assert mail.outbox == []


def test_a_group_meeting_moves_for_every_host_and_needs_them_all_free(radicale: RadicaleServer) -> None:
    hana, ken = make_host("hana"), make_host("ken")
    connect(hana, radicale)
    _, ken_calendar = connect(ken, radicale)
    link = make_link(hana, kind=LinkKind.GROUP, host_usernames=["hana", "ken"])
    booking = book(link, berlin(10)).booking
    add_event(radicale, ken_calendar, start=berlin(14), end=berlin(15))

    with pytest.raises(SlotUnavailable):
        reschedule_booking(booking=booking, start=berlin(14), now=NOW)
    reschedule_booking(booking=booking, start=berlin(15), now=NOW)
    run_calendar_writes()

    rows = Reservation.objects.filter(booking=booking, active=True)
    assert {(r.host_id, r.start, r.end) for r in rows} == {
        (hana.pk, berlin(15), berlin(15, 30)),
        (ken.pk, berlin(15), berlin(15, 30)),
    }


def test_a_failed_update_is_retried_until_the_event_shows_the_new_time(
    radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yoyaku.calendars.caldav import CalDAVAdapter

    host = make_host("hana")
    _, calendar = connect(host, radicale)
    booking = book(make_link(host), berlin(10)).booking
    real_update = CalDAVAdapter.update_event

    def broken(self: CalDAVAdapter, **kwargs: object) -> None:
        from yoyaku.calendars.base import CalendarUnavailable

        raise CalendarUnavailable("The CalDAV server could not be reached.")

    monkeypatch.setattr(CalDAVAdapter, "update_event", broken)
    reschedule_booking(booking=booking, start=berlin(14), now=NOW)
    run_calendar_writes()

    booking.refresh_from_db()
    assert (booking.start, booking.calendar_write) == (berlin(14), CalendarWrite.PENDING)
    assert "could not be reached" in booking.calendar_error
    [event] = events_on(radicale, calendar)
    assert event.start == berlin(10), "not moved on the calendar yet"

    monkeypatch.setattr(CalDAVAdapter, "update_event", real_update)
    assert run_calendar_writes() == 0, "waits for its retry time"
    assert run_calendar_writes(at=booking.calendar_retry_at) == 1

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    [event] = events_on(radicale, calendar)
    assert (event.start, event.end) == (berlin(14), berlin(14, 30))


def test_after_the_calendar_was_disconnected_only_the_time_moves(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connection, calendar = connect(host, radicale)
    booking = book(make_link(host), berlin(10)).booking
    connection.delete()
    send_queued_mail()
    mail.outbox.clear()

    reschedule_booking(booking=booking, start=berlin(11), now=NOW)
    run_calendar_writes()

    booking.refresh_from_db()
    assert (booking.start, booking.calendar_write) == (berlin(11), CalendarWrite.NONE)
    assert spans(booking) == [(berlin(11), berlin(11) + timedelta(minutes=30))]
    [event] = events_on(radicale, calendar)
    assert event.start == berlin(10)
    send_queued_mail()
    # No calendar invites anyone any more: the host's notice of the move is all.
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Meeting moved"]


def test_the_update_mail_speaks_the_bookers_page_language(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connect(host, radicale)
    booking = book(make_link(host), berlin(10), language="ja").booking
    send_queued_mail()
    mail.outbox.clear()

    reschedule_booking(booking=booking, start=berlin(14), now=NOW)
    run_calendar_writes()

    [(message, _itip)] = invitations("REQUEST")
    assert message.subject.startswith("招待の更新")
    # 14:00 in Berlin is 22:00 in Tokyo, the booker's zone.
    assert "日時が" in message.body and "22:00" in message.body


def test_a_create_racing_a_stored_write_is_done_again_as_an_update(radicale: RadicaleServer) -> None:
    from yoyaku.calendar_sync.outbox import AGAIN
    from yoyaku.scheduling.calendar_writes import perform_booking_write, write_booking_event

    host = make_host("hana")
    _, calendar = connect(host, radicale)
    booking = book(make_link(host), berlin(10)).booking
    # A write that started before the first one stored its event, for the meeting since moved to 14:00:
    # its create finds the event by its UID and leaves it at 10:00.
    Booking.objects.filter(pk=booking.pk).update(start=berlin(14), end=berlin(14, 30))
    racing = Booking.objects.get(pk=booking.pk)
    racing.calendar_event_id = ""

    assert write_booking_event(booking=racing) == AGAIN

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.PENDING
    perform_booking_write(str(booking.pk))  # the worker performs the row again
    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    [event] = events_on(radicale, calendar)
    assert (event.start, event.end) == (berlin(14), berlin(14, 30))
