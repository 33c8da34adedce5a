"""A cancel and a worker's write racing on PostgreSQL, each in its own connection: the row lock decides.

The write's event reaches the calendar while the cancel holds the booking's row. Storing the write waits
for the cancel to commit, sees it, and takes the event off again; without the lock it would read the
booking as confirmed and the cancel's commit would then drop the event id, leaving the meeting on the
calendar as confirmed.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link
from tests.scheduling.helpers import berlin, book, connect, events_on, queue_again
from yoyaku.calendar_sync.tasks import perform_calendar_write
from yoyaku.calendars.base import EventDraft
from yoyaku.calendars.caldav import CalDAVAdapter
from yoyaku.scheduling import services
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

# Only a guard against a hang if the code under test deadlocks; no assertion depends on it.
GUARD_SECONDS = 30


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def test_a_write_stored_while_a_cancel_holds_the_row_sees_the_cancel(
    radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("Two connections racing for a row lock: PostgreSQL's; SQLite serialises all writes.")
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    booking = book(make_link(host), berlin(10)).booking
    [event] = events_on(radicale, calendar)
    radicale.delete(radicale.url + event.id.split("/", 3)[3])
    Booking.objects.filter(pk=booking.pk).update(calendar_write=CalendarWrite.PENDING, calendar_event_id="")
    entry_id = queue_again(Booking.objects.get(pk=booking.pk))

    written, go_on, write_done = threading.Event(), threading.Event(), threading.Event()
    real_create = CalDAVAdapter.create_event

    def create_event(self: CalDAVAdapter, *, draft: EventDraft, calendar_id: str | None = None) -> str:
        event_id = real_create(self, draft=draft, calendar_id=calendar_id)
        written.set()
        go_on.wait(GUARD_SECONDS)
        return event_id

    monkeypatch.setattr(CalDAVAdapter, "create_event", create_event)
    failures: list[BaseException] = []

    def retry() -> None:
        try:
            perform_calendar_write.call_local(entry_id)
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            write_done.set()
            connections.close_all()

    real_cancel_meeting = services.cancel_meeting

    def cancel_meeting_holding_the_row(**kwargs: Any) -> None:
        # Inside the cancel's transaction, after it locked the row: let the write store its result now,
        # and go on once that is waiting for the lock (or, without one, has finished).
        go_on.set()
        for _poll in range(GUARD_SECONDS * 100):
            if write_done.is_set() or lock_waiters():
                break
            threading.Event().wait(0.01)
        real_cancel_meeting(**kwargs)

    monkeypatch.setattr(services, "cancel_meeting", cancel_meeting_holding_the_row)

    writer = threading.Thread(target=retry)
    writer.start()
    assert written.wait(GUARD_SECONDS)
    services.cancel_booking(booking=Booking.objects.get(pk=booking.pk))
    writer.join(GUARD_SECONDS)

    assert not writer.is_alive() and failures == []
    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.CANCELLED)
    [event] = events_on(radicale, calendar)
    assert event.cancelled and event.uid == f"yoyaku-{booking.pk}"
