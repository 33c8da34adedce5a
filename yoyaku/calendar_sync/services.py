"""The sync engines: bring a connection's event store and busy index up to date with its calendar.

One entry point, ``sync_connection_now``, for every provider. Google, Microsoft 365 and
CalDAV are synced incrementally through the adapters' ``sync_pages(token=...)`` (Google
events.list syncToken, Graph calendarView delta links, CalDAV sync-collection, RFC 6578),
which yield the listing a page at a time; an expired token makes the adapter list
everything (``full`` pages) and the store drops what that listing did not see. Exchange has
no two-way sync by the product's rules: it is polled for busy time only (a CalendarView
window) and nothing of it enters the store.

Applying a page is idempotent (an event's rows are replaced, never added to) and done in a
transaction of its own; the token moves with the last page, and the busy index is then
rebuilt from the store. Bookings and CRM meetings refer to events by provider id, so
replacing rows keeps every link.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from yoyaku.accounts.calendar_problems import calendar_problem_in
from yoyaku.accounts.calendar_registry import adapter_for
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, Provider
from yoyaku.accounts.unreadable import record_unreadable_events
from yoyaku.calendar_sync import index
from yoyaku.calendar_sync.busy import mark_connection
from yoyaku.calendar_sync.changes import StoreChanges, follow_store_changes
from yoyaku.calendar_sync.models import CalendarSyncState, ConnectionSync, SyncedEvent
from yoyaku.calendars.base import (
    SYNC_FUTURE,
    SYNC_PAST,
    CalendarAdapter,
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    RemoteEvent,
    SyncPage,
    SyncResult,
    UnreadableEvent,
    blocking_intervals,
)
from yoyaku.calendars.capabilities import capabilities

logger = logging.getLogger(__name__)

# Rows are written and deleted in batches: SQLite limits the variables of one statement.
BATCH = 500
# Where the adapter's default calendar is meant (Graph's /me/calendar): the state's key for it.
DEFAULT_CALENDAR = ""


def sync_connection_now(*, connection_id: int) -> bool:
    """Sync one connection now; True when it succeeded. Callers hold the per-connection lock
    (``tasks.sync_connection``); a failure is recorded on the connection, never raised."""
    connection = CalendarConnection.objects.select_related("user").filter(pk=connection_id).first()
    if connection is None or connection.status == ConnectionStatus.NEEDS_RECONNECT:
        # Nothing can be read until the host reconnects; reconnecting syncs again.
        return False
    started = timezone.now()
    try:
        with closing(adapter_for(connection)) as adapter:
            if capabilities(connection.provider).event_sync:
                covered_until = _sync_events(connection=connection, adapter=adapter, now=started)
            else:
                covered_until = _poll_busy_window(connection=connection, adapter=adapter, now=started)
    except CalendarAuthError as error:
        # The status message is the host's (dashboard, in their language); last_error stays the adapter's.
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.NEEDS_RECONNECT, message=told)
        _record_failure(connection=connection, message=str(error), now=started)
        return False
    except CalendarError as error:
        # The host's pages fail closed until a sync succeeds: an operator must be able to see why.
        logger.warning(
            "Sync of calendar connection %s (%s) failed: %s", connection_id, connection.provider, error
        )
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.UNAVAILABLE, message=told)
        _record_failure(connection=connection, message=str(error), now=started)
        return False
    except Exception as error:  # an adapter bug must leave the pages closed, not open on old data
        logger.exception("Sync of calendar connection %s (%s) failed", connection_id, connection.provider)
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.UNAVAILABLE, message=told)
        _record_failure(connection=connection, message="The calendar could not be read.", now=started)
        return False
    ConnectionSync.objects.filter(connection=connection).update(
        covered_until=covered_until,
        last_success_at=started,
        last_attempt_at=started,
        last_error="",
        consecutive_failures=0,
        next_poll_at=started + poll_interval(provider=connection.provider),
    )
    if connection.status != ConnectionStatus.OK:
        mark_connection(connection=connection, status=ConnectionStatus.OK, message="")
    return True


def poll_interval(*, provider: str) -> timedelta:
    """The fallback poll's period for ``provider``, moved by the configured jitter."""
    seconds = settings.YOYAKU_SYNC_POLL_SECONDS.get(provider, 300)
    jitter = settings.YOYAKU_SYNC_POLL_JITTER
    return timedelta(seconds=seconds * (1 + random.uniform(-jitter, jitter)))


