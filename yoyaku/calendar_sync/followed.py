"""Reading one sync's changes for the apps that follow the events Yoyaku itself wrote.

Bookings (``scheduling.calendar_changes``) and CRM meetings (``crm.calendar_follow``) link to
their events by provider id. These helpers read the stored events of a batch of ids at once and
say what became of each: still there (maybe moved), cancelled, deleted, or not known.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol, TypeVar

from django.db import connection as database
from django.db import models, transaction

from yoyaku.accounts.models import CalendarConnection
from yoyaku.calendar_sync.changes import StoreChanges
from yoyaku.calendar_sync.models import SyncedEvent

logger = logging.getLogger(__name__)

# SQLite allows 999 variables in one statement in older builds; stay well below it.
ID_CHUNK = 500
# The answers the adapters give (``AttendeeResponse`` in scheduling.models names them for people).
ANSWERS = ("accepted", "declined", "tentative", "needs_action")


T = TypeVar("T")


def chunked(ids: Iterable[T], size: int = ID_CHUNK) -> Iterator[list[T]]:
    """``ids`` in lists of at most ``size``, for ``__in`` lookups that SQLite's variable limit allows."""
    batch: list[T] = []
    for event_id in ids:
        batch.append(event_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def touched_ids(changes: StoreChanges) -> list[str]:
    """Every event id the sync changed or removed, sorted (so batches are stable)."""
    return sorted(changes.changed_event_ids | changes.removed_event_ids)


def writes_to(*, connection: CalendarConnection, calendar_id: str) -> bool:
    """Whether ``calendar_id`` is the calendar the connection writes bookings and meetings to.

    No stored choice means the provider's default calendar, which the sync reads under its own
    key ("primary", "" or the CalDAV calendar's URL): any synced calendar may be it then.
    """
    return not connection.write_calendar_id or connection.write_calendar_id == calendar_id


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """What the followers read of a stored event (read as plain values: model rows cost several
    times more to build, and an initial sync hands thousands at once)."""

    event_id: str
    start: datetime
    end: datetime
    status: str
    attendees: list[dict[str, str]]
    title: str
    location: str
    description: str
    sequence: int


_STORED = ("event_id", "start", "end", "status", "attendees", "title", "location", "description", "sequence")


def stored_events(*, changes: StoreChanges, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
    """The stored event of each of ``event_ids`` in the changed calendar, read in one query per chunk.

    An event Yoyaku wrote is one event; should the host have turned it into a series, its first
    instance stands for it.
    """
    found: dict[str, StoredEvent] = {}
    for batch in chunked(event_ids):
        rows = (
            SyncedEvent.objects.filter(
                connection_id=changes.connection_id, calendar_id=changes.calendar_id, event_id__in=batch
            )
            .order_by("event_id", "start_epoch")
            .values_list(*_STORED)
        )
        for values in rows:
            if values[0] not in found:
                found[values[0]] = StoredEvent(*values)
    return found


Fate = Literal["there", "cancelled", "deleted", "unknown"]


@dataclass(frozen=True)
class EventFate:
    fate: Fate
    row: StoredEvent | None = None


def fate_of(
    *, changes: StoreChanges, event_id: str, rows: dict[str, StoredEvent], start: datetime, end: datetime
) -> EventFate:
    """What became of the event of a meeting booked for ``start``..``end``.

    A complete listing that no longer holds it means "deleted" only when that listing could have
    seen it: a meeting outside its window (further ahead than the sync reads, or long past) is
    simply not listed, and its link must survive a resync (410, expired sync token).
    """
    row = rows.get(event_id)
    if row is not None and event_id in changes.changed_event_ids:
        return EventFate("cancelled" if row.status == "cancelled" else "there", row)
    if event_id not in changes.removed_event_ids:
        return EventFate("unknown")
    if changes.full and not (changes.window_start <= start and end <= changes.window_end):
        return EventFate("unknown")
    return EventFate("deleted")


class Linked(Protocol):
    """A booking or CRM meeting linked to its event by provider id (read only, so either fits)."""

    @property
    def calendar_event_id(self) -> str: ...

    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...


L = TypeVar("L", bound=Linked)


def fates_of(*, changes: StoreChanges, linked: Sequence[L]) -> list[tuple[L, EventFate]]:
    """What became of each of ``linked``'s events, the changed ones read in one query per chunk."""
    rows = stored_events(
        changes=changes,
        event_ids=[x.calendar_event_id for x in linked if x.calendar_event_id in changes.changed_event_ids],
    )
    fates = []
    for item in linked:
        assert item.start is not None and item.end is not None  # linked to an event: it has a time
        fate = fate_of(
            changes=changes, event_id=item.calendar_event_id, rows=rows, start=item.start, end=item.end
        )
        fates.append((item, fate))
    return fates


def write_fields(*, rows: Iterable[models.Model], fields: Sequence[str]) -> None:
    """Store ``fields`` of each of ``rows`` (all of one model) with one prepared UPDATE run for every row.

    Django's ``bulk_update`` writes a CASE branch per row and field, and resolving those costs
    seconds at the 10,000 rows an initial sync can touch; one statement executed many times does not.
    """
    rows = list(rows)
    if not rows:
        return
    meta = rows[0]._meta
    pk = meta.pk
    assert pk is not None
    columns = [field for field in meta.concrete_fields if field.name in fields]
    quote = database.ops.quote_name
    assignments = ", ".join(f"{quote(str(column.column))} = %s" for column in columns)
    # Only the model's own table and column names, quoted, go into the statement; values are parameters.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(str(pk.column))} = %s"  # noqa: S608
    params = [
        [column.get_db_prep_save(getattr(row, column.attname), database) for column in columns]
        + [pk.get_db_prep_value(row.pk, database)]
        for row in rows
    ]
    with database.cursor() as cursor:
        cursor.executemany(sql, params)


def answers_of(row: StoredEvent) -> dict[str, str]:
    """The attendees' answers of a stored event, by lower-cased address (unknown answers left out)."""
    return {
        str(a.get("email", "")).lower(): str(a.get("response"))
        for a in row.attendees
        if a.get("email") and a.get("response") in ANSWERS
    }


# A cancellation of an event that is gone from the CalDAV server cannot read the SEQUENCE its
# attendees hold. Attendees' clients apply a CANCEL only with a SEQUENCE at least theirs
# (RFC 5546 §2.1.4) and SEQUENCE only has to grow (RFC 5545 §3.8.7.4), so such a cancellation
# carries the minutes since this moment: above any count of edits an event reaches.
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def sequence_for_gone_event(*, now: datetime) -> int:
    return int((now - _SEQUENCE_EPOCH).total_seconds() // 60)


def mail_sequence(*, row: StoredEvent | None, now: datetime) -> int:
    """The SEQUENCE Yoyaku's own iMIP mail about a CalDAV event carries.

    On CalDAV Yoyaku is its attendees' scheduling agent (it writes SCHEDULE-AGENT=CLIENT, RFC 6638
    §7.1), so nobody else tells them of a change made on the calendar. The mail carries the
    SEQUENCE the sync just stored (at least 1, above the invitation's 0); an event that is gone
    (``row`` None) has none to read.
    """
    if row is None:
        return sequence_for_gone_event(now=now)
    return max(row.sequence, 1)


def queue_follow_up_mail(*, event_id: str, connection_id: int, send: Callable[[], None]) -> None:
    """Queue a mail about a change made on the calendar, in the sync page's transaction.

    Queued with the change, the mail is sent once the page commits and is never lost to a crash
    after it. A mail that cannot be queued is logged and rolled back to its savepoint alone:
    the change stands whatever the mail does.
    """
    try:
        with transaction.atomic():
            send()
    except Exception:
        logger.exception("Mail about calendar event %s of connection %s failed", event_id, connection_id)
