from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from yoyaku.accounts import crypto
from yoyaku.formatting import full_name


class CalendarLogScope(models.TextChoices):
    CONTACTS = "contacts", _("Events with a contact of the workspace")
    EXTERNAL = "external", _("Events with anyone from outside the workspace")


class Workspace(models.Model):
    """A team on the instance (HubSpot's "account"). No data crosses from one workspace to another:
    every user belongs to exactly one, and hosts, contacts and seats are looked up within it."""

    name = models.CharField(max_length=200)
    # Origins ("https://www.example.com") whose pages may show this workspace's booking pages in
    # an iframe (CSP frame-ancestors); empty: nobody may frame them. Edited by the workspace's admins.
    embed_origins = models.JSONField(default=list, blank=True)
    # Which calendar events the CRM logs as meetings (crm.calendar_log): only those with a contact of
    # the workspace, or any with someone from outside it (who then becomes a contact).
    calendar_log_scope = models.CharField(
        max_length=16, choices=CalendarLogScope.choices, default=CalendarLogScope.CONTACTS
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class WorkspaceRole(models.TextChoices):
    ADMIN = "admin", _("Admin")
    MEMBER = "member", _("Member")


DEFAULT_WORKSPACE_NAME = "Default"


def default_workspace() -> Workspace:
    """The oldest workspace, made when there is none: where a user created without one goes
    (``createsuperuser``, the first account of a new instance)."""
    workspace = Workspace.objects.order_by("pk").first()
    return workspace or Workspace.objects.create(name=DEFAULT_WORKSPACE_NAME)


class WorkspaceUserManager(UserManager["User"]):
    """Django's own commands (createsuperuser) know nothing of workspaces: a user they make without
    one joins the default workspace; ``accounts.services.create_user`` is the way that names one."""

    @staticmethod
    def _with_workspace(extra: dict[str, Any]) -> dict[str, Any]:
        if extra.get("workspace") is None and extra.get("workspace_id") is None:
            extra["workspace"] = default_workspace()
        return extra

    def create_user(  # type: ignore[override]
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        return super().create_user(username, email, password, **self._with_workspace(extra))

    def create_superuser(  # type: ignore[override]
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("workspace_role", WorkspaceRole.ADMIN)
        return super().create_superuser(username, email, password, **self._with_workspace(extra))


class User(AbstractUser):
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="users")
    workspace_role = models.CharField(
        max_length=8, choices=WorkspaceRole.choices, default=WorkspaceRole.MEMBER
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    language = models.CharField(max_length=8, default="en", choices=[("en", "English"), ("ja", "日本語")])
    # File name of the profile photo under MEDIA_ROOT/photos (accounts.profile re-encodes every
    # upload); empty: booking pages show the user's initials.
    photo = models.CharField(max_length=64, blank=True)
    # Granted by an admin; connecting a calendar (and its inbox) needs it.
    can_use_personal_email = models.BooleanField(default=True)
    # Set once a legacy account gives up one of its two connections (see selectors).
    limited_to_one_connection = models.BooleanField(default=False)

    objects: ClassVar[WorkspaceUserManager] = WorkspaceUserManager()

    @property
    def is_workspace_admin(self) -> bool:
        return self.workspace_role == WorkspaceRole.ADMIN

    @property
    def display_name(self) -> str:
        # In the active language's order ("山田 花子" in Japanese).
        return full_name(first_name=self.first_name, last_name=self.last_name) or self.username


class ApiKey(models.Model):
    """A per-user key for the host API. Only a SHA-256 hash is stored; the key is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    @staticmethod
    def hash_key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()


class Provider(models.TextChoices):
    CALDAV = "caldav", "CalDAV"
    GOOGLE = "google", "Google"
    MICROSOFT = "microsoft", "Office 365"
    EXCHANGE = "exchange", "Exchange"


class ConnectionStatus(models.TextChoices):
    OK = "ok", _("Connected")
    NEEDS_RECONNECT = "needs_reconnect", _("Needs reconnect")
    UNAVAILABLE = "unavailable", _("Calendar unreachable")


class ConnectionPurpose(models.TextChoices):
    MEETINGS = "meetings", _("Meetings tool")
    CALENDAR_SETTINGS = "calendar_settings", _("Calendar settings")


class CalendarConnection(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="calendar_connections")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    purpose = models.CharField(max_length=24, choices=ConnectionPurpose.choices, default="meetings")
    account_email = models.EmailField()
    server_url = models.URLField(blank=True, max_length=500)
    username = models.CharField(max_length=200, blank=True)
    # Password (CalDAV, Exchange) or OAuth token JSON, always encrypted.
    secret_encrypted = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=ConnectionStatus.choices, default="ok")
    status_message = models.CharField(max_length=500, blank=True)
    conflict_calendar_ids = models.JSONField(default=list, blank=True)
    write_calendar_id = models.CharField(max_length=500, blank=True)
    tentative_blocks = models.BooleanField(default=True)
    provider_details = models.JSONField(default=dict, blank=True)
    # What is synced from the calendar (events, sync tokens, the busy index) is kept by calendar_sync.
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "purpose"], name="one_connection_per_purpose"),
        ]

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value)


class InboxConnection(models.Model):
    """The email inbox tied to a connected calendar (auto-connected with it)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="inbox_connections")
    email = models.EmailField()
    provider = models.CharField(max_length=16, choices=Provider.choices)
    # A team's shared communication inbox; such an account may not be used by the meetings tool.
    shared = models.BooleanField(default=False)
    calendar_connection = models.ForeignKey(
        CalendarConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="inboxes"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "email"], name="one_inbox_per_address")]


class Seat(models.Model):
    """A paid seat of a workspace; its holder, when any, is a user of the same workspace."""

    class Hub(models.TextChoices):
        SALES = "sales", _("Sales")
        SERVICE = "service", _("Service")
        MARKETING = "marketing", _("Marketing")

    class Tier(models.TextChoices):
        FREE = "free", _("Free")
        STARTER = "starter", _("Starter")
        PROFESSIONAL = "professional", _("Professional")
        ENTERPRISE = "enterprise", _("Enterprise")

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="seats")
    hub = models.CharField(max_length=16, choices=Hub.choices)
    tier = models.CharField(max_length=16, choices=Tier.choices)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="seats")
