from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def default_weekly_hours() -> dict[str, list[list[int]]]:
    nine_to_five = [[9 * 60, 17 * 60]]
    return {str(day): nine_to_five for day in range(5)}


class Availability(models.Model):
    """A host's working hours: local minutes from midnight in the user's time zone."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability"
    )
    weekly = models.JSONField(default=default_weekly_hours)  # {"0": [[540, 1020]], ...} 0 = Monday
    overrides = models.JSONField(default=dict, blank=True)  # {"2026-12-24": []} empty list = day off
    updated_at = models.DateTimeField(auto_now=True)


class LinkKind(models.TextChoices):
    ONE_ON_ONE = "one_on_one", _("One-on-one")
    GROUP = "group", _("Group")
    ROUND_ROBIN = "round_robin", _("Round robin")


class MeetingLink(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=LinkKind.choices, default=LinkKind.ONE_ON_ONE)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_links")
    hosts = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="meeting_links")
    durations = models.JSONField(default=list)  # minutes, e.g. [15, 30, 60]
    increment_minutes = models.PositiveSmallIntegerField(default=30)
    notice_minutes = models.PositiveIntegerField(default=0)
    # How long before the meeting the booker may still move or cancel it through the manage links.
    change_notice_minutes = models.PositiveIntegerField(default=0)
    buffer_before_minutes = models.PositiveIntegerField(default=0)
    buffer_after_minutes = models.PositiveIntegerField(default=0)
    # How far ahead bookers may book, counted from now: rolling_days when set, else rolling_weeks
    # (a page keeps one of the two); a fixed date range replaces both.
    rolling_weeks = models.PositiveSmallIntegerField(null=True, blank=True, default=8)
    rolling_days = models.PositiveSmallIntegerField(null=True, blank=True)
    fixed_start = models.DateField(null=True, blank=True)
    fixed_end = models.DateField(null=True, blank=True)
    max_per_day = models.PositiveSmallIntegerField(null=True, blank=True)
    prioritize_contact_owner = models.BooleanField(default=False)
    # [{"key": "company", "label": "Company", "type": "text|textarea|select|checkbox|radio|phone",
    #   "required": true, "options": ["a", "b"]}]
    form_fields = models.JSONField(default=list, blank=True)
    location = models.CharField(max_length=500, blank=True)
    confirmation_message = models.TextField(blank=True)
    redirect_url = models.URLField(blank=True, max_length=500)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class BookingStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    REQUESTED = "requested", _("Requested")
    CANCELLED = "cancelled", _("Cancelled")


class CalendarWrite(models.TextChoices):
    NONE = "none", _("No calendar")
    PENDING = "pending", _("Pending")
    WRITTEN = "written", _("Written")
    FAILED = "failed", _("Failed")
    # A written event whose booking was cancelled: it is being cancelled on the calendar too.
    CANCEL_PENDING = "cancel_pending", _("Cancellation pending")
    CANCELLED = "cancelled", _("Cancelled on the calendar")
    CANCEL_FAILED = "cancel_failed", _("Cancellation failed")


class AttendeeResponse(models.TextChoices):
    """An attendee's answer to the calendar event, as every adapter names it (RFC 5545 PARTSTAT)."""

    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    TENTATIVE = "tentative", _("Maybe")
    NEEDS_ACTION = "needs_action", _("Not answered yet")


class Booking(models.Model):
    """A booked meeting, or a meeting request when the page is offline or its calendar unreadable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    link = models.ForeignKey(MeetingLink, on_delete=models.PROTECT, related_name="bookings")
    status = models.CharField(max_length=16, choices=BookingStatus.choices)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    answers = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    # Why the meeting was cancelled (by the host, or by the booker through the manage link's cancel
    # form) or the request declined; the contact's mail quotes it.
    cancel_reason = models.TextField(blank=True)
    # Who cancelled: "host", "booker" or "calendar" (the event was deleted or cancelled on the host's
    # calendar; empty before cancelling), so each mail words the reason right.
    cancelled_by = models.CharField(max_length=8, blank=True)
    assigned_host = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assigned_bookings"
    )
    contact = models.ForeignKey("crm.Contact", null=True, on_delete=models.SET_NULL, related_name="bookings")
    meeting = models.ForeignKey("crm.Meeting", null=True, on_delete=models.SET_NULL, related_name="bookings")
    calendar_event_id = models.CharField(max_length=1000, blank=True)
    # Where the event is (``scheduling.event_calendar``), recorded when it is written: the connection
    # that wrote it, and its account ("provider:address", ``event_calendar.calendar_account``), which
    # outlives the connection so that the same account connected again (a new row) is known to hold
    # the event still. Both are empty for an event written before they were kept: the host's meetings
    # connection holds it.
    calendar_connection = models.ForeignKey(
        "accounts.CalendarConnection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    calendar_account = models.CharField(max_length=1000, blank=True)
    calendar_write = models.CharField(max_length=16, choices=CalendarWrite.choices, default="none")
    calendar_error = models.CharField(max_length=500, blank=True)
    # Retry bookkeeping of a pending write or cancellation: attempts and age are bounded (settings),
    # and the sweep leaves a booking alone until its retry_at.
    calendar_attempts = models.PositiveIntegerField(default=0)
    calendar_pending_since = models.DateTimeField(null=True, blank=True)
    calendar_retry_at = models.DateTimeField(null=True, blank=True)
    # The attendees' answers on the host's calendar event, by lower-cased address: accepted, declined,
    # tentative or needs_action (``calendar_changes.follow_booked_events`` keeps them current).
    attendee_responses = models.JSONField(default=dict, blank=True)
    # The time the event was moved to on the calendar when Yoyaku could not take it, because it
    # collides with another of the hosts' meetings (``conflict_with``): the booking and its
    # reservations keep their time until the host moves one of the two. Null when there is none.
    calendar_conflict_start = models.DateTimeField(null=True, blank=True)
    calendar_conflict_end = models.DateTimeField(null=True, blank=True)
    calendar_conflict_with = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The language of the page the booker used (empty: the site default); mails to the booker speak it.
    language = models.CharField(max_length=16, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    # SHA-256 of the canonical request that made the booking (services.request_fingerprint): the
    # same key with another request is refused instead of answered with this booking. Empty on
    # bookings made before it was kept, which any request with their key still gets back.
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="booking_idempotency_key_once_per_link",
            ),
        ]
        indexes = [
            models.Index(fields=["link", "created_at"]),
            models.Index(fields=["calendar_write", "calendar_retry_at"], name="booking_calendar_retry"),
        ]


class Reservation(models.Model):
    """One host's claim on a buffered span of time for a booking.

    PostgreSQL refuses two active reservations of one host whose spans overlap
    (an exclusion constraint added in the migration); on SQLite the check runs
    inside an IMMEDIATE transaction that holds the write lock.
    """

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reservations")
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reservations")
    start = models.DateTimeField()  # start minus buffer before
    end = models.DateTimeField()  # end plus buffer after
    active = models.BooleanField(default=True)
    # A meeting request's hold on its time lapses then (YOYAKU_REQUEST_HOLD_HOURS); null for a booking.
    # A lapsed hold blocks nothing: the selectors ignore it and a booking releases it under the lock.
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["host", "start"], name="reservation_host_start")]
