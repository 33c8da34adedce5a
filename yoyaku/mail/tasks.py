"""Sending queued mail: the task queued when the change commits, and the sweep for retries and for
what the queue lost (``mail/services.py``)."""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from yoyaku.mail.services import deliver_due, deliver_many


@db_task()
def deliver_mails(mail_ids: list[int]) -> None:
    # Failures are recorded on each row and retried by the sweep with its backoff, not by huey.
    deliver_many(mail_ids=mail_ids)


@db_periodic_task(crontab(minute="*"))
def sweep_outgoing_mail() -> None:
    deliver_due(now=timezone.now())
