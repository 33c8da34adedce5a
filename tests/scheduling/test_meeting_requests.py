"""Answering meeting requests: a request holds its time for a bounded time only; confirming it checks the
time like a booking (and offers free times when it is taken), declining it tells the requester with the
host's message. Round robin confirms only with hosts whose calendar is connected and readable."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import override_settings

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, run_calendar_writes, send_queued_mail
from tests.scheduling.helpers import connect, events_on
from yoyaku.accounts.models import User
from yoyaku.crm.models import Meeting
from yoyaku.formatting import format_moment
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, LinkKind, MeetingLink, Reservation
from yoyaku.scheduling.selectors import available_slots
from yoyaku.scheduling.services import (
    BookingNotChangeable,
    RequestTimeTaken,
    SlotUnavailable,
    book_meeting,
    confirm_request,
    decline_request,
    request_meeting,
)
from yoyaku.scheduling.validation import BookingInputError

# Marked `postgres` too: a lapsed hold is still an active row for the exclusion constraint.
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]

BERLIN = ZoneInfo("Europe/Berlin")


def weekday_ahead(days: int = 7) -> date:
    day = datetime.now(tz=UTC).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


DAY = weekday_ahead()


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def book(link: MeetingLink, start: datetime, email: str) -> Booking:
    return book_meeting(
        link=link,
        start=start,
        duration=30,
        time_zone="Asia/Tokyo",
        first_name=email.split("@")[0].capitalize(),
        last_name="Guest",
        email=email,
    ).booking


def offered(link: MeetingLink, day: date = DAY) -> list[datetime]:
    result = available_slots(
        link=link,
        start=at(0, day=day),
        end=at(0, day=day + timedelta(days=1)),
        time_zone="Europe/Berlin",
        duration=30,
        now=datetime.now(tz=UTC),
    )
    return [slot for slots in result.slots.values() for slot in slots]


@pytest.fixture
def host() -> User:
    return make_host("ken", email="ken@example.org")


@pytest.fixture
def offline_link(host: User) -> MeetingLink:
    # No calendar: bookings on this page are requests.
    return make_link(host, slug="consult", name="Consultation")


def test_a_timed_request_holds_its_time_for_the_hold_only(offline_link: MeetingLink) -> None:
    first = book(offline_link, at(10), "ada@example.org")

    assert first.status == BookingStatus.REQUESTED
    [hold] = Reservation.objects.filter(booking=first)
    assert hold.expires_at is not None
    assert timedelta(hours=47) < hold.expires_at - datetime.now(tz=UTC) <= timedelta(hours=48)
    assert at(10) not in offered(offline_link), "held while the host may confirm"
    with pytest.raises(SlotUnavailable):
        book(offline_link, at(10), "bo@example.org")

    # Once the hold lapses the time is offered again, and a booker can ask for it.
    Reservation.objects.filter(pk=hold.pk).update(expires_at=datetime.now(tz=UTC) - timedelta(seconds=1))
    assert at(10) in offered(offline_link)
    second = book(offline_link, at(10), "bo@example.org")
    assert second.status == BookingStatus.REQUESTED
    hold.refresh_from_db()
    assert not hold.active, "the lapsed hold was released under the lock"


@override_settings(YOYAKU_REQUEST_HOLD_HOURS=3)
def test_the_hold_is_a_setting(offline_link: MeetingLink) -> None:
    first = book(offline_link, at(10), "ada@example.org")
    [hold] = Reservation.objects.filter(booking=first)
    assert hold.expires_at is not None
    assert timedelta(hours=2) < hold.expires_at - datetime.now(tz=UTC) <= timedelta(hours=3)


def test_the_receipt_says_the_time_is_not_held(
    offline_link: MeetingLink, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        book(offline_link, at(10), "ada@example.org")

    send_queued_mail()
    [receipt] = [m for m in mail.outbox if m.to == ["ada@example.org"]]
    [hold] = Reservation.objects.values_list("expires_at", flat=True)
    until = format_moment(hold, "Asia/Tokyo")
    assert f"held for you until {until}" in receipt.body
    assert "another time" in receipt.body


def test_confirming_an_offline_request_books_it_and_mails_the_invitation(
    offline_link: MeetingLink, django_capture_on_commit_callbacks: Capture
) -> None:
    request = book(offline_link, at(10), "ada@example.org")
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = confirm_request(booking=request)
        run_calendar_writes()
        confirmed.refresh_from_db()

    confirmed.refresh_from_db()
    assert (confirmed.status, confirmed.start, confirmed.calendar_write) == (
        BookingStatus.CONFIRMED,
        at(10),
        CalendarWrite.NONE,
    )
    [reservation] = Reservation.objects.filter(booking=confirmed, active=True)
    assert reservation.expires_at is None, "a booking's reservation does not lapse"
    assert at(10) not in offered(offline_link), "now the time is taken"
    assert confirmed.meeting is not None
    assert Meeting.objects.get(pk=confirmed.meeting_id).outcome == "scheduled"
    send_queued_mail()
    [invitation] = [m for m in mail.outbox if m.to == ["ada@example.org"]]
    assert "Invitation" in invitation.subject
    assert any("method=REQUEST" in mimetype for _, mimetype in invitation.alternatives)


def lapse_holds() -> None:
    Reservation.objects.filter(expires_at__isnull=False).update(
        expires_at=datetime.now(tz=UTC) - timedelta(seconds=1)
    )


def test_confirming_a_request_whose_time_was_taken_offers_free_times(offline_link: MeetingLink) -> None:
    second = book(offline_link, at(10), "bo@example.org")
    lapse_holds()
    first = book(offline_link, at(10), "ada@example.org")
    confirm_request(booking=first)
    run_calendar_writes()

    with pytest.raises(RequestTimeTaken) as taken:
        confirm_request(booking=second)

    second.refresh_from_db()
    assert second.status == BookingStatus.REQUESTED, "nothing changed"
    assert taken.value.alternatives, "free times are offered"
    assert at(10) not in taken.value.alternatives
    assert all(a >= at(10) for a in taken.value.alternatives)
    # One of them confirms it.
    confirmed = confirm_request(booking=second, start=taken.value.alternatives[0])
    run_calendar_writes()
    confirmed.refresh_from_db()
    assert confirmed.status == BookingStatus.CONFIRMED


def test_a_request_without_a_time_needs_one(offline_link: MeetingLink) -> None:
    request = request_meeting(
        link=offline_link,
        time_zone="Europe/Berlin",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.org",
        message="Any time next week",
    ).booking

    with pytest.raises(BookingInputError) as missing:
        confirm_request(booking=request)
    assert "start" in missing.value.errors
    with pytest.raises(BookingInputError) as off_grid:
        confirm_request(booking=request, start=at(10, 7))
    assert "start" in off_grid.value.errors

    confirmed = confirm_request(booking=request, start=at(11))
    run_calendar_writes()
    confirmed.refresh_from_db()
    assert (confirmed.status, confirmed.start, confirmed.end) == (BookingStatus.CONFIRMED, at(11), at(11, 30))
    assert confirmed.meeting is not None, "the CRM logs the meeting"


def test_declining_tells_the_requester_with_the_hosts_message(
    offline_link: MeetingLink, django_capture_on_commit_callbacks: Capture
) -> None:
    request = book(offline_link, at(10), "ada@example.org")
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        declined = decline_request(booking=request, message="I am away that week, sorry.")

    declined.refresh_from_db()
    assert (declined.status, declined.cancel_reason) == (
        BookingStatus.CANCELLED,
        "I am away that week, sorry.",
    )
    send_queued_mail()
    [notice] = mail.outbox
    assert notice.to == ["ada@example.org"]
    assert "declined" in notice.subject.lower()
    assert "I am away that week, sorry." in notice.body
    with pytest.raises(BookingNotChangeable):
        confirm_request(booking=declined)
    with pytest.raises(BookingNotChangeable):
        decline_request(booking=declined)


def test_a_decline_message_has_a_limit(offline_link: MeetingLink) -> None:
    request = book(offline_link, at(10), "ada@example.org")
    with pytest.raises(BookingInputError):
        decline_request(booking=request, message="x" * 2001)
    request.refresh_from_db()
    assert request.status == BookingStatus.REQUESTED


def test_confirming_writes_the_event_when_the_host_has_a_calendar_now(
    host: User, offline_link: MeetingLink, radicale: RadicaleServer
) -> None:
    request = book(offline_link, at(10), "ada@example.org")
    _, calendar_url = connect(host, radicale)

    confirmed = confirm_request(booking=request)
    run_calendar_writes()
    confirmed.refresh_from_db()

    assert confirmed.calendar_write == CalendarWrite.WRITTEN
    [event] = events_on(radicale, calendar_url)
    assert event.start == at(10).astimezone(UTC)


def test_round_robin_confirms_only_with_hosts_whose_calendar_is_connected(
    radicale: RadicaleServer,
) -> None:
    with_calendar = make_host("aiko", email="aiko@example.org")
    without = make_host("bo", email="bo@example.org")
    connect(with_calendar, radicale)
    link = make_link(
        with_calendar,
        slug="team",
        kind=LinkKind.ROUND_ROBIN,
        host_usernames=["aiko", "bo"],
    )

    bookings = [book(link, at(9 + i), f"guest{i}@example.org") for i in range(4)]

    assert {b.status for b in bookings} == {BookingStatus.CONFIRMED}
    assert {b.assigned_host_id for b in bookings} == {with_calendar.pk}
    assert not Reservation.objects.filter(host=without).exists()


def test_confirming_after_the_hold_lapsed_checks_the_time_again(offline_link: MeetingLink) -> None:
    request = book(offline_link, at(10), "ada@example.org")
    lapse_holds()

    confirmed = confirm_request(booking=request)
    run_calendar_writes()
    confirmed.refresh_from_db()

    assert confirmed.status == BookingStatus.CONFIRMED
    assert Reservation.objects.filter(booking=confirmed, active=True, expires_at__isnull=True).count() == 1
    assert Reservation.objects.filter(booking=confirmed).count() == 1


def test_declining_releases_the_hold(offline_link: MeetingLink) -> None:
    request = book(offline_link, at(10), "ada@example.org")

    decline_request(booking=request)

    assert at(10) in offered(offline_link)
