"""Background calendar work on huey: the sync of each connection (one at a time) with the fallback poll
of every connection, push channels, and the calendar outbox (writes of bookings and CRM meetings).

``sync_connection`` takes a lease on the connection's ``ConnectionSync`` row (a conditional
UPDATE in the database every consumer shares), so several consumers never sync one
connection at once; the lease lapses after SYNC_LEASE, so a consumer that died mid-sync
blocks nothing for good. A sync asked for while another runs is scheduled again shortly,
so a change notified meanwhile is still read. Every task is idempotent: syncing twice
leaves the same store.

``perform_calendar_write`` performs one outbox row (``outbox.py``) after the change that
recorded it commits, and schedules itself again for the row's retry time; the sweep queues
what is due and was lost (no consumer ran, or one died holding the row's lease).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task
from huey.exceptions import TaskLockedException

from yoyaku.accounts.models import CalendarConnection, ConnectionStatus
from yoyaku.calendar_sync import outbox
from yoyaku.calendar_sync.models import ConnectionSync
from yoyaku.calendar_sync.push import PUSH_PROVIDERS, ensure_push, push_enabled
from yoyaku.calendar_sync.services import poll_interval, sync_connection_now

logger = logging.getLogger(__name__)

LOCKED_RETRY_SECONDS = 5
# Longer than any sync takes (the adapters give up on a provider long before).
SYNC_LEASE = timedelta(minutes=15)
# At most this many connections are queued by one poll run; the rest are due at the next one.
POLL_BATCH = 5000
# Rows claimed per statement (SQLite limits the variables of one statement).
CLAIM_BATCH = 500


@db_task()
def sync_connection(connection_id: int) -> None:
    if not take_lease(connection_id=connection_id):
        logger.info("Calendar connection %s is being synced already; syncing again after it", connection_id)
        sync_connection.schedule(args=(connection_id,), delay=LOCKED_RETRY_SECONDS)
        return
    try:
        sync_connection_now(connection_id=connection_id)
    finally:
        ConnectionSync.objects.filter(connection_id=connection_id).update(lease_until=None)


def take_lease(*, connection_id: int) -> bool:
    """True when this caller may sync the connection now (and holds it for at most SYNC_LEASE)."""
    now = timezone.now()
    if not ConnectionSync.objects.filter(connection_id=connection_id).exists():
        try:
            with transaction.atomic():
                ConnectionSync.objects.create(connection_id=connection_id)
        except IntegrityError:
            pass  # made by a racing consumer, or the connection is gone (checked below)
    taken = (
        ConnectionSync.objects.filter(connection_id=connection_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + SYNC_LEASE)
    )
    return taken == 1


@db_periodic_task(crontab(minute="*"))
def poll_connections() -> None:
    """Queue a sync of every connection whose (jittered) poll is due, and of those never synced."""
    queue_due_syncs()


def queue_due_syncs() -> int:
    now = timezone.now()
    due = list(
        CalendarConnection.objects.exclude(status=ConnectionStatus.NEEDS_RECONNECT)
        .filter(Q(sync__isnull=True) | Q(sync__next_poll_at__isnull=True) | Q(sync__next_poll_at__lte=now))
        .values_list("pk", "provider")[:POLL_BATCH]
    )
    # Claimed before queueing, so a backlog does not queue the same connection every minute; in
    # batches, since a query or two per connection made a poll of 1,000 take a minute.
    ConnectionSync.objects.bulk_create(
        [ConnectionSync(connection_id=connection_id) for connection_id, _provider in due],
        ignore_conflicts=True,
        batch_size=CLAIM_BATCH,
    )
    claims = [
        ConnectionSync(connection_id=connection_id, next_poll_at=now + poll_interval(provider=provider))
        for connection_id, provider in due
    ]
    ConnectionSync.objects.bulk_update(claims, ["next_poll_at"], batch_size=CLAIM_BATCH)
    for connection_id, _provider in due:
        sync_connection(connection_id)
    return len(due)


@db_task()
def ensure_push_channels(connection_id: int) -> None:
    """Open or renew the connection's push channels (one at a time per connection, like a sync)."""
    try:
        with HUEY.lock_task(f"yoyaku-calendar-push-{connection_id}"):
            ensure_push(connection_id=connection_id)
    except TaskLockedException:
        logger.info("Push channels of connection %s are being renewed already", connection_id)


@db_periodic_task(crontab(minute="17"))
def renew_push_channels() -> None:
    """Hourly: every Google and Microsoft 365 connection gets channels that outlive the renewal margin."""
    if not push_enabled():
        return
    ids = CalendarConnection.objects.filter(provider__in=PUSH_PROVIDERS).exclude(
        status=ConnectionStatus.NEEDS_RECONNECT
    )
    for connection_id in ids.values_list("pk", flat=True):
        ensure_push_channels(connection_id)


# -- the calendar outbox -------------------------------------------------------------------------


@db_task()
def perform_calendar_write(entry_id: int) -> None:
    outcome = outbox.perform(entry_id=entry_id)
    if outcome is not None and outcome.kind == "retry" and outcome.retry_at is not None:
        # At the row's own time (the provider's Retry-After, or the back-off); the sweep is the net.
        perform_calendar_write.schedule(args=(entry_id,), eta=outcome.retry_at)


@db_periodic_task(crontab(minute="*"))
def sweep_calendar_outbox() -> None:
    """Queue every outbox row that is due and held by no live worker."""
    for entry_id in outbox.due(now=timezone.now()):
        perform_calendar_write(entry_id)


@db_task()
def resume_calendar_writes(user_id: int) -> None:
    """Send a host's writes that waited while the calendar had to be reconnected."""
    for entry_id in outbox.resume_host(host_id=user_id, now=timezone.now()):
        perform_calendar_write(entry_id)
