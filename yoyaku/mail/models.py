"""The outgoing-mail queue: one row per message, written in the transaction of the change it tells of."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MailStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class OutgoingMail(models.Model):
    """A message as Django would send it (``mail/serialise.py``), and how its delivery goes.

    A consumer sends a row only while it holds the lease (``lease_until``), so two consumers never
    send one message; a lease that lapses (a consumer that died) lets the sweep take the row again.
    """

    created_at = models.DateTimeField(_("queued at"), default=timezone.now)
    message = models.JSONField(_("message"))
    status = models.CharField(
        _("status"), max_length=10, choices=MailStatus.choices, default=MailStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")

    class Meta:
        verbose_name = _("outgoing mail")
        verbose_name_plural = _("outgoing mail")
        indexes = [
            # The sweep's question: which waiting messages are due.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="mail_pending_due"),
            models.Index(fields=["status", "created_at"], name="mail_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.message.get('subject', '')} → {', '.join(self.message.get('to', []))}"
