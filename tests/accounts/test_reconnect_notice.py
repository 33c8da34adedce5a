"""A connection that turns to "needs reconnect" mails its host once, in the host's language."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.test import Client, override_settings

from tests.connection_helpers import (
    GOOGLE_ALLOW,
    connect_in_browser,
    future_day,
    slots,
)
from tests.emulators.google import GoogleEmulator
from tests.factories import make_host, make_link, send_queued_mail
from tests.providers import GOOGLE_EMAIL
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, User
from yoyaku.calendar_sync.busy import read_busy
from yoyaku.calendar_sync.services import sync_connection_now
from yoyaku.calendars.base import CalendarAuthError
from yoyaku.mail.models import MailStatus, OutgoingMail

pytestmark = pytest.mark.django_db


@pytest.fixture
def google(google: GoogleEmulator) -> Iterator[GoogleEmulator]:
    """The shared emulator, with the links in the mails pointing at the public address."""
    with override_settings(YOYAKU_BASE_URL="https://book.example.com"):
        yield google


def connected_host(language: str) -> User:
    host = make_host(email="hana@example.org")
    host.language = language
    host.save(update_fields=["language"])
    make_link(host)
    browser = Client()
    browser.force_login(host)
    # The OAuth callback goes to the test client, which answers at http://testserver.
    with override_settings(YOYAKU_BASE_URL="http://testserver"):
        assert connect_in_browser(browser, "google", button=GOOGLE_ALLOW)["Location"] == "/dashboard/"
    return host


def sync_calendar(host: User) -> None:
    """One background sync of the host's calendar: the sync, not a page view, meets the revoked grant."""
    sync_connection_now(connection_id=CalendarConnection.objects.get(user=host).pk)


def read(connection: CalendarConnection, *, fresh: bool = False) -> None:
    start = datetime.now(tz=UTC) + timedelta(days=1)
    read_busy(connection=connection, start=start, end=start + timedelta(hours=8), fresh=fresh)


def test_revoked_grant_mails_the_host_once_per_change(
    google: GoogleEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    host = connected_host("en")
    google.revoke(GOOGLE_EMAIL)
    google.expire_access_tokens()
    day = future_day()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            sync_calendar(host)
            slots("intro", day)
        # A stale copy of the connection (loaded before the change) fails again: still no second mail.
        stale = CalendarConnection.objects.get(user=host)
        stale.status = ConnectionStatus.OK
        with pytest.raises(CalendarAuthError):
            read(stale, fresh=True)
    assert CalendarConnection.objects.get(user=host).status == ConnectionStatus.NEEDS_RECONNECT
    send_queued_mail()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["hana@example.org"]
    assert message.subject == f"Reconnect your calendar: Google ({GOOGLE_EMAIL})"
    assert f"your Google calendar {GOOGLE_EMAIL}" in message.body
    assert "visitors can only leave meeting requests" in message.body
    assert "https://book.example.com/settings/calendar/" in message.body

    # Reconnected, then revoked again: that is a new change, and a new mail.
    browser = Client()
    browser.force_login(host)
    with override_settings(YOYAKU_BASE_URL="http://testserver"):
        assert connect_in_browser(browser, "google", button=GOOGLE_ALLOW)["Location"] == "/dashboard/"
    assert CalendarConnection.objects.get(user=host).status == ConnectionStatus.OK
    google.revoke(GOOGLE_EMAIL)
    google.expire_access_tokens()
    with django_capture_on_commit_callbacks(execute=True):
        sync_calendar(host)
        sync_calendar(host)
    send_queued_mail()
    assert len(mail.outbox) == 2


def test_the_notice_speaks_the_hosts_language(
    google: GoogleEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    host = connected_host("ja")
    google.revoke(GOOGLE_EMAIL)
    google.expire_access_tokens()
    with django_capture_on_commit_callbacks(execute=True):
        sync_calendar(host)
    send_queued_mail()
    (message,) = mail.outbox
    assert message.subject == f"カレンダーを再接続してください: Google ({GOOGLE_EMAIL})"
    assert "リクエスト" in message.body
    assert "https://book.example.com/settings/calendar/" in message.body


def test_an_unreachable_calendar_sends_nothing(
    google: GoogleEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    host = connected_host("en")
    google.add_fault(status=503, count=20)
    with django_capture_on_commit_callbacks(execute=True):
        sync_calendar(host)
    assert CalendarConnection.objects.get(user=host).status == ConnectionStatus.UNAVAILABLE
    send_queued_mail()
    assert mail.outbox == []


def test_a_mail_failure_is_logged_and_changes_nothing_else(
    google: GoogleEmulator, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    host = connected_host("en")
    google.revoke(GOOGLE_EMAIL)
    google.expire_access_tokens()
    with (
        mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("SMTP down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        sync_calendar(host)
    offered, data = slots("intro", future_day())
    assert data["calendar_error"] and not any(offered.values())
    connection = CalendarConnection.objects.get(user=host)
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    # Queued with the change and kept for the sweep's next try.
    assert "Could not send mail" in caplog.text
    [queued] = OutgoingMail.objects.all()
    assert (queued.status, queued.attempts) == (MailStatus.PENDING, 1)
    assert "SMTP down" in queued.last_error
    assert mail.outbox == []
