"""Busy time of a connected calendar: the synced index for pages, the calendar itself for bookings.

Pages and availability queries read only the busy index the sync keeps (``read_busy``,
``busy_of_connections``): no provider is called on a page view. Bookings read the
calendar itself for the slot's span (``read_busy(fresh=True)``), so a slot is never
confirmed over an event created a second ago. When the index cannot be trusted (never
synced, the last sync failed, older than YOYAKU_SYNC_STALE_AFTER_SECONDS, or the window
reaches past what was synced) a CalendarError is raised: callers fail closed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yoyaku.accounts.calendar_problems import calendar_problem_in
from yoyaku.accounts.calendar_registry import adapter_for
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus
from yoyaku.accounts.notifications import notify_needs_reconnect
from yoyaku.availability import Spans
from yoyaku.calendar_sync import index
from yoyaku.calendar_sync.models import ConnectionSync
from yoyaku.calendars.base import (
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    UnreadableEvent,
    blocking_intervals,
)

logger = logging.getLogger(__name__)

Interval = tuple[int, int]


class CalendarNeedsReconnect(CalendarAuthError):
    pass


def read_busy(
    *, connection: CalendarConnection, start: datetime, end: datetime, fresh: bool = False
) -> list[Interval]:
    """Busy epoch pairs of ``connection`` overlapping ``[start, end)``.

    ``fresh``: ask the calendar itself (bookings, for the slot's span only); otherwise the
    synced index, read with one query.
    """
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        raise CalendarNeedsReconnect(
            connection.status_message or _("The calendar connection must be reconnected.")
        )
    if not fresh:
        sync = ConnectionSync.objects.filter(connection_id=connection.pk).first()
        return list(index_busy(connection=connection, sync=sync, start=start, end=end, now=timezone.now()))
    try:
        # Closed at once: the adapter holds an HTTP client (or an EWS session) of its own.
        with closing(adapter_for(connection)) as adapter:
            # A booking's narrow read: events it cannot read are blocked all the same, but the list
            # the host sees comes from the sync's wide read, so this one is not kept.
            unreadable: list[UnreadableEvent] = []
            intervals = adapter.busy(
                start=start,
                end=end,
                calendar_ids=connection.conflict_calendar_ids or None,
                unreadable=unreadable,
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
        # Not a failure the adapter knows: keep the traceback, it is likely a bug or an odd server.
        logger.warning(
            "Calendar connection %s (%s) failed with an unexpected error",
            connection.pk,
            connection.provider,
            exc_info=True,
        )
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.UNAVAILABLE, message=told)
        raise CalendarUnavailable(_("The calendar could not be read.")) from error
    if connection.status != ConnectionStatus.OK:
        mark_connection(connection=connection, status=ConnectionStatus.OK, message="")
    lo, hi = int(start.timestamp()), int(end.timestamp())
    return [
        (a, b)
        for a, b in blocking_intervals(intervals, tentative_blocks=connection.tentative_blocks)
        if b > lo and a < hi
    ]


def busy_of_connections(
    *, connections: Sequence[CalendarConnection], start: datetime, end: datetime
) -> dict[int, Spans | CalendarError]:
    """The indexed busy time of several connections in ONE query, by connection id; in none when the
    connections were read with their sync rows (``select_related("sync")``).

    A connection whose index cannot be trusted maps to the CalendarError saying why.
    """
    rows: dict[int, ConnectionSync | None] = {}
    for connection in connections:
        if CalendarConnection.sync.is_cached(connection):  # type: ignore[attr-defined]
            rows[connection.pk] = getattr(connection, "sync", None)
    unread = [c.pk for c in connections if c.pk not in rows]
    if unread:
        rows.update({s.connection_id: s for s in ConnectionSync.objects.filter(connection__in=unread)})
    now = timezone.now()
    result: dict[int, Spans | CalendarError] = {}
    for connection in connections:
        try:
            result[connection.pk] = index_busy(
                connection=connection, sync=rows.get(connection.pk), start=start, end=end, now=now
            )
        except CalendarError as error:
            result[connection.pk] = error
    return result


def index_busy(
    *,
    connection: CalendarConnection,
    sync: ConnectionSync | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> Spans:
    """The connection's busy time in ``[start, end)`` from its index; raises when it cannot be trusted."""
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        raise CalendarNeedsReconnect(
            connection.status_message or _("The calendar connection must be reconnected.")
        )
    if sync is None or sync.last_success_at is None:
        if sync is not None and sync.consecutive_failures:
            raise CalendarUnavailable(sync.last_error or _("The calendar could not be read."))
        raise CalendarUnavailable(_("The calendar has not been read yet. Try again in a minute."))
    if sync.consecutive_failures:
        # The last sync failed: what the index holds may be missing a new event.
        raise CalendarUnavailable(sync.last_error or _("The calendar could not be read."))
    if now - sync.last_success_at > timedelta(seconds=settings.YOYAKU_SYNC_STALE_AFTER_SECONDS):
        raise CalendarUnavailable(_("The calendar has not been read recently. Try again later."))
    if sync.covered_until is None or end > sync.covered_until:
        raise CalendarUnavailable(_("Times this far ahead cannot be offered yet."))
    lo, hi = int(start.timestamp()), int(end.timestamp())
    busy = index.cut_spans(sync.busy_index, start=lo, end=hi)
    if connection.tentative_blocks:
        tentative = index.cut_spans(sync.tentative_index, start=lo, end=hi)
        if tentative:
            busy = Spans.of([*busy, *tentative])
    return busy


def request_sync(*, connection: CalendarConnection) -> None:
    """Sync the connection once the current transaction commits (after Yoyaku wrote to its calendar,
    or its settings changed), so the index shows the change."""
    from yoyaku.calendar_sync.tasks import sync_connection

    connection_id = connection.pk
    transaction.on_commit(lambda: sync_connection(connection_id))


def mark_connection(*, connection: CalendarConnection, status: str, message: str) -> None:
    """Record what the last use of the connection showed: the one place its status changes after connecting.

    Reads, writes and syncs alike come here, so a grant revoked under any of them turns the
    connection to "needs reconnect" and the host is mailed once for that change.
    """
    connection.status = status
    connection.status_message = message[:500]
    rows = CalendarConnection.objects.filter(pk=connection.pk)
    # Only the update that changes the status counts as the change, so racing reads tell the host once;
    # its mail is queued in the same transaction.
    with transaction.atomic():
        changed = rows.exclude(status=status).update(status=status, status_message=message[:500])
        if not changed:
            rows.update(status_message=message[:500])
        elif status == ConnectionStatus.NEEDS_RECONNECT:
            notify_needs_reconnect(connection_id=connection.pk)
