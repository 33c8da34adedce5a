"""Record a calendar write and have the worker perform it once the caller's transaction commits.

The one entry point bookings and the CRM use (``outbox`` keeps the rows, ``tasks`` performs them);
kept apart from both so that neither imports the other's side.
"""

from __future__ import annotations

from django.db import transaction

from yoyaku.calendar_sync import outbox
from yoyaku.calendar_sync.models import OutboxOperation, OutboxTarget
from yoyaku.calendar_sync.tasks import perform_calendar_write


def queue_calendar_write(
    *, target: OutboxTarget, target_id: str, host_id: int, operation: OutboxOperation
) -> None:
    """Record the write in the caller's transaction and have a worker perform it once that commits.

    Robust: a queue that cannot be reached never undoes the change; the sweep performs the row.
    """
    entry_id = outbox.record_calendar_write(
        target=target, target_id=target_id, host_id=host_id, operation=operation
    )
    transaction.on_commit(lambda: perform_calendar_write(entry_id), robust=True)
