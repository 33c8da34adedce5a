"""The sync engines against the Google and Microsoft emulators and a real CalDAV server (Radicale):
what changes on the calendar shows in the busy index after one sync, and nothing else does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from django.utils import timezone

from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, sync_now
from tests.providers import GOOGLE_EMAIL
from tests.scheduling.helpers import connect
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.calendar_sync.busy import read_busy
from yoyaku.calendar_sync.models import CalendarSyncState, ConnectionSync, SyncedEvent
from yoyaku.calendar_sync.services import apply_sync_result, rebuild_index
from yoyaku.calendars.base import RemoteEvent, SyncResult
from yoyaku.emulators.microsoft import graph_time

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    return make_host()


def day_at(hour: int, *, days: int = 3) -> datetime:
    """A time a few days ahead, on the hour, in UTC."""
    base = (timezone.now() + timedelta(days=days)).astimezone(UTC)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


def indexed(connection: CalendarConnection, *, days: int = 3) -> list[tuple[datetime, datetime]]:
    """The busy spans the pages would see that day, read from the index only."""
    start = day_at(0, days=days)
    pairs = read_busy(connection=connection, start=start, end=start + timedelta(days=1))
    return [(datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC)) for a, b in pairs]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- Google ---------------------------------------------------------------------------------------


def test_google_event_added_moved_and_deleted_shows_after_one_sync(
    connected_google: GoogleEmulator, host: User
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    sync_now(connection)
    assert indexed(connection) == []

    event = connected_google.add_event(
        GOOGLE_EMAIL,
        {
            "summary": "Dentist",
            "start": {"dateTime": rfc3339(day_at(10))},
            "end": {"dateTime": rfc3339(day_at(11))},
            "attendees": [{"email": "aiko@example.com", "responseStatus": "tentative"}],
        },
    )
    sync_now(connection)
    assert indexed(connection) == [(day_at(10), day_at(11))]
    row = SyncedEvent.objects.get(connection=connection, event_id=event["id"])
    assert (row.title, row.show_as, row.status) == ("Dentist", "busy", "confirmed")
    assert {"email": "aiko@example.com", "name": "", "response": "tentative"} in row.attendees
    assert row.ical_uid and row.etag

    connected_google.update_event(
        GOOGLE_EMAIL,
        event["id"],
        {"start": {"dateTime": rfc3339(day_at(14))}, "end": {"dateTime": rfc3339(day_at(15))}},
    )
    sync_now(connection)
    assert indexed(connection) == [(day_at(14), day_at(15))]

    connected_google.delete_event(GOOGLE_EMAIL, event["id"])
    sync_now(connection)
    assert indexed(connection) == []
    assert not SyncedEvent.objects.filter(connection=connection).exists()


def test_google_expired_sync_token_makes_a_full_resync(connected_google: GoogleEmulator, host: User) -> None:
    connection = CalendarConnection.objects.get(user=host)
    kept = connected_google.add_event(
        GOOGLE_EMAIL, {"start": {"dateTime": rfc3339(day_at(9))}, "end": {"dateTime": rfc3339(day_at(10))}}
    )
    gone = connected_google.add_event(
        GOOGLE_EMAIL, {"start": {"dateTime": rfc3339(day_at(12))}, "end": {"dateTime": rfc3339(day_at(13))}}
    )
    sync_now(connection)
    first_full = CalendarSyncState.objects.get(connection=connection).full_synced_at
    assert len(indexed(connection)) == 2

    connected_google.expire_sync_tokens()
    connected_google.delete_event(GOOGLE_EMAIL, gone["id"])
    sync_now(connection)

    state = CalendarSyncState.objects.get(connection=connection)
    assert state.full_synced_at is not None and first_full is not None and state.full_synced_at > first_full
    assert indexed(connection) == [(day_at(9), day_at(10))]
    assert list(SyncedEvent.objects.filter(connection=connection).values_list("event_id", flat=True)) == [
        kept["id"]
    ]


def test_google_recurring_series_is_stored_as_instances(connected_google: GoogleEmulator, host: User) -> None:
    connection = CalendarConnection.objects.get(user=host)
    connected_google.add_event(
        GOOGLE_EMAIL,
        {
            "summary": "Standup",
            "start": {"dateTime": rfc3339(day_at(8)), "timeZone": "UTC"},
            "end": {"dateTime": rfc3339(day_at(8) + timedelta(minutes=15)), "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"],
        },
    )
    sync_now(connection)

    rows = SyncedEvent.objects.filter(connection=connection).order_by("start")
    assert rows.count() == 5
    assert all(r.series_id and r.recurrence_id for r in rows)
    for offset in range(5):
        assert indexed(connection, days=3 + offset) == [
            (day_at(8, days=3 + offset), day_at(8, days=3 + offset) + timedelta(minutes=15))
        ]


# -- Microsoft 365 -------------------------------------------------------------------------------


def test_microsoft_event_added_moved_and_deleted_shows_after_one_sync(
    connected_microsoft: MicrosoftEmulator, host: User
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    sync_now(connection)
    assert indexed(connection) == []

    event_id = connected_microsoft.add_event(
        subject="Dentist", start=day_at(10), end=day_at(11), attendees=[("aiko@example.com", "declined")]
    )
    sync_now(connection)
    assert indexed(connection) == [(day_at(10), day_at(11))]
    row = SyncedEvent.objects.get(connection=connection, event_id=event_id)
    assert row.attendees == [
        {"email": "aiko@example.com", "name": "aiko@example.com", "response": "declined"}
    ]

    connected_microsoft.update_event(event_id, start=graph_time(day_at(14)), end=graph_time(day_at(15)))
    sync_now(connection)
    assert indexed(connection) == [(day_at(14), day_at(15))]

    connected_microsoft.delete_event(event_id)
    sync_now(connection)
    assert indexed(connection) == []


def test_microsoft_expired_delta_token_makes_a_full_resync(
    connected_microsoft: MicrosoftEmulator, host: User
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    connected_microsoft.add_event(start=day_at(9), end=day_at(10))
    sync_now(connection)
    connected_microsoft.expire_delta_tokens()
    connected_microsoft.add_event(start=day_at(12), end=day_at(13))

    sync_now(connection)

    assert indexed(connection) == [(day_at(9), day_at(10)), (day_at(12), day_at(13))]


def test_microsoft_recurring_series_is_stored_as_instances(
    connected_microsoft: MicrosoftEmulator, host: User
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    first = day_at(8)
    connected_microsoft.add_event(
        subject="Standup",
        start=first,
        end=first + timedelta(minutes=15),
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": first.date().isoformat(), "numberOfOccurrences": 4},
        },
    )
    sync_now(connection)

    for offset in range(4):
        assert indexed(connection, days=3 + offset) == [
            (day_at(8, days=3 + offset), day_at(8, days=3 + offset) + timedelta(minutes=15))
        ]
    assert indexed(connection, days=7) == []


# -- CalDAV (Radicale) ---------------------------------------------------------------------------


def ical(uid: str, start: datetime, end: datetime, *, rrule: str = "") -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Yoyaku tests//EN")
    calendar.add("VERSION", "2.0")
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", datetime.now(UTC))
    event.add("DTSTART", start)
    event.add("DTEND", end)
    event.add("SUMMARY", "Dentist")
    if rrule:
        event.add("RRULE", icalendar.vRecur.from_ical(rrule))
    calendar.add_component(event)
    return calendar.to_ical()


def test_caldav_event_added_moved_and_deleted_shows_after_one_sync(
    radicale: RadicaleServer, host: User
) -> None:
    connection, calendar = connect(host, radicale)
    uid = f"{uuid.uuid4()}@client.test"

    [url] = radicale.seed(calendar, [ical(uid, day_at(10), day_at(11))])
    sync_now(connection)
    assert indexed(connection) == [(day_at(10), day_at(11))]
    assert SyncedEvent.objects.get(connection=connection).ical_uid == uid

    radicale.seed(calendar, [ical(uid, day_at(14), day_at(15))])
    sync_now(connection)
    assert indexed(connection) == [(day_at(14), day_at(15))]

    radicale.delete(url)
    sync_now(connection)
    assert indexed(connection) == []
    assert not SyncedEvent.objects.filter(connection=connection).exists()


def test_caldav_invalid_sync_token_makes_a_full_resync(radicale: RadicaleServer, host: User) -> None:
    connection, calendar = connect(host, radicale)
    radicale.seed(calendar, [ical(f"{uuid.uuid4()}@t", day_at(10), day_at(11))])
    sync_now(connection)
    CalendarSyncState.objects.filter(connection=connection).update(token="http://radicale.org/ns/sync/nope")
    stale = SyncedEvent.objects.get(connection=connection)
    SyncedEvent.objects.create(
        connection=connection,
        calendar_id=stale.calendar_id,
        event_id=stale.event_id + "-deleted-meanwhile",
        start=day_at(16),
        end=day_at(17),
        start_epoch=int(day_at(16).timestamp()),
        end_epoch=int(day_at(17).timestamp()),
        synced_at=timezone.now(),
    )

    sync_now(connection)

    assert indexed(connection) == [(day_at(10), day_at(11))]
    assert SyncedEvent.objects.filter(connection=connection).count() == 1


def test_caldav_recurring_series_is_expanded_into_instances(radicale: RadicaleServer, host: User) -> None:
    connection, calendar = connect(host, radicale)
    radicale.seed(calendar, [ical(f"{uuid.uuid4()}@t", day_at(8), day_at(9), rrule="FREQ=WEEKLY;INTERVAL=1")])
    sync_now(connection)

    # An open-ended weekly series: an instance every week for more than a year ahead.
    rows = SyncedEvent.objects.filter(connection=connection)
    assert rows.count() > 52
    assert indexed(connection, days=3 + 7 * 52) == [(day_at(8, days=3 + 7 * 52), day_at(9, days=3 + 7 * 52))]
    assert indexed(connection, days=4) == []


def test_applying_the_same_result_twice_changes_nothing_more(radicale: RadicaleServer, host: User) -> None:
    connection, _calendar = connect(host, radicale)
    event = RemoteEvent(id="https://cal.example/a.ics", uid="a", title="A", start=day_at(10), end=day_at(11))
    result = SyncResult(changed=[event], token="t1")
    now = timezone.now()

    for _ in range(2):
        apply_sync_result(connection=connection, calendar_id="c", result=result, now=now)
        rebuild_index(connection=connection, now=now)

    assert SyncedEvent.objects.filter(connection=connection).count() == 1
    assert indexed(connection) == [(day_at(10), day_at(11))]
    assert ConnectionSync.objects.get(connection=connection).busy_index


def test_google_series_deleted_leaves_no_instance(connected_google: GoogleEmulator, host: User) -> None:
    connection = CalendarConnection.objects.get(user=host)
    series = connected_google.add_event(
        GOOGLE_EMAIL,
        {
            "start": {"dateTime": rfc3339(day_at(8)), "timeZone": "UTC"},
            "end": {"dateTime": rfc3339(day_at(9)), "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
        },
    )
    sync_now(connection)
    assert SyncedEvent.objects.filter(connection=connection).count() == 3

    connected_google.delete_event(GOOGLE_EMAIL, series["id"])
    sync_now(connection)

    assert not SyncedEvent.objects.filter(connection=connection).exists()
    assert indexed(connection) == []


def test_microsoft_series_deleted_leaves_no_instance(
    connected_microsoft: MicrosoftEmulator, host: User
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    first = day_at(8)
    series = connected_microsoft.add_event(
        start=first,
        end=first + timedelta(hours=1),
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": first.date().isoformat(), "numberOfOccurrences": 3},
        },
    )
    sync_now(connection)
    assert indexed(connection) == [(day_at(8), day_at(9))]

    connected_microsoft.delete_event(series)
    sync_now(connection)

    assert indexed(connection) == []
