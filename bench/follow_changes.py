"""Bookings following one sync's changes, in bulk.

Command: ``python -m bench.follow_changes [bookings]``.

Makes ``bookings`` written bookings (default 10,000) of one Google-connected host, each with its
reservation, CRM meeting and stored event, on a temporary SQLite database; then hands all their event
ids to ``follow_booked_events`` as one sync result would (an initial sync: every id changed), once
with nothing to do and once with every booker's answer new and one event in a hundred moved. Prints
the wall time and the number of queries of each.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.scratch import bench_host, scratch_django


def main() -> int:
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    count = int(numbers[0]) if numbers else 10_000
    scratch_django(prefix="yoyaku-bench-follow-")
    from django.db import connection as db
    from django.db import transaction
    from django.test.utils import CaptureQueriesContext

    from yoyaku.accounts.models import Provider
    from yoyaku.calendar_sync.changes import StoreChanges
    from yoyaku.calendar_sync.models import SyncedEvent
    from yoyaku.crm.models import Meeting
    from yoyaku.scheduling.calendar_changes import follow_booked_events
    from yoyaku.scheduling.models import Booking, CalendarWrite, MeetingLink, Reservation

    workspace, user, connection = bench_host(provider=Provider.GOOGLE)
    link = MeetingLink.objects.create(slug="bench", name="Bench", owner=user, durations=[30])
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    meetings = Meeting.objects.bulk_create(
        [
            Meeting(workspace=workspace, title="M", start=now, end=now, source="booking")
            for _n in range(count)
        ],
        batch_size=500,
    )
    bookings, reservations, events = [], [], []
    for n, meeting in enumerate(meetings):
        start = now + timedelta(days=1, minutes=45 * n)
        end = start + timedelta(minutes=30)
        booking = Booking(
            id=uuid.uuid4(),
            link=link,
            status="confirmed",
            start=start,
            end=end,
            time_zone="UTC",
            first_name="A",
            last_name=str(n),
            email=f"b{n}@example.com",
            assigned_host=user,
            meeting=meeting,
            calendar_event_id=f"event-{n}",
            calendar_write=CalendarWrite.WRITTEN,
        )
        bookings.append(booking)
        reservations.append(Reservation(booking=booking, host=user, start=start, end=end))
        events.append(
            SyncedEvent(
                connection=connection,
                calendar_id="primary",
                event_id=booking.calendar_event_id,
                start=start,
                end=end,
                start_epoch=int(start.timestamp()),
                end_epoch=int(end.timestamp()),
                attendees=[],
                synced_at=now,
            )
        )
    Booking.objects.bulk_create(bookings, batch_size=500)
    Reservation.objects.bulk_create(reservations, batch_size=500)
    SyncedEvent.objects.bulk_create(events, batch_size=500)
    changes = StoreChanges(
        connection_id=connection.pk,
        calendar_id="primary",
        changed_event_ids=frozenset(b.calendar_event_id for b in bookings),
        removed_event_ids=frozenset(),
        full=True,
        window_start=now - timedelta(days=31),
        window_end=now + timedelta(days=4000),
    )

    def run(label: str) -> None:
        with CaptureQueriesContext(db) as queries, transaction.atomic():
            started = time.perf_counter()
            follow_booked_events(connection=connection, changes=changes, now=now)
            elapsed = time.perf_counter() - started
        print(f"{label}: {elapsed * 1000:.0f} ms, {len(queries.captured_queries)} queries")

    print(f"bookings: {count:,}")
    run("nothing changed")
    for n, row in enumerate(events):
        row.attendees = [{"email": f"b{n}@example.com", "name": "", "response": "accepted"}]
        if n % 100 == 0:  # a quarter of an hour later: free, since the bookings are 45 minutes apart
            row.start, row.end = row.start + timedelta(minutes=15), row.end + timedelta(minutes=15)
    SyncedEvent.objects.bulk_update(events, ["attendees", "start", "end"], batch_size=500)
    run("every answer new, one in a hundred moved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
