"""A booking's event stays on the calendar it was written to, whatever the host connects afterwards.

The host disconnects one calendar and connects another (another provider, another account, the same
address on another CalDAV server): moving the meeting writes it afresh on the new calendar, cancelling
it calls no calendar, what Yoyaku refuses is judged by the calendar the event is on, and the new
calendar's events never move a booking whose event is elsewhere. The same account connected again
keeps every event it holds. Against the Google and Exchange emulators and real Radicale servers (one
behind a proxy that records what reaches it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.connection_helpers import berlin, future_day
from tests.emulators.dav_proxy import DavProxy
from tests.emulators.exchange import ExchangeEmulator
from tests.emulators.exchange import start as start_exchange
from tests.emulators.google import GoogleEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, run_calendar_writes, send_queued_mail, sync_now
from tests.providers import GOOGLE_EMAIL, store_oauth
from tests.scheduling.helpers import connect, events_on, invitations
from yoyaku.accounts.connections import connect_exchange_calendar, disconnect_calendar
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.calendars.base import CalendarOperationNotSupported
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite
from yoyaku.scheduling.services import book_meeting, cancel_booking, reschedule_booking
from yoyaku.web.selectors import upcoming_meetings

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

OTHER_GOOGLE = "hana.private@example.com"
EXCHANGE_EMAIL = "alice@example.com"
EXCHANGE_PASSWORD = "s3cret"


@pytest.fixture
def host() -> User:
    user = make_host("hana")
    make_link(user)
    return user


@pytest.fixture
def exchange() -> Iterator[ExchangeEmulator]:
    server = start_exchange(email=EXCHANGE_EMAIL, password=EXCHANGE_PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def second_radicale() -> Iterator[RadicaleServer]:
    """Another CalDAV server, where the host's account has the same address as on the first."""
    with RadicaleServer(users={"carol": "carol-secret"}) as server:
        yield server


def connect_google(host: User, google: GoogleEmulator, email: str = GOOGLE_EMAIL) -> CalendarConnection:
    """Connect ``email``'s Google calendar, as the OAuth callback leaves it, and sync it once."""
    connection = store_oauth(
        user=host, provider="google", issued=google.issue_tokens(email.lower()), email=email
    )
    sync_now(connection)
    return connection


def connect_exchange(host: User, exchange: ExchangeEmulator) -> CalendarConnection:
    return connect_exchange_calendar(
        user=host, email=EXCHANGE_EMAIL, password=EXCHANGE_PASSWORD, ews_url=exchange.ews_url
    )


def disconnect(host: User, connection: CalendarConnection) -> None:
    disconnect_calendar(user=host, connection_id=connection.pk)


def book(host: User, start: datetime, *, email: str = "aiko@example.com") -> Booking:
    """Book ``start`` on the host's page and let the worker write the event."""
    booking = book_meeting(
        link=host.owned_links.get(),
        start=start,
        duration=30,
        time_zone="Europe/Berlin",
        first_name="Aiko",
        last_name="Sato",
        email=email,
    ).booking
    run_calendar_writes()
    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN, booking.calendar_error
    return booking


def google_start(google: GoogleEmulator, account: str, event_id: str) -> datetime:
    event = google.event(account, event_id)
    assert event is not None
    return datetime.fromisoformat(event["start"]["dateTime"]).astimezone(UTC)


def event_calls(google: GoogleEmulator) -> list[str]:
    return [r for r in google.requests if "/events" in r]


# -- another provider ------------------------------------------------------------------------


def test_a_meeting_moved_after_switching_from_google_to_caldav_is_created_on_caldav(
    host: User, google: GoogleEmulator, radicale: RadicaleServer
) -> None:
    day = future_day()
    on_google = connect_google(host, google)
    booking = book(host, berlin(day, 11))
    google_id = booking.calendar_event_id
    assert (booking.calendar_connection_id, booking.calendar_account) == (
        on_google.pk,
        f"google:{GOOGLE_EMAIL}",
    )
    disconnect(host, on_google)
    google_calls = len(event_calls(google))

    with DavProxy(target=radicale.url) as proxy:
        on_caldav, calendar = connect(host, radicale, base_url=proxy.url + "/")
        send_queued_mail()
        mail.outbox.clear()
        proxy.seen.clear()

        reschedule_booking(booking=booking, start=berlin(day, 14))
        run_calendar_writes()

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN, booking.calendar_error
    assert booking.calendar_connection_id == on_caldav.pk
    [event] = events_on(radicale, calendar)
    assert event.uid == f"yoyaku-{booking.pk}"
    assert (event.start, event.end) == (berlin(day, 14), berlin(day, 14, 30))
    # Created (If-None-Match: *, RFC 7232 §3.2), never an update of Google's id.
    [put] = [s for s in proxy.seen if s.method in ("PUT", "DELETE")]
    assert (put.method, put.headers.get("If-None-Match")) == ("PUT", "*")
    assert not [s for s in proxy.seen if google_id in s.path or google_id.encode() in s.body]
    # The booker gets an invitation to a meeting new to this calendar, not an update (SEQUENCE 0).
    [(message, itip)] = invitations("REQUEST")
    [vevent] = itip.walk("VEVENT")
    assert message.to == ["aiko@example.com"]
    assert int(vevent.get("SEQUENCE", 0)) == 0
    assert vevent.decoded("DTSTART") == berlin(day, 14).astimezone(UTC)
    # Google is no longer connected: it was not asked anything.
    assert len(event_calls(google)) == google_calls


