"""Events of a connected calendar that could not be read, kept per connection for the host.

Busy-time reads block what such events still tell (calendars/ical_busy.py and the
adapters) and hand them here; the dashboard lists them so the host can fix them in
their calendar. Kept in ``CalendarConnection.provider_details["unreadable_events"]``:
a short list that the next read replaces, so a fixed event disappears by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from yoyaku.accounts.models import CalendarConnection
from yoyaku.calendars.base import UnreadableEvent

KEY = "unreadable_events"
# The dashboard names at most this many; a calendar with more has a wider problem.
MAX_KEPT = 50


def record_unreadable_events(*, connection: CalendarConnection, events: Sequence[UnreadableEvent]) -> None:
    """Replace the connection's list with ``events`` (deduplicated); writes only when it changes."""
    unique = list(dict.fromkeys(events))[:MAX_KEPT]
    stored = [{"event": e.event, "reason": e.reason, "detail": e.detail} for e in unique]
    if (connection.provider_details or {}).get(KEY, []) == stored:
        return
    with transaction.atomic():
        # Read again under the row lock: the calendar list shares this column.
        current = (
            CalendarConnection.objects.select_for_update()
            .filter(pk=connection.pk)
            .values_list("provider_details", flat=True)
            .first()
        )
        details = dict(current or {})
        if stored:
            details[KEY] = stored
        else:
            details.pop(KEY, None)
        CalendarConnection.objects.filter(pk=connection.pk).update(provider_details=details)
    connection.provider_details = details


def unreadable_events(*, connection: CalendarConnection) -> list[UnreadableEvent]:
    """The events the last busy-time read of the connection could not read."""
    stored = (connection.provider_details or {}).get(KEY)
    if not isinstance(stored, list):
        return []
    return [
        UnreadableEvent(
            event=str(item.get("event") or "?"),
            reason=str(item.get("reason") or "data"),
            detail=str(item.get("detail") or ""),
        )
        for item in stored
        if isinstance(item, dict)
    ]
