"""Background sync: one sync per connection at a time, the jittered fallback poll, and the syncs
that connecting a calendar and writing a booking to it start."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link
from tests.scheduling.helpers import NOW, berlin, book, connect
from yoyaku.accounts.connections import connect_caldav_calendar
from yoyaku.accounts.models import CalendarConnection
from yoyaku.calendar_sync import tasks
from yoyaku.calendar_sync.models import ConnectionSync, SyncedEvent

pytestmark = pytest.mark.django_db


def synced_at(connection: CalendarConnection) -> Any:
    row = ConnectionSync.objects.filter(connection=connection).first()
    return None if row is None else row.last_success_at


def test_a_connection_being_synced_is_not_synced_twice_at_once(
    radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection, _calendar = connect(make_host(), radicale, sync=False)
    later: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.sync_connection, "schedule", lambda args, delay: later.append((args, delay)))

    assert tasks.take_lease(connection_id=connection.pk)  # another consumer is syncing it
    assert not tasks.take_lease(connection_id=connection.pk)
    tasks.sync_connection(connection.pk)
    assert synced_at(connection) is None
    # Asked again for after the running sync, so a change notified meanwhile is still read.
    assert later == [((connection.pk,), tasks.LOCKED_RETRY_SECONDS)]

    # A consumer that died mid-sync holds nothing for good: its lease lapses.
    ConnectionSync.objects.filter(connection=connection).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    tasks.sync_connection(connection.pk)
    assert synced_at(connection) is not None
    assert ConnectionSync.objects.get(connection=connection).lease_until is None  # released after the sync


@override_settings(
    YOYAKU_SYNC_POLL_SECONDS={"caldav": 600, "google": 600, "microsoft": 600, "exchange": 600},
    YOYAKU_SYNC_POLL_JITTER=0.25,
)
def test_the_poll_syncs_what_is_due_on_a_jittered_schedule(radicale: RadicaleServer) -> None:
    due, _ = connect(make_host("hana"), radicale, sync=False)
    fresh, _ = connect(make_host("ken"), radicale)
    ConnectionSync.objects.filter(connection=fresh).update(next_poll_at=timezone.now() + timedelta(minutes=5))

    assert tasks.queue_due_syncs() == 1
    assert synced_at(due) is not None
    next_poll = ConnectionSync.objects.get(connection=due).next_poll_at
    assert next_poll is not None
    wait = next_poll - timezone.now()
    assert timedelta(seconds=600 * 0.75 - 5) <= wait <= timedelta(seconds=600 * 1.25)
    assert tasks.queue_due_syncs() == 0


def test_connecting_a_calendar_syncs_it_after_commit(
    radicale: RadicaleServer, caldav_calendar: str, django_capture_on_commit_callbacks: Any
) -> None:
    host = make_host()
    with django_capture_on_commit_callbacks(execute=True):
        connection = connect_caldav_calendar(
            user=host, url=caldav_calendar, username=radicale.username, password=radicale.password
        )
    assert synced_at(connection) is not None


def test_a_booking_written_to_the_calendar_is_synced_into_the_index(
    radicale: RadicaleServer, django_capture_on_commit_callbacks: Any
) -> None:
    host = make_host()
    connection, _calendar = connect(host, radicale)
    link = make_link(host)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = book(link, berlin(10))
    assert outcome.booking.calendar_event_id

    row = SyncedEvent.objects.get(connection=connection)
    assert row.event_id == outcome.booking.calendar_event_id
    assert (row.start, row.end) == (berlin(10), berlin(10, 30))
    assert row.start > NOW
