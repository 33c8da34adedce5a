"""Mail leaves the request path: stored with its change, sent by the worker once, retried while the
SMTP server may still take it, then failed for staff to see."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.db import connection as db_connection
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone

from tests.accounts.test_admin import signed_in, superuser, workspace_admin
from tests.connection_helpers import berlin, future_day
from tests.factories import make_host, make_link
from tests.mail.smtp import Catcher, smtp_server
from yoyaku.demo.radicale import free_port
from yoyaku.mail.models import MailStatus, OutgoingMail
from yoyaku.mail.services import SWEEP_GRACE, deliver, deliver_due, queue_mail
from yoyaku.scheduling.models import Booking, BookingStatus

SMTP = "django.core.mail.backends.smtp.EmailBackend"


def smtp_at(port: int) -> Any:
    return override_settings(EMAIL_BACKEND=SMTP, EMAIL_HOST="127.0.0.1", EMAIL_PORT=port)


def book_offline_host() -> Any:
    """A booking on the page of a host without a calendar: a request, with a receipt and a host notice."""
    link = make_link(make_host("ken", email="ken@example.jp"))
    return Client().post(
        f"/api/v1/book/{link.slug}",
        {
            "start": berlin(future_day(), 11).isoformat(),
            "duration": 30,
            "timezone": "Europe/Berlin",
            "first_name": "Mia",
            "last_name": "Mori",
            "email": "mia@example.org",
        },
        content_type="application/json",
    )


def queue_one(subject: str = "Hello") -> OutgoingMail:
    with transaction.atomic():
        return queue_mail(EmailMessage(subject=subject, body="Body", to=["mia@example.org"]))


def later(minutes: float) -> Any:
    return timezone.now() + timedelta(minutes=minutes)


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_down_at_booking_time_gets_each_mail_once_when_it_is_back() -> None:
    port = free_port()  # nothing listens here yet
    with smtp_at(port):
        response = book_offline_host()
        assert response.status_code == 201, response.content
        assert Booking.objects.get().status == BookingStatus.REQUESTED
        rows = list(OutgoingMail.objects.all())
        assert len(rows) == 2
        assert {r.status for r in rows} == {MailStatus.PENDING}
        assert {r.attempts for r in rows} == {1}
        assert all("ConnectionRefusedError" in r.last_error for r in rows)

        with smtp_server(port) as catcher:
            assert deliver_due(now=timezone.now()) == 0  # each waits its backoff
            assert deliver_due(now=later(2)) == 2
            assert deliver_due(now=later(120)) == 0
    assert catcher.subjects() == ["New meeting request from Mia Mori", "Request received: Intro call"]
    assert set(OutgoingMail.objects.values_list("status", flat=True)) == {MailStatus.SENT}


@pytest.mark.django_db(transaction=True)
def test_a_4xx_reply_is_tried_again_and_then_delivered() -> None:
    port = free_port()
    catcher = Catcher()
    catcher.refusals = ["451 4.3.0 Try again later"]
    with smtp_at(port), smtp_server(port, catcher):
        row = queue_one()
        row.refresh_from_db()
        assert (row.status, row.attempts) == (MailStatus.PENDING, 1)
        assert "451" in row.last_error
        assert catcher.messages == []
        assert deliver_due(now=later(2)) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (MailStatus.SENT, 2, "")
    assert len(catcher.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_a_5xx_reply_fails_at_once_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    catcher = Catcher()
    catcher.refusals = ["554 5.7.1 Refused"]
    with smtp_at(port), smtp_server(port, catcher):
        row = queue_one("Refused one")
        assert deliver_due(now=later(600)) == 0
    row.refresh_from_db()
    assert (row.status, row.attempts) == (MailStatus.FAILED, 1)
    assert "554" in row.last_error
    assert "Gave up sending mail" in caplog.text and "Refused one" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_retries_are_bounded_then_the_mail_is_failed() -> None:
    port = free_port()
    with smtp_at(port), override_settings(YOYAKU_MAIL_MAX_ATTEMPTS=3):
        row = queue_one()
        for minutes in (2, 5, 10, 600):
            deliver_due(now=later(minutes))
    row.refresh_from_db()
    assert (row.status, row.attempts) == (MailStatus.FAILED, 3)


@pytest.mark.django_db(transaction=True)
def test_a_mail_whose_task_was_lost_after_commit_is_sent_by_the_sweep() -> None:
    # The web process dies between the commit and queueing the task: the row is all that is left.
    with mock.patch("yoyaku.mail.services._enqueue"):
        response = book_offline_host()
    assert response.status_code == 201, response.content
    assert mail.outbox == []
    assert OutgoingMail.objects.filter(status=MailStatus.PENDING, attempts=0).count() == 2
    assert deliver_due(now=timezone.now()) == 0  # still the task's, for all the sweep knows
    assert deliver_due(now=timezone.now() + SWEEP_GRACE) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["ken@example.jp", "mia@example.org"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_no_mail() -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        queue_mail(EmailMessage(subject="Never", body="", to=["mia@example.org"]))
        raise Abort
    assert not OutgoingMail.objects.exists()
    assert mail.outbox == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_consumers_racing_send_each_mail_once() -> None:
    with mock.patch("yoyaku.mail.services._enqueue"):
        ids = [queue_one(f"Mail {n}").pk for n in range(30)]
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def consumer(work: Any) -> None:
        try:
            start.wait()
            work()
        except BaseException as error:  # reported by the test thread
            errors.append(error)
        finally:
            db_connection.close()

    def sweep() -> None:
        deliver_due(now=timezone.now() + SWEEP_GRACE)

    def tasks() -> None:
        for mail_id in ids:
            deliver(mail_id=mail_id)

    threads = [threading.Thread(target=consumer, args=(work,)) for work in (sweep, tasks, tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(m.subject for m in mail.outbox) == sorted(f"Mail {n}" for n in range(30))
    assert len({m.extra_headers["Message-ID"] for m in mail.outbox}) == 30
    assert set(OutgoingMail.objects.values_list("status", flat=True)) == {MailStatus.SENT}


@pytest.mark.django_db
def test_failed_mail_shows_to_superusers_and_can_be_sent_again() -> None:
    row = OutgoingMail.objects.create(
        message={"subject": "Invitation: Intro call", "to": ["mia@example.org"], "cc": []},
        status=MailStatus.FAILED,
        attempts=10,
        next_attempt_at=timezone.now(),
        last_error="SMTPDataError: (554, b'Refused')",
    )
    root_user = superuser()
    root = signed_in(root_user)
    page = root.get("/admin/mail/outgoingmail/?status__exact=failed")
    assert page.status_code == 200
    assert "Invitation: Intro call" in page.content.decode() and "554" in page.content.decode()

    root.post("/admin/mail/outgoingmail/", {"action": "send_again", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert (row.status, row.attempts) == (MailStatus.PENDING, 0)

    # It holds every workspace's mail: a workspace's own admin does not see it.
    boss = signed_in(workspace_admin(root_user.workspace))
    assert boss.get("/admin/mail/outgoingmail/").status_code == 403