def test_a_meeting_cancelled_after_switching_calendars_is_settled_without_calling_either(
    host: User, google: GoogleEmulator, radicale: RadicaleServer, caplog: pytest.LogCaptureFixture
) -> None:
    day = future_day()
    on_google = connect_google(host, google)
    booking = book(host, berlin(day, 11))
    google_id = booking.calendar_event_id
    disconnect(host, on_google)
    google_calls = len(event_calls(google))

    with DavProxy(target=radicale.url) as proxy:
        connect(host, radicale, base_url=proxy.url + "/")
        proxy.seen.clear()
        with caplog.at_level(logging.INFO, logger="yoyaku.scheduling.calendar_writes"):
            cancel_booking(booking=booking)
            run_calendar_writes()

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert (booking.calendar_write, booking.calendar_error) == (CalendarWrite.NONE, "")
    assert booking.calendar_event_id == google_id, "still names the event where it is"
    assert [s.method for s in proxy.seen if s.method in ("PUT", "DELETE")] == []
    assert not [s for s in proxy.seen if google_id in s.path or google_id.encode() in s.body]
    assert len(event_calls(google)) == google_calls
    assert f"its event {google_id} is on google:{GOOGLE_EMAIL}, no longer connected" in caplog.text


def test_a_meeting_on_the_same_address_of_another_caldav_server_is_written_afresh_there(
    host: User, radicale: RadicaleServer, second_radicale: RadicaleServer
) -> None:
    """A CalDAV address is the user's own when the username is not one: two servers share it."""
    day = future_day()
    first, first_calendar = connect(host, radicale)
    booking = book(host, berlin(day, 11))
    disconnect(host, first)
    second, second_calendar = connect(host, second_radicale)
    assert second.account_email == first.account_email

    reschedule_booking(booking=booking, start=berlin(day, 14))
    run_calendar_writes()

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN, booking.calendar_error
    assert booking.calendar_connection_id == second.pk
    [event] = events_on(second_radicale, second_calendar)
    assert (event.start, event.uid) == (berlin(day, 14), f"yoyaku-{booking.pk}")
    [left] = events_on(radicale, first_calendar)
    assert (left.start, left.cancelled) == (berlin(day, 11), False), "no longer connected: untouched"


# -- the same account again ------------------------------------------------------------------


def test_the_same_google_account_connected_again_keeps_its_events(host: User, google: GoogleEmulator) -> None:
    day = future_day()
    first = connect_google(host, google)
    moved = book(host, berlin(day, 11))
    cancelled = book(host, berlin(day, 15), email="ken@example.com")
    disconnect(host, first)
    # A new connection row; the address as the provider spells it this time.
    again = connect_google(host, google, email=GOOGLE_EMAIL.upper())
    assert again.pk != first.pk

    reschedule_booking(booking=moved, start=berlin(day, 13))
    cancel_booking(booking=cancelled)
    run_calendar_writes()

    moved.refresh_from_db()
    cancelled.refresh_from_db()
    assert (moved.calendar_write, moved.calendar_connection_id) == (CalendarWrite.WRITTEN, again.pk)
    assert google_start(google, GOOGLE_EMAIL, moved.calendar_event_id) == berlin(day, 13)
    assert len(google.events(GOOGLE_EMAIL)) == 1, "moved in place, not written twice; the other cancelled"
    assert cancelled.calendar_write == CalendarWrite.CANCELLED, cancelled.calendar_error
    gone = google.event(GOOGLE_EMAIL, cancelled.calendar_event_id)
    assert gone is None or gone["status"] == "cancelled"


# -- what Yoyaku refuses ---------------------------------------------------------------------