def _record_failure(*, connection: CalendarConnection, message: str, now: datetime) -> None:
    sync, _created = ConnectionSync.objects.get_or_create(connection=connection)
    failures = sync.consecutive_failures + 1
    # Retry sooner than the regular poll while failing, backing off up to that poll.
    retry = min(poll_interval(provider=connection.provider), timedelta(seconds=30 * 2 ** min(failures, 6)))
    ConnectionSync.objects.filter(pk=sync.pk).update(
        last_attempt_at=now, last_error=message[:500], consecutive_failures=failures, next_poll_at=now + retry
    )


def _calendar_ids(*, connection: CalendarConnection, adapter: CalendarAdapter) -> list[str]:
    """The calendars whose events block the host's time: the stored choice, else the adapter's default."""
    if connection.conflict_calendar_ids:
        return [str(c) for c in connection.conflict_calendar_ids]
    if connection.provider == Provider.CALDAV:
        return [c.id for c in adapter.list_calendars()]  # CalDAV's default: every calendar
    if connection.provider == Provider.GOOGLE:
        return ["primary"]
    return [DEFAULT_CALENDAR]


def _sync_events(*, connection: CalendarConnection, adapter: CalendarAdapter, now: datetime) -> datetime:
    calendar_ids = _calendar_ids(connection=connection, adapter=adapter)
    ConnectionSync.objects.get_or_create(connection=connection)
    # Calendars no longer checked leave the store (their events no longer block time).
    SyncedEvent.objects.filter(connection=connection).exclude(calendar_id__in=calendar_ids).delete()
    CalendarSyncState.objects.filter(connection=connection).exclude(calendar_id__in=calendar_ids).delete()
    states = {s.calendar_id: s for s in CalendarSyncState.objects.filter(connection=connection)}
    full_every = timedelta(hours=settings.YOYAKU_SYNC_FULL_EVERY_HOURS)
    oldest_full = now
    for calendar_id in calendar_ids:
        state = states.get(calendar_id)
        token: str | None = None
        # A complete listing now and then moves the expanded horizon (Graph's delta window,
        # CalDAV's own expansion) forward with time.
        if (
            state is not None
            and state.token
            and state.full_synced_at
            and now - state.full_synced_at < full_every
        ):
            token = state.token
        pages = adapter.sync_pages(token=token, calendar_id=calendar_id or None)
        full = apply_sync_pages(connection=connection, calendar_id=calendar_id, pages=pages, now=now)
        full_at = now if (full or token is None) else (state.full_synced_at if state else now)
        oldest_full = min(oldest_full, full_at or now)
    rebuild_index(connection=connection, now=now)
    record_unreadable_events(connection=connection, events=unreadable_in_store(connection=connection))
    return oldest_full + SYNC_FUTURE


def unreadable_in_store(*, connection: CalendarConnection) -> list[UnreadableEvent]:
    """The stored events of ``connection`` whose data could not be read, one entry per event."""
    rows = (
        SyncedEvent.objects.filter(connection=connection)
        .exclude(unreadable_reason="")
        .order_by("start_epoch")
        .values_list("event_id", "title", "ical_uid", "unreadable_reason", "unreadable_detail")
    )
    found: dict[str, UnreadableEvent] = {}
    for event_id, title, uid, reason, detail in rows[:1000]:
        found.setdefault(
            event_id, UnreadableEvent(event=title or uid or event_id, reason=reason, detail=detail)
        )
    return list(found.values())


def apply_sync_pages(
    *, connection: CalendarConnection, calendar_id: str, pages: Iterable[SyncPage], now: datetime
) -> bool:
    """Apply a listing page by page, each page in a transaction of its own; True if it was complete.

    Only one page is held at a time, so memory does not grow with the calendar. The token is
    stored with the last page, so a sync that stops midway starts again from the old token and
    applies the pages again, which changes nothing more. A complete listing marks every row it
    writes with the listing's start (``synced_at``); after its last page, rows of the calendar
    marked earlier were not seen and are deleted (``_drop_unseen``).
    """
    listing_since: datetime | None = None
    applied = False
    for page in pages:
        if page.full and listing_since is None:
            # Rows written by incremental pages before the switch were stamped ``now``: the
            # complete listing's stamp must come after it, so they count as unseen unless listed.
            listing_since = now if not applied else max(timezone.now(), now + timedelta(microseconds=1))
        with transaction.atomic():
            _apply_page(
                connection=connection,
                calendar_id=calendar_id,
                page=page,
                synced_at=listing_since or now,
                now=now,
            )
            if page.last:
                if listing_since is not None:
                    _drop_unseen(
                        connection=connection, calendar_id=calendar_id, seen_since=listing_since, now=now
                    )
                _store_position(
                    connection=connection,
                    calendar_id=calendar_id,
                    token=page.token,
                    full=listing_since is not None,
                    now=now,
                )
                return listing_since is not None
        applied = True
        del page  # not kept while the adapter reads the next one
    raise CalendarUnavailable(
        "The calendar's listing ended before its last page; the next sync reads it again."
    )


