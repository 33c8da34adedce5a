"""The CRM logs calendar events with the workspace's contacts as meetings."""

from __future__ import annotations

from datetime import datetime

from yoyaku.accounts.models import CalendarConnection
from yoyaku.calendar_sync.changes import StoreChanges


def log_calendar_events(*, connection: CalendarConnection, changes: StoreChanges, now: datetime) -> None:
    """Not built yet: other calendar events are not logged in the CRM."""
