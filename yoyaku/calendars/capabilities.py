"""What Yoyaku can do with each provider's calendar, in one place.

The pages, the API and the write path ask this instead of comparing provider
names, so a provider's limits are stated once and shown the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    write_events: bool
    can_cancel: bool
    can_reschedule: bool
    # Meetings made in the CRM are added to the calendar, and their edits and cancellations follow.
    crm_to_calendar: bool
    # Events on the calendar with the workspace's contacts are logged in the CRM as meetings and follow
    # the calendar (moved, cancelled, people and their answers): crm.calendar_log, fed by the sync. The
    # bookings and CRM meetings Yoyaku put there follow their events too (scheduling.calendar_changes,
    # crm.calendar_follow).
    calendar_to_crm: bool
    # Proposed times can be read from the calendar and inserted into emails. Not built yet.
    insert_times_in_email: bool
    # The calendar's events are kept in Yoyaku's event store by incremental sync; without it only
    # busy time is polled (Exchange, whose events never enter the CRM).
    event_sync: bool = True


_FULL = Capabilities(
    write_events=True,
    can_cancel=True,
    can_reschedule=True,
    crm_to_calendar=True,
    calendar_to_crm=True,
    insert_times_in_email=False,
)
# Exchange is one-way by design: Yoyaku adds meetings and nothing else (see calendars/exchange.py).
_EXCHANGE = Capabilities(
    write_events=True,
    can_cancel=False,
    can_reschedule=False,
    crm_to_calendar=False,
    calendar_to_crm=False,
    insert_times_in_email=False,
    event_sync=False,
)
_BY_PROVIDER = {"caldav": _FULL, "google": _FULL, "microsoft": _FULL, "exchange": _EXCHANGE}


def capabilities(provider: str) -> Capabilities:
    """The capabilities of ``provider`` ("caldav", "google", "microsoft", "exchange").

    Raises KeyError for an unknown provider rather than guessing what it allows.
    """
    return _BY_PROVIDER[provider]
