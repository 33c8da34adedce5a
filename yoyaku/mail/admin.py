"""Queued mail in the Django admin, for superusers only: it holds every workspace's messages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from yoyaku.mail.models import OutgoingMail
from yoyaku.mail.services import retry_now


@admin.register(OutgoingMail)
class OutgoingMailAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "created_at",
        "subject",
        "recipients",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("status",)
    ordering = ("-created_at",)
    fields = (
        "created_at",
        "subject",
        "recipients",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )
    readonly_fields = fields
    actions = ["send_again"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    @admin.display(description=_("subject"))
    def subject(self, mail: OutgoingMail) -> str:
        return str(mail.message.get("subject", ""))

    @admin.display(description=_("recipients"))
    def recipients(self, mail: OutgoingMail) -> str:
        return ", ".join([*mail.message.get("to", []), *mail.message.get("cc", [])])

    @admin.action(description=_("Send again"))
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutgoingMail]) -> None:
        count = retry_now(mail_ids=list(queryset.values_list("pk", flat=True)), now=timezone.now())
        self.message_user(
            request,
            ngettext(
                "%(count)d message will be sent again within a minute.",
                "%(count)d messages will be sent again within a minute.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
