"""Following calendar changes in bulk: a fixed number of queries, whatever the number of events;
conflicts refused by PostgreSQL are recorded, never raised; Exchange never follows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import make_host, make_link
from yoyaku.accounts.models import CalendarConnection, Provider, User
from yoyaku.calendar_sync.changes import StoreChanges
from yoyaku.calendar_sync.models import SyncedEvent
from yoyaku.crm.models import Meeting
from yoyaku.scheduling import calendar_changes
from yoyaku.scheduling.calendar_changes import follow_booked_events
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, Reservation

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAY = NOW + timedelta(days=3)


def calendar_of(host: User, provider: str = Provider.GOOGLE) -> CalendarConnection:
    connection = CalendarConnection(user=host, provider=provider, account_email=host.email)
    connection.secret = "{}"
    connection.save()
    return connection


def booked(host: User, *, count: int, connection: CalendarConnection | None = None) -> list[Booking]:
    """``count`` written bookings of ``host`` an hour apart, each with its reservation, CRM meeting
    and stored event (at the booked time, the booker's answer not given yet)."""
    link = host.owned_links.get()
    connection = connection or CalendarConnection.objects.get(user=host)
    bookings, reservations, events = [], [], []
    for n in range(count):
        start = DAY + timedelta(hours=n)
        meeting = Meeting.objects.create(
            workspace=host.workspace,
            title=f"M{n}",
            start=start,
            end=start + timedelta(minutes=30),
            source="booking",
        )
        booking = Booking(
            id=uuid.uuid4(),
            link=link,
            status=BookingStatus.CONFIRMED,
            start=start,
            end=start + timedelta(minutes=30),
            time_zone="UTC",
            first_name="A",
            last_name=str(n),
            email=f"a{n}@example.com",
            assigned_host=host,
            meeting=meeting,
            calendar_event_id=f"event-{n}",
            calendar_write=CalendarWrite.WRITTEN,
        )
        bookings.append(booking)
        reservations.append(
            Reservation(booking=booking, host=host, start=booking.start, end=booking.end)  # type: ignore[misc]
        )
        events.append(
            SyncedEvent(
                connection=connection,
                calendar_id="primary",
                event_id=f"event-{n}",
                start=booking.start,
                end=booking.end,
                start_epoch=int(start.timestamp()),
                end_epoch=int(start.timestamp()) + 1800,
                attendees=[{"email": f"a{n}@example.com", "name": "", "response": "accepted"}],
                synced_at=NOW,
            )
        )
    Booking.objects.bulk_create(bookings)
    Reservation.objects.bulk_create(reservations)
    SyncedEvent.objects.bulk_create(events)
    return bookings


def changes_of(
    connection: CalendarConnection, *, changed: set[str], removed: set[str] = frozenset()
) -> StoreChanges:  # type: ignore[assignment]
    return StoreChanges(
        connection_id=connection.pk,
        calendar_id="primary",
        changed_event_ids=frozenset(changed),
        removed_event_ids=frozenset(removed),
        full=False,
        window_start=NOW - timedelta(days=31),
        window_end=NOW + timedelta(days=400),
    )


def queries_to_follow(connection: CalendarConnection, bookings: list[Booking], *, moved: Booking) -> int:
    SyncedEvent.objects.filter(event_id=moved.calendar_event_id).update(
        start=moved.start - timedelta(days=1),
        end=moved.end - timedelta(days=1),  # type: ignore[operator]
    )
    changes = changes_of(connection, changed={b.calendar_event_id for b in bookings} | {"not-ours"})
    with CaptureQueriesContext(db) as captured:
        follow_booked_events(connection=connection, changes=changes, now=timezone.now())
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_number_of_events() -> None:
    small_host, large_host = make_host("few"), make_host("many")
    for user in (small_host, large_host):
        make_link(user, slug=user.username)
        calendar_of(user)
    small = booked(small_host, count=3)
    large = booked(large_host, count=400)

    few = queries_to_follow(CalendarConnection.objects.get(user=small_host), small, moved=small[0])
    many = queries_to_follow(CalendarConnection.objects.get(user=large_host), large, moved=large[0])

    # One query per 500 ids for each read, one statement run for every row for each write.
    assert few == many, (few, many)
    assert Booking.objects.get(pk=large[5].pk).attendee_responses == {"a5@example.com": "accepted"}
    assert Booking.objects.get(pk=large[0].pk).start == large[0].start - timedelta(days=1)  # type: ignore[operator]


@pytest.mark.postgres
def test_a_move_the_database_refuses_is_recorded_as_a_conflict_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A booking that committed the new time after the sync read the reservations: PostgreSQL's
    exclusion constraint refuses the move, and the sync records the conflict and goes on."""
    if db.vendor != "postgresql":
        pytest.skip("The exclusion constraint is PostgreSQL's; SQLite serialises writers instead.")
    host = make_host()
    make_link(host)
    connection = calendar_of(host)
    moving, taken = booked(host, count=2)
    # As if the other booking were not there when the reservations were read.
    monkeypatch.setattr(calendar_changes, "_first_collision", lambda **_kwargs: None)
    SyncedEvent.objects.filter(event_id=moving.calendar_event_id).update(start=taken.start, end=taken.end)

    follow_booked_events(
        connection=connection,
        changes=changes_of(connection, changed={moving.calendar_event_id}),
        now=timezone.now(),
    )

    moving.refresh_from_db()
    assert moving.start == DAY
    assert (moving.calendar_conflict_start, moving.calendar_conflict_with_id) == (taken.start, taken.pk)
    assert Reservation.objects.get(booking=moving).start == DAY


def test_exchange_follows_nothing() -> None:
    host = make_host()
    make_link(host)
    connection = calendar_of(host, provider=Provider.EXCHANGE)
    [booking] = booked(host, count=1)

    follow_booked_events(
        connection=connection,
        changes=changes_of(connection, changed=set(), removed={booking.calendar_event_id}),
        now=timezone.now(),
    )

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED


def test_only_the_connection_bookings_are_written_to_counts() -> None:
    """A legacy account's second connection (calendar settings) does not move its bookings."""
    host = make_host()
    make_link(host)
    meetings = calendar_of(host)
    other = CalendarConnection(
        user=host, provider=Provider.GOOGLE, account_email="x@example.com", purpose="calendar_settings"
    )
    other.secret = "{}"
    other.save()
    [booking] = booked(host, count=1, connection=meetings)

    follow_booked_events(
        connection=other,
        changes=changes_of(other, changed=set(), removed={booking.calendar_event_id}),
        now=NOW,
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED

    follow_booked_events(
        connection=meetings,
        changes=changes_of(meetings, changed=set(), removed={booking.calendar_event_id}),
        now=NOW,
    )
    booking.refresh_from_db()
    assert (booking.status, booking.cancelled_by) == (BookingStatus.CANCELLED, "calendar")


def test_a_full_listing_deletes_only_what_its_window_could_see() -> None:
    host = make_host()
    make_link(host)
    connection = calendar_of(host)
    [booking] = booked(host, count=1)
    beyond = StoreChanges(
        connection_id=connection.pk,
        calendar_id="primary",
        changed_event_ids=frozenset({"other"}),
        removed_event_ids=frozenset({booking.calendar_event_id}),
        full=True,
        window_start=NOW - timedelta(days=31),
        window_end=DAY,  # the booking lies past what this listing read
    )

    follow_booked_events(connection=connection, changes=beyond, now=NOW)

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
