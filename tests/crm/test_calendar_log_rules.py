"""The rules of logging calendar events in the CRM that need no provider: which connection feeds it,
what is never logged twice, Exchange, complete listings, recurring instances and bulk speed. Results are
applied as the sync applies them (``apply_sync_result``), which hands them to the CRM in its transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import connect_caldav, make_host, make_link, sync_now
from tests.scheduling.helpers import berlin, book, connect
from yoyaku.accounts.models import CalendarConnection, CalendarLogScope, ConnectionPurpose, Provider, User
from yoyaku.calendar_sync.changes import StoreChanges
from yoyaku.calendar_sync.models import SyncedEvent
from yoyaku.calendar_sync.services import apply_sync_result
from yoyaku.calendars.base import SYNC_FUTURE, SYNC_PAST, Attendee, BusyInterval, RemoteEvent, SyncResult
from yoyaku.crm.calendar_log import log_calendar_events
from yoyaku.crm.models import CalendarEventLink, Contact, Meeting
from yoyaku.crm.services import create_contact, create_crm_meeting

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

AIKO = Attendee(email="aiko@example.com", name="Aiko Sato", response="accepted")


@pytest.fixture
def host() -> User:
    return make_host()


@pytest.fixture
def aiko(host: User) -> Contact:
    return create_contact(workspace=host.workspace, email="aiko@example.com")


def caldav(user: User, *, purpose: str = ConnectionPurpose.MEETINGS) -> CalendarConnection:
    """A CalDAV connection nothing here calls: results are handed to the store directly."""
    connection = connect_caldav(
        user,
        server_url="https://cal.example/",
        username="u",
        password="p",
        calendar_url=f"https://cal.example/{uuid.uuid4().hex}/",
    )
    CalendarConnection.objects.filter(pk=connection.pk).update(purpose=purpose)
    connection.refresh_from_db()
    return connection


def soon(hour: int, *, days: int = 3) -> datetime:
    base = (timezone.now() + timedelta(days=days)).astimezone(UTC)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


def event(event_id: str, *, hour: int = 10, days: int = 3, **fields: object) -> RemoteEvent:
    fields.setdefault("attendees", (AIKO,))
    fields.setdefault("title", f"Event {event_id}")
    fields.setdefault("uid", f"{event_id}@client.test")
    return RemoteEvent(
        id=event_id,
        start=soon(hour, days=days),
        end=soon(hour + 1, days=days),
        **fields,  # type: ignore[arg-type]
    )


def apply(
    connection: CalendarConnection, *events: RemoteEvent, full: bool = False, removed: list[str] | None = None
) -> None:
    result = SyncResult(changed=list(events), removed=removed or [], token=uuid.uuid4().hex, full=full)
    apply_sync_result(connection=connection, calendar_id="cal", result=result, now=timezone.now())


def logged() -> list[Meeting]:
    return list(Meeting.objects.filter(source="calendar").order_by("start", "pk"))


def test_a_legacy_account_logs_only_its_calendar_settings_connection(host: User, aiko: Contact) -> None:
    calendar_settings = caldav(host, purpose=ConnectionPurpose.CALENDAR_SETTINGS)
    meetings_tool = caldav(host, purpose=ConnectionPurpose.MEETINGS)

    apply(meetings_tool, event("from-meetings-tool"))
    apply(calendar_settings, event("from-calendar-settings", hour=14))

    assert [m.title for m in logged()] == ["Event from-calendar-settings"]
    assert CalendarEventLink.objects.get().connection == calendar_settings


def test_exchange_never_logs(host: User, aiko: Contact) -> None:
    connection = CalendarConnection.objects.create(
        user=host, provider=Provider.EXCHANGE, account_email=host.email
    )
    SyncedEvent.objects.create(
        connection=connection,
        calendar_id="cal",
        event_id="x",
        start=soon(10),
        end=soon(11),
        attendees=[{"email": "aiko@example.com", "name": "", "response": "accepted"}],
        synced_at=timezone.now(),
    )
    now = timezone.now()
    changes = StoreChanges(
        connection_id=connection.pk,
        calendar_id="cal",
        changed_event_ids=frozenset({"x"}),
        removed_event_ids=frozenset(),
        full=False,
        window_start=now - SYNC_PAST,
        window_end=now + SYNC_FUTURE,
    )

    log_calendar_events(connection=connection, changes=changes, now=now)

    assert logged() == []


def test_a_bookings_event_is_not_logged_a_second_time(radicale: RadicaleServer, host: User) -> None:
    connection, _calendar = connect(host, radicale)
    booking = book(make_link(host), berlin(10)).booking
    assert booking.calendar_event_id

    sync_now(connection)

    assert SyncedEvent.objects.filter(connection=connection, event_id=booking.calendar_event_id).exists()
    assert logged() == []
    assert Meeting.objects.get().source == "booking"


def test_a_crm_meetings_event_is_not_logged_a_second_time(host: User, aiko: Contact) -> None:
    connection = caldav(host)
    meeting = create_crm_meeting(host=host, contacts=[aiko], title="Demo", start=soon(10), end=soon(11))
    Meeting.objects.filter(pk=meeting.pk).update(calendar_event_id="crm-event")

    apply(connection, event("crm-event"), event("other", hour=14, uid="yoyaku-meeting-999"))

    assert logged() == []


def test_a_google_attendee_copy_of_a_yoyaku_event_is_not_logged(host: User, aiko: Contact) -> None:
    connection = caldav(host)
    other = make_host("kenji")
    create_crm_meeting(host=other, contacts=[aiko], title="Demo", start=soon(10), end=soon(11))
    Meeting.objects.filter(title="Demo").update(calendar_event_id="abc123")

    apply(connection, event("kenjis-copy", uid="abc123@google.com"))

    assert logged() == []


def test_a_co_hosts_copy_of_a_yoyaku_event_is_not_logged(host: User, aiko: Contact) -> None:
    """Microsoft 365 gives an attendee's copy its own id and Yoyaku does not choose the iCalUID: the
    organizer's calendar, synced in the same workspace, tells it is Yoyaku's event."""
    kenji = make_host("kenji")
    organizer = caldav(kenji)
    meeting = create_crm_meeting(host=kenji, contacts=[aiko], title="Demo", start=soon(10), end=soon(11))
    Meeting.objects.filter(pk=meeting.pk).update(calendar_event_id="kenjis-event")
    apply(organizer, event("kenjis-event", uid="040000008200E00074C5B7101A82E008"))

    apply(caldav(host), event("hanas-copy", uid="040000008200E00074C5B7101A82E008"))

    assert logged() == []


def test_a_finished_meeting_keeps_its_history_when_its_event_is_deleted(host: User, aiko: Contact) -> None:
    connection = caldav(host)
    apply(connection, event("last-week", days=-7), event("next-week", days=7))

    apply(connection, removed=["last-week", "next-week"])

    assert [(m.title, m.outcome) for m in logged()] == [
        ("Event last-week", "scheduled"),
        ("Event next-week", "cancelled"),
    ]


def test_a_complete_listing_cancels_only_what_it_could_see(host: User, aiko: Contact) -> None:
    connection = caldav(host)
    apply(connection, event("near"), event("far", days=300))
    assert len(logged()) == 2
    # As if the listing's window had stopped short of the far meeting (Graph's calendar view, CalDAV's
    # expansion): a listing without it says nothing of it.
    beyond = timezone.now() + SYNC_FUTURE + timedelta(days=9)
    Meeting.objects.filter(title="Event far").update(start=beyond, end=beyond + timedelta(hours=1))

    apply(connection, full=True)

    outcomes = {m.title: m.outcome for m in logged()}
    assert outcomes == {"Event near": "cancelled", "Event far": "scheduled"}


def test_an_old_event_is_not_logged_and_an_instance_bound_applies(host: User, aiko: Contact) -> None:
    connection = caldav(host)
    series = [
        event(
            "weekly", days=3 + 7 * week, recurrence_id=f"2027-01-{week + 1:02d}T10:00:00Z", series_id="weekly"
        )
        for week in range(10)
    ]
    apply(connection, event("long-ago", days=-60), *series)

    assert [m.start for m in logged()] == [soon(10, days=3 + 7 * week) for week in range(4)]


def test_a_caldav_series_is_expanded_but_logged_within_the_bound(host: User, aiko: Contact) -> None:
    connection = caldav(host)
    starts = [soon(9, days=2 + 7 * week) for week in range(20)]
    weekly = RemoteEvent(
        id="https://cal.example/weekly.ics",
        uid="weekly@client.test",
        title="Weekly sync",
        start=starts[0],
        end=starts[0] + timedelta(hours=1),
        attendees=(AIKO,),
        expanded=True,
        occurrences=tuple(BusyInterval(start=s, end=s + timedelta(hours=1), status="busy") for s in starts),
    )
    apply(connection, weekly)
    assert [m.start for m in logged()] == starts[:5]

    # The instance of next week is taken out of the series (an EXDATE): its meeting is cancelled.
    apply(
        connection,
        RemoteEvent(**{**_fields(weekly), "occurrences": weekly.occurrences[:1] + weekly.occurrences[2:]}),
    )
    assert [m.outcome for m in logged()] == ["scheduled", "cancelled", "scheduled", "scheduled", "scheduled"]


def reads(log: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in log.captured_queries if q["sql"].startswith("SELECT")]


def _fields(remote: RemoteEvent) -> dict[str, object]:
    return {name: getattr(remote, name) for name in remote.__dataclass_fields__}


def test_ten_thousand_events_take_a_bounded_number_of_queries(host: User) -> None:
    connection = caldav(host)
    people = [create_contact(workspace=host.workspace, email=f"p{i}@example.com") for i in range(50)]
    events = [
        event(
            f"e{i}",
            hour=i % 20,
            days=1 + i % 300,
            attendees=(Attendee(email=people[i % 50].email.upper(), response="accepted"),),
        )
        for i in range(2000)
    ]
    with CaptureQueriesContext(db) as first:
        apply(connection, *events)
    assert len(logged()) == 2000
    # Four chunks of 500 ids: reads grow with the chunks, never with the events; inserts are bulk
    # (in batches SQLite's 999 variables allow, so a few dozen here, one per 500 rows on PostgreSQL).
    assert len(reads(first)) <= 6 * 4 + 10
    assert len(first.captured_queries) < len(events) / 10

    moved = [RemoteEvent(**{**_fields(e), "title": "Renamed"}) for e in events]
    with CaptureQueriesContext(db) as again:
        apply(connection, *moved)
    assert len(reads(again)) <= 6 * 4 + 10
    assert len(again.captured_queries) < len(events) / 10
    assert set(Meeting.objects.values_list("title", flat=True)) == {"Renamed"}


def test_the_external_scope_makes_contacts_only_of_events_it_logs(host: User) -> None:
    connection = caldav(host)
    workspace = host.workspace
    workspace.calendar_log_scope = CalendarLogScope.EXTERNAL
    workspace.save()
    stranger = (Attendee(email="ren@client.example", name="Ren Ito", response="accepted"),)
    declined = (*stranger, Attendee(email=host.email, response="declined"))

    apply(
        connection,
        event("cancelled", status="cancelled", attendees=stranger),
        event("declined", attendees=declined),
        event("room", attendees=(Attendee(email="4f@resource.calendar.google.com"),)),
        event("too-old", days=-90, attendees=stranger),
    )
    assert logged() == [] and not Contact.objects.exists()

    apply(connection, event("lunch", attendees=stranger))
    [meeting] = logged()
    assert [c.email for c in meeting.contacts.all()] == ["ren@client.example"]
    assert Contact.objects.get().first_name == "Ren Ito"
