"""What the sync keeps of each connected calendar: its events, the busy index, and the bookkeeping;
and the outbox of what Yoyaku still owes the calendars (``CalendarOutboxEntry``).

Links from bookings and CRM meetings to calendar events are by provider event id
(``Booking.calendar_event_id``), never by a row of this store, so a full resync that
replaces every row keeps them.
"""

from __future__ import annotations

from django.db import models

from yoyaku.accounts.models import CalendarConnection, User


class SyncedEvent(models.Model):
    """One event, or one instance of a recurring series, as last read from the provider."""

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="synced_events")
    calendar_id = models.CharField(max_length=1000)
    # The provider's id: Google event id (an instance's own id), Graph event id, CalDAV object href.
    event_id = models.CharField(max_length=1000)
    # An expanded instance's original start (RFC 3339, UTC); "" for a single event.
    recurrence_id = models.CharField(max_length=64, blank=True, default="")
    series_id = models.CharField(max_length=1000, blank=True, default="")
    ical_uid = models.CharField(max_length=1000, blank=True, default="")
    title = models.CharField(max_length=500, blank=True, default="")
    start = models.DateTimeField()
    end = models.DateTimeField()
    # The same instants as epoch seconds: the busy index is rebuilt from these without turning every
    # row into a datetime (a tenth of the cost at 10,000 events).
    start_epoch = models.BigIntegerField(default=0)
    end_epoch = models.BigIntegerField(default=0)
    all_day = models.BooleanField(default=False)
    # confirmed, tentative or cancelled
    status = models.CharField(max_length=16, default="confirmed")
    # busy, tentative, oof or free: how it blocks the host's time, by the adapter's rules.
    show_as = models.CharField(max_length=16, default="busy")
    organizer = models.CharField(max_length=320, blank=True, default="")
    # [{"email", "name", "response"}]
    attendees = models.JSONField(default=list, blank=True)
    location = models.CharField(max_length=1000, blank=True, default="")
    # The event's description as plain text (Graph's HTML bodies are asked for as text).
    description = models.TextField(blank=True, default="")
    etag = models.CharField(max_length=255, blank=True, default="")
    changed_at = models.DateTimeField(null=True, blank=True)
    # The event's SEQUENCE on a CalDAV server, which Yoyaku's iMIP mail about it must reach.
    sequence = models.PositiveIntegerField(default=0)
    synced_at = models.DateTimeField()
    # Set when the provider's data for this event could not be read: the row then holds what could
    # still be placed (its span, its day or the window), and the host is shown the event and why.
    unreadable_reason = models.CharField(max_length=16, blank=True, default="")
    unreadable_detail = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "calendar_id", "event_id", "recurrence_id"],
                name="synced_event_unique_instance",
            )
        ]
        indexes = [
            models.Index(fields=["connection", "start"], name="synced_event_conn_start"),
            models.Index(fields=["connection", "ical_uid"], name="synced_event_conn_uid"),
        ]

    def __str__(self) -> str:
        return f"{self.title or self.event_id} ({self.start:%Y-%m-%d %H:%M})"


class CalendarSyncState(models.Model):
    """The incremental sync position of one calendar of a connection."""

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="sync_states")
    calendar_id = models.CharField(max_length=1000)
    # Google nextSyncToken, Graph deltaLink, CalDAV DAV:sync-token (RFC 6578).
    token = models.TextField(blank=True, default="")
    full_synced_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "calendar_id"], name="sync_state_unique_calendar")
        ]


class ConnectionSync(models.Model):
    """Per connection: the busy index that availability reads, and how the sync has been going.

    The index is two packed arrays of int64 epoch seconds (``calendar_sync.index``):
    merged, disjoint, sorted busy spans (busy and out of office) and tentative spans, kept
    apart so the host's "tentative blocks time" applies when reading.
    """

    connection = models.OneToOneField(
        CalendarConnection, on_delete=models.CASCADE, primary_key=True, related_name="sync"
    )
    busy_index = models.BinaryField(default=b"")
    tentative_index = models.BinaryField(default=b"")
    # The span the index is complete for; a window outside it is not known.
    covered_from = models.DateTimeField(null=True, blank=True)
    covered_until = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Held by the consumer syncing the connection (tasks.sync_connection); it lapses by itself, so a
    # consumer that died mid-sync never blocks the connection for good.
    lease_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sync of connection {self.connection_id}"


class PushChannel(models.Model):
    """A provider's promise to tell Yoyaku when a calendar changes: a Google channel (events.watch) or
    a Microsoft Graph subscription. A notification only starts a sync of that connection."""

    connection = models.ForeignKey(CalendarConnection, on_delete=models.CASCADE, related_name="push_channels")
    calendar_id = models.CharField(max_length=1000)
    # Google: the channel id Yoyaku chose; Graph: the subscription id Graph gave.
    channel_id = models.CharField(max_length=255, unique=True)
    # Google's resourceId (needed to stop the channel); "" for Graph.
    resource_id = models.CharField(max_length=255, blank=True, default="")
    # The channel token (Google) or clientState (Graph) each notification must carry.
    secret = models.CharField(max_length=128)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"push channel {self.channel_id} of connection {self.connection_id}"


class OutboxTarget(models.TextChoices):
    BOOKING = "booking", "booking"
    MEETING = "meeting", "CRM meeting"


class OutboxOperation(models.TextChoices):
    CREATE = "create", "create"
    UPDATE = "update", "update"
    CANCEL = "cancel", "cancel"


class CalendarOutboxEntry(models.Model):
    """A calendar write Yoyaku owes: written in the transaction of the change, performed by a worker.

    One row per booking or CRM meeting at most: a change recorded while one waits coalesces into it
    (two moves write once; a cancel before the create was performed writes nothing), because the
    worker writes what the booking or meeting is now (its ``calendar_write`` state says whether that
    is an event or a cancellation). ``changes`` counts what was recorded, so a worker that performed
    an older change leaves the row for the newer one. The row goes once the calendar matches, or
    once the write is given up (the booking or meeting then shows it failed).
    """

    target = models.CharField(max_length=16, choices=OutboxTarget.choices)
    # The booking's UUID or the meeting's id, as text (one column for both kinds).
    target_id = models.CharField(max_length=64)
    # The host whose calendar it goes to, for "resume after reconnect".
    host = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    # The latest change recorded (for logs and the admin; the worker reads the target's state).
    operation = models.CharField(max_length=16, choices=OutboxOperation.choices)
    changes = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a worker may next perform it; null while it waits for the calendar to be reconnected.
    run_after = models.DateTimeField(null=True, blank=True)
    # Held by the worker performing it; it lapses by itself, so a worker that died blocks nothing.
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["target", "target_id"], name="calendar_outbox_one_per_target")
        ]
        indexes = [models.Index(fields=["run_after"], name="calendar_outbox_due")]

    def __str__(self) -> str:
        return f"calendar {self.operation} of {self.target} {self.target_id}"
