"""Queue a message with the change that causes it; deliver it from the worker, once.

``queue_mail`` writes the row in the caller's transaction and, after commit, queues ``deliver_mails``:
a mail exists exactly when its change does, and the request that made the change never waits for
SMTP. ``deliver`` claims the row with a lease (a conditional UPDATE every consumer shares) before
sending, so racing consumers send a message once. An SMTP answer that may pass (connection refused,
a dropped connection, a 4xx reply: RFC 5321 §4.2.1) is tried again later, each wait twice the last,
up to ``YOYAKU_MAIL_MAX_ATTEMPTS``; a 5xx reply, or a message that cannot be built, fails at once.
A failed row stays for staff to see in the admin (and to send again from there); the sweep sends
what is due, and what the queue lost (a web process that died after commit, a consumer that was down).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from yoyaku.mail.models import MailStatus, OutgoingMail
from yoyaku.mail.serialise import message_from_record, message_to_record

logger = logging.getLogger(__name__)

# Far longer than one SMTP exchange (EMAIL_TIMEOUT bounds each step); a consumer that died holding a
# row blocks it this long at most.
MAIL_LEASE = timedelta(minutes=5)
# A fresh row is the queued task's for this long; only then does the sweep take it as lost.
SWEEP_GRACE = timedelta(minutes=1)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=1)
SWEEP_BATCH = 500


def queue_mail(message: EmailMessage) -> OutgoingMail:
    """Store ``message`` in the current transaction and send it from the worker after commit."""
    return queue_mails([message])[0]


def queue_mails(messages: Sequence[EmailMessage]) -> list[OutgoingMail]:
    """``queue_mail`` for several messages, stored with one INSERT."""
    due = timezone.now() + SWEEP_GRACE
    for message in messages:
        # Fixed now, so a message sent again (its sending outlived the lease) is known as the same one.
        message.extra_headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
    rows = OutgoingMail.objects.bulk_create(
        [OutgoingMail(message=message_to_record(m), next_attempt_at=due) for m in messages]
    )
    # One task for the lot, sent over one SMTP connection. Robust: the rows are committed already,
    # and the sweep sends them if the queue cannot be reached.
    transaction.on_commit(_enqueue(mail_ids=[row.pk for row in rows]), robust=True)
    return rows


def _enqueue(*, mail_ids: list[int]) -> Callable[[], None]:
    def enqueue() -> None:
        from yoyaku.mail.tasks import deliver_mails

        deliver_mails(mail_ids)

    return enqueue


def deliver(
    *, mail_id: int, due_only: bool = False, connection: Any = None, now: datetime | None = None
) -> bool:
    """Send one queued message if no other consumer holds it; True when it was sent now.

    ``due_only`` leaves a message alone until its next attempt is due at ``now`` (the sweep); the task
    queued on commit sends at once. ``connection``: an open mail connection to reuse (the sweep's).
    """
    now = now or timezone.now()
    if not _claim(mail_id=mail_id, now=now, due_only=due_only):
        return False
    row = OutgoingMail.objects.get(pk=mail_id)
    try:
        message = message_from_record(row.message)
        message.connection = connection or get_connection()
        message.send()
    except Exception as error:
        _record_failure(row=row, error=error, now=now)
        return False
    OutgoingMail.objects.filter(pk=mail_id).update(
        status=MailStatus.SENT, sent_at=now, lease_until=None, last_error=""
    )
    return True


def deliver_due(*, now: datetime) -> int:
    """Send what is due (retries, and rows whose queued task was lost), over one SMTP connection;
    forget sent rows older than ``YOYAKU_MAIL_KEEP_SENT_DAYS``. Returns how many were sent."""
    due = list(
        OutgoingMail.objects.filter(status=MailStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    sent = deliver_many(mail_ids=due, due_only=True, now=now)
    kept = now - timedelta(days=settings.YOYAKU_MAIL_KEEP_SENT_DAYS)
    OutgoingMail.objects.filter(status=MailStatus.SENT, sent_at__lt=kept).delete()
    return sent


def deliver_many(*, mail_ids: Sequence[int], due_only: bool = False, now: datetime | None = None) -> int:
    """``deliver`` each message over one SMTP connection; returns how many were sent."""
    if not mail_ids:
        return 0
    sent = 0
    connection = get_connection()
    _open(connection)
    try:
        for mail_id in mail_ids:
            if deliver(mail_id=mail_id, due_only=due_only, connection=connection, now=now):
                sent += 1
            else:
                # A failed exchange may leave the connection half-open: start the next one afresh.
                connection.close()
                _open(connection)
    finally:
        connection.close()
    return sent


def _open(connection: Any) -> None:
    # A server that is down fails each message on its own, which records the attempt on its row.
    with contextlib.suppress(OSError):
        connection.open()


def retry_now(*, mail_ids: list[int], now: datetime) -> int:
    """Send failed (or waiting) messages again from the next sweep, with a fresh attempt count."""
    return OutgoingMail.objects.filter(
        pk__in=mail_ids, status__in=[MailStatus.FAILED, MailStatus.PENDING]
    ).update(status=MailStatus.PENDING, attempts=0, next_attempt_at=now, lease_until=None)


def _claim(*, mail_id: int, now: datetime, due_only: bool) -> bool:
    rows = OutgoingMail.objects.filter(pk=mail_id, status=MailStatus.PENDING).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    if due_only:
        rows = rows.filter(next_attempt_at__lte=now)
    # One UPDATE decides: on PostgreSQL a racing consumer waits for this row and then finds the lease taken.
    return rows.update(lease_until=now + MAIL_LEASE, attempts=F("attempts") + 1) == 1


def _record_failure(*, row: OutgoingMail, error: Exception, now: datetime) -> None:
    attempts = row.attempts
    text = f"{type(error).__name__}: {error}"[:2000]
    if _may_pass(error) and attempts < settings.YOYAKU_MAIL_MAX_ATTEMPTS:
        wait = min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)
        OutgoingMail.objects.filter(pk=row.pk).update(
            next_attempt_at=now + wait, lease_until=None, last_error=text
        )
        logger.warning(
            "Could not send mail %s (%s, attempt %s); trying again in %s: %s",
            row.pk,
            row.message.get("subject", ""),
            attempts,
            wait,
            text,
        )
        return
    OutgoingMail.objects.filter(pk=row.pk).update(status=MailStatus.FAILED, lease_until=None, last_error=text)
    logger.error(
        "Gave up sending mail %s (%s) to %s after %s attempt(s): %s",
        row.pk,
        row.message.get("subject", ""),
        ", ".join(row.message.get("to", [])),
        attempts,
        text,
        exc_info=not isinstance(error, OSError),
    )


def _may_pass(error: Exception) -> bool:
    """A 4xx reply or a connection trouble may pass; a 5xx reply (RFC 5321 §4.2.1) or a message
    that cannot be built will not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code < 500
    return isinstance(error, OSError)
