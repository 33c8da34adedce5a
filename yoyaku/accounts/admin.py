"""The Django admin for workspaces, until they have pages of their own (staff only).

Staff who are not superusers see and change only their own workspace. Every form that ties a user
to something (a seat, a page, a contact) refuses a user of another workspace. Secrets never show:
no encrypted passwords or token JSON, no API key hashes.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from yoyaku.accounts.models import ApiKey, CalendarConnection, InboxConnection, Seat, User, Workspace


def requester(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


class WorkspaceScopedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Limit a staff member who is not a superuser to the rows of their workspace.

    ``workspace_path`` is the lookup from the model to its workspace's id.
    """

    workspace_path = "workspace_id"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = super().get_queryset(request)
        user = requester(request)
        if user.is_superuser:
            return rows
        return rows.filter(**{self.workspace_path: user.workspace_id})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        user = requester(request)
        if not user.is_superuser:
            if db_field.related_model is User:
                kwargs["queryset"] = User.objects.filter(workspace_id=user.workspace_id)
            elif db_field.related_model is Workspace:
                kwargs["queryset"] = Workspace.objects.filter(pk=user.workspace_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        user = requester(request)
        if not user.is_superuser and db_field.related_model is User:
            kwargs["queryset"] = User.objects.filter(workspace_id=user.workspace_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def same_workspace(workspace: Workspace | None, users: list[User | None], field: str) -> None:
    """A form's check: every user named belongs to ``workspace``."""
    outside = [
        u.username
        for u in users
        if u is not None and workspace is not None and u.workspace_id != workspace.pk
    ]
    if outside:
        raise forms.ValidationError(
            {
                field: _("Only users of the same workspace can be chosen: %(names)s is not one.")
                % {"names": ", ".join(outside)}
            }
        )


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    workspace_path = "pk"
    list_display = ("name", "created_at")
    search_fields = ("name",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return requester(request).is_superuser and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return requester(request).is_superuser and super().has_delete_permission(request, obj)


class SeatInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Seat
    fk_name = "user"
    extra = 0
    fields = ("hub", "tier")


@admin.register(User)
class UserAdmin(WorkspaceScopedAdmin, DjangoUserAdmin):  # type: ignore[misc]
    list_display = ("username", "email", "workspace", "workspace_role", "can_use_personal_email", "is_staff")
    list_filter = ("workspace", "workspace_role", "can_use_personal_email", "is_staff", "is_active")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,  # type: ignore[misc]
        (
            _("Workspace"),
            {"fields": ("workspace", "workspace_role", "can_use_personal_email", "time_zone", "language")},
        ),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,  # type: ignore[misc]
        (_("Workspace"), {"fields": ("workspace", "workspace_role")}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if requester(request).is_superuser or obj is None:
            return fieldsets
        # Instance-wide powers stay with superusers.
        hidden = {"is_superuser", "groups", "user_permissions"}
        return [
            (name, {**opts, "fields": tuple(f for f in opts["fields"] if f not in hidden)})
            for name, opts in fieldsets
        ]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        from yoyaku.accounts.services import move_user

        if change and "workspace" in form.changed_data:
            # Moving undoes what tied the user to the old workspace (seats, co-hosting, shared inboxes).
            new_workspace, role = obj.workspace, obj.workspace_role
            obj.workspace_id = form.initial["workspace"]
            super().save_model(request, obj, form, change)
            move_user(user=obj, workspace=new_workspace, role=role)
            return
        super().save_model(request, obj, form, change)


class SeatForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Seat
        fields = ("workspace", "hub", "tier", "user")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        same_workspace(data.get("workspace"), [data.get("user")], "user")
        return data


@admin.register(Seat)
class SeatAdmin(WorkspaceScopedAdmin):
    form = SeatForm
    list_display = ("workspace", "hub", "tier", "user")
    list_filter = ("workspace", "hub", "tier")


@admin.register(InboxConnection)
class InboxConnectionAdmin(WorkspaceScopedAdmin):
    workspace_path = "user__workspace_id"
    list_display = ("email", "user", "provider", "shared")
    list_filter = ("shared", "provider")
    search_fields = ("email",)
    # Only "shared" is an admin's to set; the rest comes from connecting.
    fields = ("user", "email", "provider", "calendar_connection", "shared")
    readonly_fields = ("user", "email", "provider", "calendar_connection")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(CalendarConnection)
class CalendarConnectionAdmin(WorkspaceScopedAdmin):
    workspace_path = "user__workspace_id"
    list_display = ("account_email", "user", "provider", "purpose", "status")
    list_filter = ("provider", "status")
    # Read-only and without secret_encrypted or provider details.
    fields = (
        "user",
        "provider",
        "purpose",
        "account_email",
        "server_url",
        "username",
        "status",
        "status_message",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(WorkspaceScopedAdmin):
    workspace_path = "user__workspace_id"
    list_display = ("user", "name", "prefix", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    # The hash stays out of sight; an admin may only revoke.
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
