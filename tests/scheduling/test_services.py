"""Booking, requesting and cancelling, against hosts whose calendars live on a real Radicale."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.core import mail

from tests.emulators.radicale_server import RadicaleServer, free_port
from tests.factories import connect_caldav, make_host, make_link, run_calendar_writes, send_queued_mail
from tests.scheduling.helpers import (
    NOW,
    WEDNESDAY,
    add_event,
    berlin,
    book,
    calendar_mails,
    connect,
    events_on,
    invitations,
)
from yoyaku.accounts.models import User
from yoyaku.crm.models import Contact, Meeting
from yoyaku.crm.services import upsert_contact
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, LinkKind, Reservation
from yoyaku.scheduling.selectors import available_slots
from yoyaku.scheduling.services import (
    CalendarUnreadable,
    SlotUnavailable,
    cancel_booking,
    request_meeting,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def attendee_emails(event: object) -> set[str]:
    return {a.email.lower() for a in event.attendees}  # type: ignore[attr-defined]


def offered(link: object, start: object) -> bool:
    result = available_slots(
        link=link,  # type: ignore[arg-type]
        start=start - timedelta(hours=1),  # type: ignore[operator]
        end=start + timedelta(hours=1),  # type: ignore[operator]
        time_zone="UTC",
        duration=30,
        now=NOW,
    )
    return any(slot == start for slots in result.slots.values() for slot in slots)


def down_connection(user: User) -> None:
    """A CalDAV connection whose server is not there: nothing listens on the port."""
    url = f"http://127.0.0.1:{free_port()}/"
    connect_caldav(user, server_url=url, username="x", password="y", calendar_url=url + "x/cal/")


# -- one-on-one ------------------------------------------------------------------


def test_booking_puts_the_event_on_the_calendar_and_mails_an_invitation(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host, location="Zoom")
    start = berlin(10)

    outcome = book(link, start)

    booking = outcome.booking
    assert outcome.created
    assert (booking.status, booking.calendar_write, booking.assigned_host) == (
        BookingStatus.CONFIRMED,
        CalendarWrite.WRITTEN,
        host,
    )
    [event] = events_on(radicale, calendar)
    assert event.id == booking.calendar_event_id
    assert (event.start, event.end) == (start, start + timedelta(minutes=30))
    assert attendee_emails(event) == {"aiko@example.com"}
    assert not event.cancelled
    assert Meeting.objects.get(pk=booking.meeting_id).calendar_event_id == event.id

    [(message, itip)] = invitations("REQUEST")
    assert message.to == ["aiko@example.com"]
    assert str(itip["METHOD"]) == "REQUEST"
    [vevent] = itip.walk("VEVENT")
    assert str(vevent["UID"]) == event.uid
    assert vevent.decoded("DTSTART") == start.astimezone(UTC)
    assert vevent.decoded("DTEND") == (start + timedelta(minutes=30)).astimezone(UTC)
    assert str(vevent["ATTENDEE"]).lower() == "mailto:aiko@example.com"
    assert str(vevent["ORGANIZER"]).lower() == "mailto:hana@example.com"
    # The text speaks the booker's zone: 10:00 in Berlin is 18:00 in Tokyo.
    assert "18:00" in message.body and "Asia/Tokyo" in message.body


def test_event_made_seconds_before_blocks_the_slot_though_the_index_has_not_seen_it(
    radicale: RadicaleServer,
) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host)
    start = berlin(10)
    assert offered(link, start)
    add_event(radicale, calendar, start=start, end=start + timedelta(minutes=30))
    assert offered(link, start), "the pages read the index, which has not been synced since"

    with pytest.raises(SlotUnavailable):
        book(link, start)

    assert not Booking.objects.exists()
    assert not Reservation.objects.exists()
    assert not Contact.objects.exists()
    assert not Meeting.objects.exists()
    assert len(events_on(radicale, calendar)) == 1
    send_queued_mail()
    assert mail.outbox == []


def test_unreadable_calendar_fails_closed_and_a_request_is_still_possible() -> None:
    host = make_host("hana")
    down_connection(host)
    link = make_link(host)

    with pytest.raises(CalendarUnreadable):
        book(link, berlin(10))
    assert not Booking.objects.exists()
    assert not Contact.objects.exists()

    outcome = request_meeting(
        link=link,
        time_zone="Asia/Tokyo",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
        message="Any time next week works for me.",
    )
    booking = outcome.booking
    assert (booking.status, booking.start, booking.calendar_write) == (
        BookingStatus.REQUESTED,
        None,
        CalendarWrite.NONE,
    )
    assert booking.contact is not None and booking.contact.email == "aiko@example.com"
    assert not Reservation.objects.exists()
    assert calendar_mails() == []


def test_offline_page_takes_a_request_and_writes_no_calendar(radicale: RadicaleServer) -> None:
    host = make_host("hana")  # no calendar connected
    other = make_host("ken")
    _, others_calendar = connect(other, radicale)
    link = make_link(host)

    booking = book(link, berlin(10)).booking

    assert (booking.status, booking.calendar_write, booking.calendar_event_id) == (
        BookingStatus.REQUESTED,
        CalendarWrite.NONE,
        "",
    )
    assert booking.meeting is not None and booking.meeting.outcome == "requested"
    assert events_on(radicale, others_calendar) == []
    assert calendar_mails() == []
    # The requested time is held: the same slot cannot be asked for twice.
    with pytest.raises(SlotUnavailable):
        book(link, berlin(10), email="ken@example.com")


def test_buffers_are_enforced_when_booking(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host, buffer_before_minutes=15, buffer_after_minutes=15)
    add_event(radicale, calendar, start=berlin(10), end=berlin(10, 30))

    # 10:30 needs 10:15 free: the calendar event ends 10:30.
    with pytest.raises(SlotUnavailable):
        book(link, berlin(10, 30))
    first = book(link, berlin(11)).booking
    reservation = Reservation.objects.get(booking=first)
    assert (reservation.start, reservation.end) == (berlin(10, 45), berlin(11, 45))
    # 11:30 would start inside the first booking's buffer after.
    with pytest.raises(SlotUnavailable):
        book(link, berlin(11, 30), email="ken@example.com")
    assert book(link, berlin(12), email="ken@example.com").created
    assert Booking.objects.count() == 2


def test_an_unsynced_event_inside_a_buffer_only_still_takes_the_time(radicale: RadicaleServer) -> None:
    """The booking's fresh read covers the buffered meeting, not only the meeting: an event made a
    moment ago that touches only a buffer takes the time all the same."""
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host, buffer_before_minutes=10, buffer_after_minutes=15)
    add_event(radicale, calendar, start=berlin(10, 40), end=berlin(11))
    add_event(radicale, calendar, start=berlin(13, 5), end=berlin(13, 25))
    add_event(radicale, calendar, start=berlin(15, 45), end=berlin(16, 20))
    for start in (berlin(10), berlin(13, 30), berlin(16, 30)):
        assert offered(link, start), "the index has not seen the new events"

    with pytest.raises(SlotUnavailable):
        book(link, berlin(10))  # 10:00-10:30, buffered to 10:45: the 10:40 event is in the way
    with pytest.raises(SlotUnavailable):
        book(link, berlin(13, 30))  # buffered from 13:20: the event until 13:25 is in the way
    # Buffered from 16:20, where the last event ends: free (spans are half-open).
    assert book(link, berlin(16, 30)).created
    assert Booking.objects.count() == 1


def test_max_per_day_is_enforced_when_booking(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connect(host, radicale)
    link = make_link(host, max_per_day=2)
    first = book(link, berlin(10), email="a@example.com").booking
    book(link, berlin(14), email="b@example.com")

    with pytest.raises(SlotUnavailable):
        book(link, berlin(16), email="c@example.com")
    assert book(link, berlin(10, day=WEDNESDAY), email="c@example.com").created
    assert Booking.objects.count() == 3
    cancel_booking(booking=first)
    run_calendar_writes()
    assert book(link, berlin(16), email="c@example.com").created


def test_max_per_day_counts_the_pages_own_meetings_in_slots_and_bookings(radicale: RadicaleServer) -> None:
    # "At most N meetings a day from this page": the host's meetings from other pages still block
    # their own times, but do not use up this page's daily allowance.
    host = make_host("hana")
    connect(host, radicale)
    limited = make_link(host, max_per_day=1)
    other = make_link(host, slug="other")
    book(other, berlin(10), email="a@example.com")
    book(other, berlin(11), email="b@example.com")

    assert offered(limited, berlin(14))
    assert not offered(limited, berlin(10)), "the other page's meeting still blocks its own time"
    assert book(limited, berlin(14), email="c@example.com").created

    assert not offered(limited, berlin(16))
    with pytest.raises(SlotUnavailable):
        book(limited, berlin(16), email="d@example.com")
    assert offered(other, berlin(16)), "the limited page's meeting does not limit the other page"
    assert book(other, berlin(16), email="d@example.com").created


# -- group -------------------------------------------------------------------------


def test_group_booking_needs_every_host_and_includes_them_all(radicale: RadicaleServer) -> None:
    hana, ken = make_host("hana"), make_host("ken")
    _, hana_calendar = connect(hana, radicale)
    _, ken_calendar = connect(ken, radicale)
    link = make_link(hana, kind=LinkKind.GROUP, host_usernames=["hana", "ken"])
    ken_alone = make_link(ken, slug="ken-intro")
    add_event(radicale, ken_calendar, start=berlin(10), end=berlin(11))

    with pytest.raises(SlotUnavailable):
        book(link, berlin(10))
    assert not Booking.objects.exists()

    booking = book(link, berlin(11)).booking

    assert {r.host for r in Reservation.objects.filter(booking=booking, active=True)} == {hana, ken}
    assert set(booking.meeting.hosts.all()) == {hana, ken}  # type: ignore[union-attr]
    [event] = events_on(radicale, hana_calendar)
    assert attendee_emails(event) == {"aiko@example.com", "ken@example.com"}
    # Ken's time is taken on his other pages too.
    with pytest.raises(SlotUnavailable):
        book(ken_alone, berlin(11), email="mio@example.com")
    [(message, _itip)] = invitations("REQUEST")
    assert set(message.to) | set(message.cc) == {"aiko@example.com", "ken@example.com"}


# -- round robin --------------------------------------------------------------------


def round_robin(radicale: RadicaleServer, *names: str, **fields: object) -> tuple[list[User], list[str]]:
    hosts = [make_host(name) for name in names]
    calendars = [connect(h, radicale)[1] for h in hosts]
    make_link(hosts[0], kind=LinkKind.ROUND_ROBIN, host_usernames=list(names), **fields)
    return hosts, calendars


def test_round_robin_assigns_the_least_recently_booked_free_host(radicale: RadicaleServer) -> None:
    (hana, ken), (hana_calendar, _ken_calendar) = round_robin(radicale, "hana", "ken")
    link = hana.owned_links.get()

    first = book(link, berlin(10), email="a@example.com").booking.assigned_host
    second = book(link, berlin(10), email="b@example.com").booking.assigned_host
    assert {first, second} == {hana, ken}, "the same time again goes to the other, free host"
    third = book(link, berlin(11), email="c@example.com").booking.assigned_host
    assert third == first, "least recently booked"
    # The next in turn is busy on the calendar, so the other free host gets it.
    busy_calendar = hana_calendar if second == hana else _ken_calendar
    add_event(radicale, busy_calendar, start=berlin(12), end=berlin(13))
    assert book(link, berlin(12), email="d@example.com").booking.assigned_host == third


def test_round_robin_prefers_the_contacts_owner_when_free(radicale: RadicaleServer) -> None:
    (hana, ken), (_hana_calendar, ken_calendar) = round_robin(
        radicale, "hana", "ken", prioritize_contact_owner=True
    )
    link = hana.owned_links.get()
    upsert_contact(
        workspace=ken.workspace, email="Aiko@Example.com", first_name="Aiko", last_name="Sato", owner=ken
    )
    book(link, berlin(9), email="other@example.com")  # whoever it went to
    book(link, berlin(9, 30), email="other2@example.com")  # now both were booked once

    for hour in (10, 11):
        assert book(link, berlin(hour)).booking.assigned_host == ken
    add_event(radicale, ken_calendar, start=berlin(12), end=berlin(13))
    assert book(link, berlin(12)).booking.assigned_host == hana
    assert Contact.objects.get(email__iexact="aiko@example.com").owner == ken


def test_round_robin_skips_a_host_whose_calendar_is_down(radicale: RadicaleServer) -> None:
    hana, ken = make_host("hana"), make_host("ken")
    connect(hana, radicale)
    down_connection(ken)
    link = make_link(hana, kind=LinkKind.ROUND_ROBIN, host_usernames=["hana", "ken"])
    book(link, berlin(9), email="first@example.com")  # Ken, never booked, would be next in turn

    assert book(link, berlin(10)).booking.assigned_host == hana
    assert not Reservation.objects.filter(host=ken).exists()


# -- cancelling ----------------------------------------------------------------------


def test_cancel_frees_the_slot_and_cancels_the_event(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host)
    start = berlin(10)
    booking = book(link, start).booking
    assert not offered(link, start)

    cancel_booking(booking=booking)
    run_calendar_writes()

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert not Reservation.objects.filter(booking=booking, active=True).exists()
    assert booking.meeting is not None and booking.meeting.outcome == "cancelled"
    [event] = events_on(radicale, calendar)
    assert event.id == booking.calendar_event_id and event.cancelled
    [(message, itip)] = invitations("CANCEL")
    assert message.to == ["aiko@example.com"]
    [vevent] = itip.walk("VEVENT")
    assert (str(vevent["UID"]), str(vevent["STATUS"])) == (event.uid, "CANCELLED")
    assert vevent.decoded("DTSTART") == start.astimezone(UTC)

    assert offered(link, start)
    again = book(link, start, email="ken@example.com").booking
    assert again.status == BookingStatus.CONFIRMED
    assert sorted(e.cancelled for e in events_on(radicale, calendar)) == [False, True]


def test_cancelling_an_offline_request_frees_the_time() -> None:
    host = make_host("hana")
    link = make_link(host)
    booking = book(link, berlin(10)).booking

    cancel_booking(booking=booking)
    run_calendar_writes()

    assert book(link, berlin(10), email="ken@example.com").created
    assert calendar_mails() == []


def test_cancelling_twice_changes_nothing_the_second_time(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host)
    booking = book(link, berlin(10)).booking
    cancel_booking(booking=booking)
    run_calendar_writes()
    again = book(link, berlin(10), email="ken@example.com").booking

    cancel_booking(booking=Booking.objects.get(pk=booking.pk))
    run_calendar_writes()

    assert len(invitations("CANCEL")) == 1
    assert Reservation.objects.get(booking=again).active
    assert [e.cancelled for e in events_on(radicale, calendar) if e.uid == f"yoyaku-{again.pk}"] == [False]