def apply_sync_result(
    *, connection: CalendarConnection, calendar_id: str, result: SyncResult, now: datetime
) -> None:
    """Apply a whole listing given at once (one page); applying it twice changes nothing more."""
    page = SyncPage(
        changed=result.changed, removed=result.removed, full=result.full, token=result.token, last=True
    )
    apply_sync_pages(connection=connection, calendar_id=calendar_id, pages=[page], now=now)


def _apply_page(
    *, connection: CalendarConnection, calendar_id: str, page: SyncPage, synced_at: datetime, now: datetime
) -> None:
    """Replace the rows of the page's events and hand what changed to the followers (``changes.py``),
    inside the caller's transaction: a follower that fails leaves the sync position where it was."""
    rows = SyncedEvent.objects.filter(connection=connection, calendar_id=calendar_id)
    changed_ids = {event.id for event in page.changed}
    # Every deletion the provider reports, stored or not: an event Yoyaku wrote and the host deleted
    # before any sync read it is still a deletion its booking must follow.
    removed = set(page.removed) - changed_ids
    _delete_events(rows, removed | changed_ids)
    SyncedEvent.objects.bulk_create(
        _rows(connection=connection, calendar_id=calendar_id, events=page.changed, now=synced_at),
        batch_size=BATCH,
    )
    changes = _changes(
        connection=connection,
        calendar_id=calendar_id,
        changed=changed_ids,
        removed=removed,
        full=page.full,
        now=now,
    )
    follow_store_changes(connection=connection, changes=changes, now=now)


def _drop_unseen(
    *, connection: CalendarConnection, calendar_id: str, seen_since: datetime, now: datetime
) -> None:
    """After a complete listing: delete the calendar's events it did not list, and tell the followers.

    Every row the listing wrote is stamped ``seen_since`` or later, so the unseen are the older
    rows; the database holds the mark, so no set of every seen id is kept in memory.
    """
    rows = SyncedEvent.objects.filter(connection=connection, calendar_id=calendar_id)
    unseen_rows = rows.filter(synced_at__lt=seen_since)
    unseen = set(unseen_rows.values_list("event_id", flat=True).distinct())
    if not unseen:
        return
    # An event with a row written by the listing was seen (a stale instance of it is not an event).
    seen = _stored_event_ids(rows.filter(synced_at__gte=seen_since), unseen)
    unseen_rows.delete()
    changes = _changes(
        connection=connection,
        calendar_id=calendar_id,
        changed=set(),
        removed=unseen - seen,
        full=True,
        now=now,
    )
    follow_store_changes(connection=connection, changes=changes, now=now)


def _changes(
    *,
    connection: CalendarConnection,
    calendar_id: str,
    changed: set[str],
    removed: set[str],
    full: bool,
    now: datetime,
) -> StoreChanges:
    return StoreChanges(
        connection_id=connection.pk,
        calendar_id=calendar_id,
        changed_event_ids=frozenset(changed),
        removed_event_ids=frozenset(removed),
        full=full,
        window_start=now - SYNC_PAST,
        window_end=now + SYNC_FUTURE,
    )


def _store_position(
    *, connection: CalendarConnection, calendar_id: str, token: str, full: bool, now: datetime
) -> None:
    state, _created = CalendarSyncState.objects.select_for_update().get_or_create(
        connection=connection, calendar_id=calendar_id
    )
    state.token = token
    state.last_success_at = now
    if full:
        state.full_synced_at = now
    state.save()


def _stored_event_ids(rows: QuerySet[SyncedEvent], event_ids: Iterable[str]) -> set[str]:
    """Which of ``event_ids`` have rows among ``rows``."""
    ids = list(event_ids)
    found: set[str] = set()
    for chunk in range(0, len(ids), BATCH):
        found.update(rows.filter(event_id__in=ids[chunk : chunk + BATCH]).values_list("event_id", flat=True))
    return found


