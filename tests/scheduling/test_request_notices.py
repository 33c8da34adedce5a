"""A meeting request mails the booker a receipt and the host a notice: after the commit, in the
booker's page language and the host's own language, and a failing mail server loses no request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.test import Client, override_settings

from tests.connection_helpers import berlin, future_day
from tests.factories import make_host, make_link, send_queued_mail
from tests.mail.smtp import Catcher
from tests.mail.smtp import smtp_server as serve_smtp
from yoyaku.accounts.models import User
from yoyaku.demo.radicale import free_port
from yoyaku.mail.models import MailStatus, OutgoingMail
from yoyaku.scheduling.models import Booking, BookingStatus, MeetingLink
from yoyaku.scheduling.services import book_meeting, request_meeting

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]


@pytest.fixture
def host() -> User:
    # An offline host (no calendar) who reads Japanese and lives in Tokyo.
    user = make_host("ken", time_zone="Asia/Tokyo", email="ken@example.jp")
    user.language = "ja"
    user.save(update_fields=["language"])
    return user


@pytest.fixture
def link(host: User) -> MeetingLink:
    return make_link(host, slug="consult", name="Consultation")


def post_request(link: MeetingLink, *, language: str, message: str = "") -> Any:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client.post(
        f"/api/v1/book/{link.slug}/request",
        {
            "timezone": "Europe/Berlin",
            "first_name": "Mia",
            "last_name": "Mori",
            "email": "mia@example.org",
            "message": message,
        },
        content_type="application/json",
    )


def leave_request(link: MeetingLink) -> None:
    request_meeting(
        link=link,
        time_zone="Europe/Berlin",
        first_name="Mia",
        last_name="Mori",
        email="mia@example.org",
        message="",
    )


def by_recipient() -> dict[str, mail.EmailMessage]:
    send_queued_mail()
    return {m.to[0]: m for m in mail.outbox}


def test_request_without_a_time_mails_a_receipt_and_the_host(
    link: MeetingLink, host: User, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = post_request(link, language="en", message="About the spring project.")
    assert response.status_code == 201, response.content
    assert sorted(by_recipient()) == ["ken@example.jp", "mia@example.org"]

    receipt = by_recipient()["mia@example.org"]
    assert receipt.subject == "Request received: Consultation"
    assert receipt.body.startswith("Hello Mia,\n\nWe've received your request for “Consultation”.")
    assert "About the spring project." in receipt.body
    assert "You asked for" not in receipt.body  # no time was asked for
    assert receipt.reply_to == ["ken@example.jp"]

    # The host reads Japanese, whatever the booker's page spoke.
    notice = by_recipient()["ken@example.jp"]
    assert notice.subject == "Mori Miaさんから新しいミーティングのリクエスト"
    assert "日時の指定はありません" in notice.body
    assert "About the spring project." in notice.body
    assert f"{settings.YOYAKU_BASE_URL}/dashboard/" in notice.body
    assert notice.reply_to == ["mia@example.org"]


def test_offline_booking_request_names_the_time_in_each_readers_zone(
    link: MeetingLink, host: User, django_capture_on_commit_callbacks: Capture
) -> None:
    host.language = "en"
    host.save(update_fields=["language"])
    day = future_day()
    start = berlin(day, 3)  # 03:00 in Berlin is 11:00 (winter) or 10:00 (summer) in Tokyo
    with django_capture_on_commit_callbacks(execute=True):
        outcome = book_meeting(
            link=link,
            start=start,
            duration=30,
            time_zone="Europe/Berlin",
            first_name="Mia",
            last_name="Mori",
            email="mia@example.org",
            language="ja",
        )
    assert outcome.booking.status == BookingStatus.REQUESTED

    receipt = by_recipient()["mia@example.org"]
    assert receipt.subject == "リクエストを受け付けました: Consultation"
    # Greeted by family name; the day with its weekday, start and end, and the zone.
    assert receipt.body.startswith("Mori 様\n\n")
    weekday = "月火水木金土日"[day.weekday()]
    when = f"{day.year}年{day.month}月{day.day}日({weekday}) 03:00〜03:30(Europe/Berlin)"
    assert f"ご希望の日時: {when}。" in receipt.body
    notice = by_recipient()["ken@example.jp"]
    tokyo = start.astimezone(ZoneInfo("Asia/Tokyo"))
    ends = tokyo + timedelta(minutes=30)
    day_en = f"{tokyo:%a, %b} {tokyo.day}, {tokyo.year}"
    assert f"Requested time: {day_en} · {tokyo:%H:%M}–{ends:%H:%M} (Asia/Tokyo)." in notice.body  # noqa: RUF001


def test_no_mail_before_the_request_is_committed(
    link: MeetingLink, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        leave_request(link)
        # Queued in the request's transaction, sent once it commits.
        assert OutgoingMail.objects.filter(status=MailStatus.PENDING).count() == 2
        assert mail.outbox == []
    assert len(callbacks) == 1  # one task sends both
    callbacks[0]()
    assert len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_request_sends_nothing(link: MeetingLink) -> None:
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        leave_request(link)
        raise Abort
    send_queued_mail()
    assert mail.outbox == []
    assert not Booking.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_that_is_down_loses_no_request(link: MeetingLink) -> None:
    closed = free_port()  # nothing listens here
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=closed
    ):
        response = post_request(link, language="en", message="Still there?")
    assert response.status_code == 201, response.content
    booking = Booking.objects.get()
    assert booking.status == BookingStatus.REQUESTED and booking.message == "Still there?"
    # Both mails wait for the mail server (tests/mail/test_queue.py sends them once it is back).
    assert list(OutgoingMail.objects.values_list("status", flat=True)) == [MailStatus.PENDING] * 2


# -- a real SMTP server on loopback --------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Catcher]]:
    port = free_port()
    with serve_smtp(port) as catcher:
        yield port, catcher


@pytest.mark.django_db(transaction=True)
def test_receipt_and_notice_go_through_a_real_smtp_server(
    link: MeetingLink, smtp_server: tuple[int, Catcher]
) -> None:
    port, received = smtp_server
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=port
    ):
        response = post_request(link, language="ja", message="春のプロジェクトについて")
    assert response.status_code == 201, response.content
    # Sent by the task queued on commit (tasks run at once in the tests): the server has both already.
    messages = {str(m["To"]): m for m in received.messages}
    assert sorted(messages) == ["ken@example.jp", "mia@example.org"]

    receipt = messages["mia@example.org"]
    # strip(): the parser leaves a space before a folded header that starts with an encoded word.
    assert receipt["Subject"].strip() == "リクエストを受け付けました: Consultation"
    assert receipt["Reply-To"] == "ken@example.jp"
    body = receipt.get_content()
    assert body.startswith("Mori 様")
    assert "「Consultation」へのリクエストを受け付けました。Ken からメールで返信があります。" in body
    assert "春のプロジェクトについて" in body

    notice = messages["ken@example.jp"]
    assert notice["Subject"].strip() == "Mori Miaさんから新しいミーティングのリクエスト"
    assert notice["Reply-To"] == "mia@example.org"
