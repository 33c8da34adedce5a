"""Bookings follow their events on the calendar (moved, cancelled, attendees' answers)."""

from __future__ import annotations

from datetime import datetime

from yoyaku.accounts.models import CalendarConnection
from yoyaku.calendar_sync.changes import StoreChanges


def follow_booked_events(*, connection: CalendarConnection, changes: StoreChanges, now: datetime) -> None:
    """Not built yet: bookings do not follow their events."""
