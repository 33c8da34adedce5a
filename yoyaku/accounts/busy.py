"""Busy time of a connected calendar, served from a short-lived synced copy.

Availability pages read the copy (one JSON column: loading it costs
microseconds, where ORM rows cost milliseconds); bookings always read the
calendar itself so a slot is never confirmed over an event that just appeared.
If the calendar cannot be read the error propagates: callers fail closed.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from yoyaku.accounts.calendar_problems import calendar_problem_in
from yoyaku.accounts.calendar_registry import adapter_for
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus
from yoyaku.accounts.notifications import notify_needs_reconnect
from yoyaku.calendars.base import (
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    blocking_intervals,
)

Interval = tuple[int, int]
# The synced copy covers this much beyond the requested window so that
# neighbouring page views reuse it.
PREFETCH = timedelta(weeks=9)


class CalendarNeedsReconnect(CalendarAuthError):
    pass


def read_busy(
    *, connection: CalendarConnection, start: datetime, end: datetime, fresh: bool = False
) -> list[Interval]:
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        raise CalendarNeedsReconnect(
            connection.status_message or "The calendar connection must be reconnected."
        )
    now = timezone.now()
    ttl = timedelta(seconds=settings.YOYAKU_BUSY_TTL_SECONDS)
    cached = (
        not fresh
        and connection.busy_fetched_at is not None
        and now - connection.busy_fetched_at < ttl
        and connection.busy_window_start is not None
        and connection.busy_window_end is not None
        and connection.busy_window_start <= start
        and end <= connection.busy_window_end
    )
    if cached:
        pairs: list[Interval] = [(a, b) for a, b in json.loads(connection.busy_json)]
        return _clip(pairs, start=start, end=end)
    fetch_start, fetch_end = (start, end) if fresh else (min(start, now), max(end, now + PREFETCH))
    try:
        # Closed at once: the adapter holds an HTTP client (or an EWS session) of its own.
        with closing(adapter_for(connection)) as adapter:
            intervals = adapter.busy(
                start=fetch_start, end=fetch_end, calendar_ids=connection.conflict_calendar_ids or None
            )
    except CalendarAuthError as error:
        # Stored for the host's dashboard, in the host's language.
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.NEEDS_RECONNECT, message=told)
        raise
    except CalendarError as error:
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.UNAVAILABLE, message=told)
        raise
    except Exception as error:  # a broken server must not look like a free calendar
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.UNAVAILABLE, message=told)
        raise CalendarUnavailable("The calendar could not be read.") from error
    pairs = blocking_intervals(intervals, tentative_blocks=connection.tentative_blocks)
    if not fresh:
        CalendarConnection.objects.filter(pk=connection.pk).update(
            busy_json=json.dumps(pairs),
            busy_window_start=fetch_start,
            busy_window_end=fetch_end,
            busy_fetched_at=now,
            status=ConnectionStatus.OK,
            status_message="",
        )
    elif connection.status != ConnectionStatus.OK:
        mark_connection(connection=connection, status=ConnectionStatus.OK, message="")
    return _clip(pairs, start=start, end=end)


def forget_busy(*, connection: CalendarConnection) -> None:
    """Drop the synced copy (after Yoyaku itself wrote to the calendar)."""
    CalendarConnection.objects.filter(pk=connection.pk).update(busy_fetched_at=None)


def _clip(pairs: list[Interval], *, start: datetime, end: datetime) -> list[Interval]:
    lo, hi = int(start.timestamp()), int(end.timestamp())
    return [(a, b) for a, b in pairs if b > lo and a < hi]


def mark_connection(*, connection: CalendarConnection, status: str, message: str) -> None:
    """Record what the last use of the connection showed: the one place its status changes after connecting.

    Reads and writes alike come here, so a grant revoked under either turns the connection to
    "needs reconnect" and the host is mailed once for that change.
    """
    connection.status = status
    connection.status_message = message[:500]
    rows = CalendarConnection.objects.filter(pk=connection.pk)
    # Only the update that changes the status counts as the change, so racing reads tell the host once.
    changed = rows.exclude(status=status).update(status=status, status_message=message[:500])
    if not changed:
        rows.update(status_message=message[:500])
    elif status == ConnectionStatus.NEEDS_RECONNECT:
        notify_needs_reconnect(connection_id=connection.pk)