def test_a_meeting_on_exchange_stays_refused_after_switching_to_google(
    host: User, exchange: ExchangeEmulator, google: GoogleEmulator
) -> None:
    """The meeting is still in Outlook, with the booker's invitation from it: the host changes it there."""
    day = future_day()
    on_exchange = connect_exchange(host, exchange)
    booking = book(host, berlin(day, 11))
    disconnect(host, on_exchange)
    connect_google(host, google)
    on_google = book(host, berlin(day, 14), email="ken@example.com")

    with pytest.raises(CalendarOperationNotSupported, match="cancel it in Outlook"):
        cancel_booking(booking=booking)
    with pytest.raises(CalendarOperationNotSupported, match="reschedule it in Outlook"):
        reschedule_booking(booking=booking, start=berlin(day, 16))

    booking.refresh_from_db()
    assert (booking.status, booking.start) == (BookingStatus.CONFIRMED, berlin(day, 11))
    # The dashboard says the same, each meeting judged by its own calendar.
    refusals = {m.booking.pk: m.cancel_refusal for m in upcoming_meetings(user=host, now=timezone.now())}
    assert "Outlook" in refusals[booking.pk]
    assert refusals[on_google.pk] == ""


def test_a_meeting_on_google_can_be_changed_after_switching_to_exchange(
    host: User, google: GoogleEmulator, exchange: ExchangeEmulator
) -> None:
    """Not refused with Outlook's words: the meeting is not in Outlook. A move writes it there anew."""
    day = future_day()
    on_google = connect_google(host, google)
    moved = book(host, berlin(day, 11))
    cancelled = book(host, berlin(day, 15), email="ken@example.com")
    disconnect(host, on_google)
    on_exchange = connect_exchange(host, exchange)

    reschedule_booking(booking=moved, start=berlin(day, 13))
    cancel_booking(booking=cancelled)
    run_calendar_writes()

    moved.refresh_from_db()
    cancelled.refresh_from_db()
    assert (moved.calendar_write, moved.calendar_connection_id) == (CalendarWrite.WRITTEN, on_exchange.pk)
    [created] = exchange.events()
    assert created.start.astimezone(UTC) == berlin(day, 13).astimezone(UTC)
    assert "aiko@example.com" in created.required_attendees
    assert (cancelled.status, cancelled.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.NONE)


def test_the_dashboard_judges_meetings_in_a_fixed_number_of_queries(
    host: User, exchange: ExchangeEmulator, google: GoogleEmulator
) -> None:
    day = future_day()
    on_exchange = connect_exchange(host, exchange)
    book(host, berlin(day, 10))
    disconnect(host, on_exchange)
    connect_google(host, google)
    book(host, berlin(day, 11), email="ken@example.com")

    def queries() -> int:
        with CaptureQueriesContext(db_connection) as captured:
            upcoming_meetings(user=host, now=timezone.now())
        return len(captured)

    two = queries()
    book(host, berlin(day, 12), email="mio@example.com")
    book(host, berlin(day, 13), email="ren@example.com")
    assert queries() == two


# -- following the calendar ------------------------------------------------------------------


def test_a_calendar_connected_again_never_pulls_back_a_meeting_written_elsewhere_since(
    host: User, google: GoogleEmulator
) -> None:
    """Google derives the event id from the booking's UID: the event the move left behind on the
    first account carries the same id as the one it wrote on the second."""
    google.add_account(OTHER_GOOGLE)
    day = future_day()
    first = connect_google(host, google)
    booking = book(host, berlin(day, 11))
    disconnect(host, first)
    second = connect_google(host, google, email=OTHER_GOOGLE)
    reschedule_booking(booking=booking, start=berlin(day, 14))
    run_calendar_writes()
    booking.refresh_from_db()
    assert booking.calendar_connection_id == second.pk
    assert google_start(google, OTHER_GOOGLE, booking.calendar_event_id) == berlin(day, 14)
    assert google_start(google, GOOGLE_EMAIL, booking.calendar_event_id) == berlin(day, 11), "left behind"

    disconnect(host, second)
    connect_google(host, google)  # its first sync lists the event left behind, at 11

    booking.refresh_from_db()
    assert (booking.status, booking.start) == (BookingStatus.CONFIRMED, berlin(day, 14))
    assert booking.calendar_conflict_start is None


def test_a_meeting_written_before_connections_were_recorded_follows_the_meetings_calendar(
    host: User, google: GoogleEmulator
) -> None:
    day = future_day()
    connection = connect_google(host, google)
    booking = book(host, berlin(day, 11))
    sync_now(connection)
    Booking.objects.filter(pk=booking.pk).update(calendar_connection=None, calendar_account="")

    start = berlin(day, 14).astimezone(UTC)
    google.update_event(
        GOOGLE_EMAIL,
        booking.calendar_event_id,
        {
            "start": {"dateTime": start.isoformat().replace("+00:00", "Z")},
            "end": {"dateTime": (start + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")},
        },
    )
    sync_now(connection)

    booking.refresh_from_db()
    assert booking.start == berlin(day, 14)
