"""The calendar outbox: every write Yoyaku owes a host's calendar, recorded with the change.

A booking, move, cancellation or CRM meeting change records its row (``CalendarOutboxEntry``) in
the transaction that makes the change, so the change and the promise to put it on the calendar
commit together or not at all. A worker performs the row after commit (``tasks.perform_calendar_write``)
and a sweep every minute picks up rows whose worker was lost. Rows coalesce per booking or meeting:
the worker writes what the booking or meeting is when it runs, so a cancel recorded before the
create was performed writes nothing and two moves write once; a change recorded while a worker
performs the row bumps ``changes``, and the worker, on finishing, leaves the row for that change
and performs it next, so the changes of one booking reach the calendar in order.

A worker claims a row with a lease (a conditional UPDATE in the database every worker shares, the
same pattern as a sync's lease), so two workers never perform one row at once; the lease lapses
after ``LEASE``, so a worker that died mid-write blocks nothing for good. Retrying never makes a
second event: each adapter writes with an idempotency key (Google's client-chosen event id, Graph's
transactionId, the CalDAV UID with If-None-Match).

What a row means is the business of the app that owns its target: each registers a ``Performer``
(``scheduling`` for bookings, ``crm`` for meetings) when Django starts. A performer keeps the
target's own state (``calendar_write`` and the attempts, age and error the pages show) and tells
the outbox what to do with the row: done, perform it again now, retry at a time, or wait for the
calendar to be reconnected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from yoyaku.calendar_sync.models import CalendarOutboxEntry, OutboxOperation, OutboxTarget

logger = logging.getLogger(__name__)

# Longer than any write takes (the adapters give up on a provider long before).
LEASE = timedelta(minutes=10)
# Changes recorded while a worker writes are performed by that worker right after, this many times
# at most; past that the sweep takes over, so a target changed without pause cannot hold a worker.
MAX_ROUNDS = 5
# How long a row waits when its performer itself broke (not the calendar: that is the performer's).
BROKEN_PERFORMER_WAIT = timedelta(minutes=5)
# At most this many rows are queued by one sweep; the rest are due at the next one.
SWEEP_BATCH = 500


@dataclass(frozen=True)
class Outcome:
    """What a performer did with a row: ``done`` (the calendar matches, or it was given up),
    ``again`` (the target changed meanwhile: perform it again now), ``retry`` (at ``retry_at``),
    ``waiting`` (for the host to reconnect the calendar)."""

    kind: Literal["done", "again", "retry", "waiting"]
    retry_at: datetime | None = None


DONE = Outcome("done")
AGAIN = Outcome("again")
WAITING = Outcome("waiting")


def retry_at(when: datetime) -> Outcome:
    return Outcome("retry", retry_at=when)


@dataclass(frozen=True)
class Performer:
    """How the owning app performs its rows: ``perform(target_id)``, and ``resumed(host_id, now)``
    to restart the age bound of a host's writes once the calendar is reconnected (time spent
    waiting for the host is not the provider failing)."""

    perform: Callable[[str], Outcome]
    resumed: Callable[[int, datetime], None]


_PERFORMERS: dict[str, Performer] = {}


def register_performer(*, target: OutboxTarget, performer: Performer) -> None:
    _PERFORMERS[target] = performer


def record_calendar_write(
    *, target: OutboxTarget, target_id: str, host_id: int, operation: OutboxOperation
) -> int:
    """Record that ``target`` must reach its host's calendar; returns the row's id.

    Call inside the transaction that makes the change: the row commits with it or not at all.
    A row already waiting for the target takes the change (one write, of the latest state); its
    retry time stays when later than now, so a Retry-After the provider gave is still honoured.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("A calendar write is recorded in the transaction of its change.")
    now = timezone.now()
    rows = CalendarOutboxEntry.objects.select_for_update()
    entry = rows.filter(target=target, target_id=target_id).first()
    if entry is None:
        try:
            with transaction.atomic():
                return CalendarOutboxEntry.objects.create(
                    target=target, target_id=target_id, host_id=host_id, operation=operation, run_after=now
                ).pk
        except IntegrityError:
            # Recorded by a concurrent change of the same target: join it.
            entry = rows.get(target=target, target_id=target_id)
    entry.changes += 1
    entry.operation = operation
    entry.host_id = host_id
    entry.run_after = max(entry.run_after or now, now)
    entry.save(update_fields=["changes", "operation", "host", "run_after"])
    return entry.pk


def claim(*, entry_id: int, now: datetime) -> CalendarOutboxEntry | None:
    """The row, leased to the caller, when it is due and nobody holds it; else None."""
    taken = (
        CalendarOutboxEntry.objects.filter(pk=entry_id, run_after__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )
    if taken != 1:
        return None
    return CalendarOutboxEntry.objects.filter(pk=entry_id).first()


def _finish(*, entry: CalendarOutboxEntry, outcome: Outcome, now: datetime) -> bool:
    """Store what became of the row and give up its lease; True when it must be performed again now.

    Only while the lease is still this worker's: one that outlived it leaves the row to its new holder.
    """
    rows = CalendarOutboxEntry.objects.filter(pk=entry.pk, lease_until=entry.lease_until)
    if outcome.kind == "done":
        # Only the change that was performed is done: one recorded meanwhile keeps the row.
        if rows.filter(changes=entry.changes).delete()[0]:
            return False
        rows.update(lease_until=None, run_after=now)
        return True
    if outcome.kind == "again":
        rows.update(lease_until=None, run_after=now)
        return True
    if outcome.kind == "retry":
        rows.update(lease_until=None, run_after=outcome.retry_at)
        return False
    rows.update(lease_until=None, run_after=None)  # waiting: reconnecting makes it due
    return False


def perform(*, entry_id: int, now: datetime | None = None) -> Outcome | None:
    """Claim the row and perform it, again while changes arrive; None when it was not ours to perform.

    Returns the last outcome, so the caller can schedule a retry at its time.
    """
    outcome: Outcome | None = None
    for _round in range(MAX_ROUNDS):
        moment = now or timezone.now()
        entry = claim(entry_id=entry_id, now=moment)
        if entry is None:
            return outcome
        try:
            outcome = _PERFORMERS[entry.target].perform(entry.target_id)
        except Exception:
            # A bug of ours, not the calendar's answer (performers record those): the row stays.
            logger.exception("Calendar %s of %s %s failed", entry.operation, entry.target, entry.target_id)
            outcome = retry_at(timezone.now() + BROKEN_PERFORMER_WAIT)
        if not _finish(entry=entry, outcome=outcome, now=now or timezone.now()):
            return outcome
    return outcome


def due(*, now: datetime) -> list[int]:
    """Rows whose time has come and that no live worker holds, oldest first (for the sweep)."""
    rows = (
        CalendarOutboxEntry.objects.filter(run_after__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("run_after", "pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    return list(rows)


def resume_host(*, host_id: int, now: datetime) -> list[int]:
    """A host's rows, due now that the calendar is reconnected (their age bounds start again)."""
    with transaction.atomic():
        for performer in _PERFORMERS.values():
            performer.resumed(host_id, now)
        rows = CalendarOutboxEntry.objects.filter(host_id=host_id)
        ids = list(rows.order_by("created_at", "pk").values_list("pk", flat=True))
        rows.filter(run_after__isnull=True).update(run_after=now)
    return ids
