"""What one applied sync changed, and who follows it.

After the store takes each page of a sync listing (``services.apply_sync_pages``), the events
that page changed or removed are handed, in the same transaction, to the apps that mirror
calendar events (after the last page of a complete listing, one more call hands over the
events that listing did not see):
bookings follow their own events (moved, cancelled, attendees' answers) and the CRM logs
other events with the workspace's contacts. Running in the same transaction means a
follower that fails rolls its page back and the sync position stays where it was (it moves
only with the last page), so the change is read again by the next sync instead of being
lost. That next sync hands the pages before it over again too: following must be idempotent.

Exchange never gets here: it is polled for busy time only, and nothing of it flows into
bookings or the CRM by the product's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yoyaku.accounts.models import CalendarConnection


@dataclass(frozen=True)
class StoreChanges:
    """The events of one calendar of a connection that one applied sync page touched.

    ``changed_event_ids`` are provider ids now in the store with new data (a series' every
    stored instance shares its id); ``removed_event_ids`` are ids the store no longer holds
    (deleted on the calendar, or not seen by a complete listing). ``full`` is a complete
    listing; ``window_start`` and ``window_end`` bound what such a listing can see, so an
    event outside them is not taken for deleted.
    """

    connection_id: int
    calendar_id: str
    changed_event_ids: frozenset[str]
    removed_event_ids: frozenset[str]
    full: bool
    window_start: datetime
    window_end: datetime

    def __bool__(self) -> bool:
        return bool(self.changed_event_ids or self.removed_event_ids)


def follow_store_changes(*, connection: CalendarConnection, changes: StoreChanges, now: datetime) -> None:
    """Hand ``changes`` to every follower; called inside the transaction that applied them."""
    # Imported here: both followers read this app's store, and this app must load without them.
    from yoyaku.crm.calendar_log import log_calendar_events
    from yoyaku.scheduling.calendar_changes import follow_booked_events

    if not changes:
        return
    follow_booked_events(connection=connection, changes=changes, now=now)
    log_calendar_events(connection=connection, changes=changes, now=now)
