from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class Contact(models.Model):
    """A person of one workspace's CRM; the same address in two workspaces is two contacts."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
    )
    time_zone = models.CharField(max_length=64, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("workspace", Lower("email"), name="contact_email_unique_ci_per_workspace")
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} <{self.email}>".strip()


class MeetingSource(models.TextChoices):
    BOOKING = "booking", _("Booked on a scheduling page")
    CRM = "crm", _("Created in the CRM")
    CALENDAR = "calendar", _("From the calendar")


class MeetingOutcome(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    COMPLETED = "completed", _("Completed")
    RESCHEDULED = "rescheduled", _("Rescheduled")
    NO_SHOW = "no_show", _("No show")
    CANCELLED = "cancelled", _("Cancelled")
    # A booking left as a request (the page could not confirm a time): not a meeting yet.
    REQUESTED = "requested", _("Requested")


class Meeting(models.Model):
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="meetings")
    title = models.CharField(max_length=300)
    start = models.DateTimeField()
    end = models.DateTimeField()
    # A place or a video link: shown as given, put on the calendar event as its location.
    location = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    # For the workspace only: never written to the calendar nor sent to the contacts.
    internal_notes = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=MeetingSource.choices)
    outcome = models.CharField(
        max_length=32, choices=MeetingOutcome.choices, default=MeetingOutcome.SCHEDULED
    )
    hosts = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="crm_meetings", blank=True)
    contacts = models.ManyToManyField(Contact, through="MeetingAssociation", related_name="meetings")
    calendar_event_id = models.CharField(max_length=1000, blank=True)
    # The calendar write of a meeting made in the CRM (a booking's meeting is written with its booking):
    # the same states, retries and bounds as a booking's (scheduling.models.CalendarWrite).
    calendar_connection = models.ForeignKey(
        "accounts.CalendarConnection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    calendar_write = models.CharField(max_length=16, default="none")
    calendar_error = models.CharField(max_length=500, blank=True)
    calendar_attempts = models.PositiveIntegerField(default=0)
    calendar_pending_since = models.DateTimeField(null=True, blank=True)
    calendar_retry_at = models.DateTimeField(null=True, blank=True)
    # The contacts' answers on the calendar event, by lower-cased address: accepted, declined,
    # tentative or needs_action (kept current from the synced event).
    attendee_responses = models.JSONField(default=dict, blank=True)
    # Why a meeting made in the CRM is not on a calendar ("no_calendar", "exchange"), for the pages to say.
    crm_only_reason = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "start"], name="meeting_workspace_start"),
            models.Index(fields=["calendar_write", "calendar_retry_at"], name="meeting_calendar_retry"),
        ]

    def __str__(self) -> str:
        return self.title


class MeetingAssociation(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
    # The contact's answer to the calendar invitation, as the host's calendar last showed it
    # ("accepted", "declined", "tentative", "needs_action"; "" when unknown or not from a calendar).
    response = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "contact"], name="meeting_contact_once")]


class CalendarEventLink(models.Model):
    """A meeting logged from a calendar event (``source=calendar``) and the event it follows.

    The event is named by the provider's ids, never by a row of the event store, so a full
    resync, which replaces every row, keeps the link. An event that no longer involves a
    contact is unlinked (``unlinked_at``): the meeting stays with its history and stops
    following the event.
    """

    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="calendar_link")
    connection = models.ForeignKey("accounts.CalendarConnection", on_delete=models.CASCADE, related_name="+")
    calendar_id = models.CharField(max_length=1000)
    event_id = models.CharField(max_length=1000)
    # The instance's original start for one instance of a series (SyncedEvent.recurrence_id), else "".
    recurrence_id = models.CharField(max_length=64, blank=True, default="")
    ical_uid = models.CharField(max_length=1000, blank=True, default="")
    organizer = models.CharField(max_length=320, blank=True, default="")
    unlinked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "calendar_id", "event_id", "recurrence_id"],
                name="calendar_event_link_once",
            )
        ]

    @property
    def linked(self) -> bool:
        return self.unlinked_at is None

    def __str__(self) -> str:
        return f"meeting {self.meeting_id} <- event {self.event_id}"
