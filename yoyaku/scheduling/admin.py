"""Scheduling pages and bookings in the Django admin, each workspace's own (rules: accounts/admin.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from yoyaku.accounts.admin import WorkspaceScopedAdmin, same_workspace
from yoyaku.scheduling.host_services import notify_added_hosts
from yoyaku.scheduling.models import Booking, MeetingLink


class MeetingLinkForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = MeetingLink
        fields = ("slug", "name", "kind", "owner", "hosts", "active")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        owner = data.get("owner")
        if owner is not None:
            same_workspace(owner.workspace, list(data.get("hosts") or []), "hosts")
        return data


@admin.register(MeetingLink)
class MeetingLinkAdmin(WorkspaceScopedAdmin):
    """Owner, co-hosts and on/off; the rest of a page is set through the API."""

    workspace_path = "owner__workspace_id"
    form = MeetingLinkForm
    list_display = ("slug", "name", "kind", "owner", "active")
    list_filter = ("kind", "active")
    search_fields = ("slug", "name")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        before = set(form.instance.hosts.values_list("pk", flat=True))
        super().save_related(request, form, formsets, change)
        # Hosts added here are told, as when the owner adds them through the API.
        notify_added_hosts(link=form.instance, before=before)


@admin.register(Booking)
class BookingAdmin(WorkspaceScopedAdmin):
    """Read-only: bookings change through cancel and reschedule, which keep calendars in step."""

    workspace_path = "link__owner__workspace_id"
    list_display = ("start", "link", "assigned_host", "email", "status", "calendar_write")
    list_filter = ("status", "calendar_write")
    search_fields = ("email", "first_name", "last_name")
    fields = (
        "link",
        "status",
        "start",
        "end",
        "time_zone",
        "first_name",
        "last_name",
        "email",
        "assigned_host",
        "contact",
        "meeting",
        "calendar_write",
        "calendar_error",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
