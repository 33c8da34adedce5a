from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


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
    BOOKING = "booking", "Booking"
    CRM = "crm", "CRM"
    CALENDAR = "calendar", "Calendar"


class Meeting(models.Model):
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="meetings")
    title = models.CharField(max_length=300)
    start = models.DateTimeField()
    end = models.DateTimeField()
    location = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=16, choices=MeetingSource.choices)
    outcome = models.CharField(max_length=32, default="scheduled")
    hosts = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="crm_meetings", blank=True)
    contacts = models.ManyToManyField(Contact, through="MeetingAssociation", related_name="meetings")
    calendar_event_id = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class MeetingAssociation(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["meeting", "contact"], name="meeting_contact_once")]
