"""The CRM's share of a large sync: logging calendar events with contacts as meetings.

Command: ``python -m bench.crm_calendar_log [events]``.

One host, 500 contacts, ``events`` events (default 10,000) spread over 300 days, each with two
attendees: in two events of five one of them is a contact. The result is applied to the store as the
sync applies it (``calendar_sync.services.apply_sync_result``, a temporary SQLite database, no provider)
three times: the initial sync (every contact's event is a new meeting), the daily complete listing with
nothing changed, and a listing where every event moved. Prints, for each, the whole apply and the CRM
hook's share of it (``crm.calendar_log.log_calendar_events``) with its queries.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.scratch import bench_host, scratch_django


def main() -> int:
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    count = int(numbers[0]) if numbers else 10_000
    scratch_django(prefix="yoyaku-bench-crm-")

    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from yoyaku.accounts.models import Provider
    from yoyaku.calendar_sync.services import apply_sync_result
    from yoyaku.calendars.base import Attendee, RemoteEvent, SyncResult
    from yoyaku.crm import calendar_log
    from yoyaku.crm.models import Contact, Meeting

    workspace, user, connection = bench_host(provider=Provider.CALDAV, server_url="https://cal.example/")
    Contact.objects.bulk_create(
        [Contact(workspace=workspace, email=f"contact{n}@example.com") for n in range(500)]
    )
    origin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)

    def events(shift: timedelta) -> list[RemoteEvent]:
        made = []
        for n in range(count):
            begin = origin + timedelta(minutes=30 * ((n * 7919) % (48 * 300))) + shift
            someone = f"contact{n % 500}@example.com" if n % 5 < 2 else f"stranger{n}@elsewhere.example"
            made.append(
                RemoteEvent(
                    id=f"event-{n}",
                    uid=f"event-{n}@bench",
                    title=f"Event {n}",
                    start=begin,
                    end=begin + timedelta(minutes=30),
                    attendees=(
                        Attendee(email=user.email, response="accepted"),
                        Attendee(email=someone, response="needs_action"),
                    ),
                )
            )
        return made

    hook_time = [0.0]
    real = calendar_log.log_calendar_events
    hook_queries: list[int] = []

    def timed(**kwargs: Any) -> None:
        started = time.perf_counter()
        with CaptureQueriesContext(db) as log:
            real(**kwargs)
        hook_time[0] += time.perf_counter() - started
        hook_queries.append(len(log.captured_queries))

    calendar_log.log_calendar_events = timed  # type: ignore[assignment]
    print(
        f"events: {count:,}, contacts: 500, events with a contact: {sum(n % 5 < 2 for n in range(count)):,}"
    )
    for label, shift in (
        ("initial sync", timedelta()),
        ("complete listing, nothing changed", timedelta()),
        ("complete listing, every event moved", timedelta(hours=1)),
    ):
        result = SyncResult(changed=events(shift), token=label, full=label != "initial sync")
        hook_time[0] = 0.0
        hook_queries.clear()
        started = time.perf_counter()
        apply_sync_result(connection=connection, calendar_id="cal", result=result, now=datetime.now(UTC))
        elapsed = time.perf_counter() - started
        print(
            f"{label}: apply {elapsed * 1000:,.0f} ms; of it the CRM hook {hook_time[0] * 1000:,.0f} ms "
            f"in {sum(hook_queries)} queries; meetings: {Meeting.objects.count():,}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