def _delete_events(rows: QuerySet[SyncedEvent], event_ids: Iterable[str]) -> None:
    ids = list(event_ids)
    for chunk in range(0, len(ids), BATCH):
        rows.filter(event_id__in=ids[chunk : chunk + BATCH]).delete()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _rows(
    *, connection: CalendarConnection, calendar_id: str, events: Sequence[RemoteEvent], now: datetime
) -> Iterable[SyncedEvent]:
    seen: set[tuple[str, str]] = set()
    for event in events:
        common = {
            "connection": connection,
            "calendar_id": calendar_id,
            "event_id": event.id[:1000],
            "series_id": event.series_id[:1000],
            "ical_uid": (event.uid or "")[:1000],
            "title": event.title[:500],
            "all_day": event.all_day,
            "status": "cancelled" if event.cancelled else (event.status or "confirmed")[:16],
            "organizer": event.organizer[:320],
            "attendees": [
                {"email": a.email, "name": a.name, "response": a.response} for a in event.attendees
            ],
            "location": event.location[:1000],
            "description": event.description,
            "etag": event.etag[:255],
            "changed_at": event.changed_at,
            # A column of 32 bits holds any count of edits; a server's nonsense must not fail the page.
            "sequence": min(max(event.sequence, 0), 2**31 - 1),
            "synced_at": now,
            "unreadable_reason": event.unreadable[0].reason[:16] if event.unreadable else "",
            "unreadable_detail": event.unreadable[0].detail[:300] if event.unreadable else "",
        }
        if event.expanded and len(event.occurrences) > 1:
            # One row per instance of a series the adapter expanded (CalDAV).
            for occurrence in event.occurrences:
                key = (event.id, _iso(occurrence.start))
                if key in seen:
                    continue
                seen.add(key)
                yield SyncedEvent(
                    **common,
                    recurrence_id=key[1],
                    start=occurrence.start,
                    end=occurrence.end,
                    start_epoch=int(occurrence.start.timestamp()),
                    end_epoch=int(occurrence.end.timestamp()),
                    show_as=occurrence.status,
                )
            continue
        key = (event.id, event.recurrence_id)
        if key in seen:
            continue
        seen.add(key)
        start, end, show_as = event.start, event.end, event.show_as
        if event.expanded and event.occurrences:
            only = event.occurrences[0]
            start, end, show_as = only.start, only.end, only.status
        if event.cancelled:
            show_as = "free"
        yield SyncedEvent(
            **common,
            recurrence_id=event.recurrence_id[:64],
            start=start,
            end=end,
            start_epoch=int(start.timestamp()),
            end_epoch=int(end.timestamp()),
            show_as=show_as,
        )


def rebuild_index(*, connection: CalendarConnection, now: datetime) -> None:
    """Pack the store's blocking rows into the connection's busy index."""
    spans = (
        SyncedEvent.objects.filter(connection=connection, end_epoch__gt=int((now - SYNC_PAST).timestamp()))
        .exclude(show_as="free")
        .values_list("start_epoch", "end_epoch", "show_as")
    )
    busy: list[tuple[int, int]] = []
    tentative: list[tuple[int, int]] = []
    for start, end, show_as in spans.iterator(chunk_size=5000):
        (tentative if show_as == "tentative" else busy).append((start, end))
    ConnectionSync.objects.filter(connection=connection).update(
        busy_index=index.pack(busy), tentative_index=index.pack(tentative), covered_from=now - SYNC_PAST
    )


def _poll_busy_window(*, connection: CalendarConnection, adapter: CalendarAdapter, now: datetime) -> datetime:
    """Exchange: busy time only, over a CalendarView window; nothing goes into the store or the CRM."""
    start, end = now - SYNC_PAST, now + SYNC_FUTURE
    unreadable: list[UnreadableEvent] = []
    intervals = adapter.busy(
        start=start, end=end, calendar_ids=connection.conflict_calendar_ids or None, unreadable=unreadable
    )
    record_unreadable_events(connection=connection, events=unreadable)
    busy = blocking_intervals([i for i in intervals if i.status != "tentative"], tentative_blocks=False)
    tentative = blocking_intervals([i for i in intervals if i.status == "tentative"], tentative_blocks=True)
    ConnectionSync.objects.update_or_create(
        connection=connection,
        defaults={
            "busy_index": index.pack(busy),
            "tentative_index": index.pack(tentative),
            "covered_from": start,
        },
    )
    return end
