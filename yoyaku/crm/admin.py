"""CRM rows in the Django admin, each workspace's own (see accounts/admin.py for the scoping rules)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from yoyaku.accounts.admin import WorkspaceScopedAdmin, same_workspace
from yoyaku.crm.models import Contact, Meeting


class ContactForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Contact
        fields = ("workspace", "email", "first_name", "last_name", "owner", "time_zone", "properties")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        same_workspace(data.get("workspace"), [data.get("owner")], "owner")
        return data


@admin.register(Contact)
class ContactAdmin(WorkspaceScopedAdmin):
    form = ContactForm
    list_display = ("email", "first_name", "last_name", "owner", "workspace")
    list_filter = ("workspace",)
    search_fields = ("email", "first_name", "last_name")


class MeetingForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Meeting
        fields = ("workspace", "title", "start", "end", "location", "description", "outcome", "hosts")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        same_workspace(data.get("workspace"), list(data.get("hosts") or []), "hosts")
        return data


@admin.register(Meeting)
class MeetingAdmin(WorkspaceScopedAdmin):
    form = MeetingForm
    list_display = ("title", "start", "outcome", "source", "workspace")
    list_filter = ("workspace", "outcome", "source")
    search_fields = ("title",)
