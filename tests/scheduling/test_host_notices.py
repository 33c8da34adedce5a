"""The host is told by mail of each new booking, move and cancellation, in the host's own language; the
host who made the change is not mailed about it, the meeting's other hosts are."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from django.core import mail

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, send_queued_mail
from tests.scheduling.helpers import NOW, berlin, connect
from yoyaku.accounts.models import User
from yoyaku.scheduling.models import Booking, LinkKind, MeetingLink
from yoyaku.scheduling.services import book_meeting, cancel_booking, reschedule_booking

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]


def to_host(address: str) -> list[mail.EmailMessage]:
    send_queued_mail()
    return [m for m in mail.outbox if m.to == [address]]


@pytest.fixture
def host(radicale: RadicaleServer) -> User:
    user = make_host("ken", email="ken@example.jp")
    user.language = "ja"
    user.save(update_fields=["language"])
    connect(user, radicale)
    return user


@pytest.fixture
def link(host: User) -> MeetingLink:
    return make_link(host, slug="consult", name="Consultation")


def book(link: MeetingLink, hour: int, capture: Capture) -> Booking:
    with capture(execute=True):
        return book_meeting(
            link=link,
            start=berlin(hour),
            duration=30,
            time_zone="Asia/Tokyo",
            first_name="Mia",
            last_name="Mori",
            email="mia@example.org",
            language="en",
            now=NOW,
        ).booking


def test_a_new_booking_a_move_and_a_cancellation_each_mail_the_host_in_japanese(
    host: User, link: MeetingLink, django_capture_on_commit_callbacks: Capture
) -> None:
    booking = book(link, 10, django_capture_on_commit_callbacks)

    [booked] = to_host("ken@example.jp")
    # Named family name first, as Japanese writes names; the day as the dashboard writes it.
    assert booked.subject.startswith("新しいミーティング: Mori Mia")
    # 10:00 in Berlin, told in the host's zone (Europe/Berlin) with the zone named.
    assert "「Consultation」を" in booked.body and "10:00〜10:30（Europe/Berlin）" in booked.body  # noqa: RUF001
    assert booked.reply_to == ["mia@example.org"]

    send_queued_mail()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reschedule_booking(booking=booking, start=berlin(11), now=NOW)
    [moved] = to_host("ken@example.jp")
    assert moved.subject.startswith("ミーティングの日時変更")
    assert "11:00〜11:30（Europe/Berlin）" in moved.body  # noqa: RUF001

    send_queued_mail()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        cancel_booking(booking=booking, reason="Plans changed")
    [cancelled] = to_host("ken@example.jp")
    assert cancelled.subject.startswith("ミーティングのキャンセル")
    assert "理由:\nPlans changed" in cancelled.body
    # The booker's mails stay in the page's language.
    send_queued_mail()
    assert all(m.subject.isascii() for m in mail.outbox if m.to == ["mia@example.org"])


def test_the_host_who_makes_the_change_is_not_mailed_about_it(
    host: User, link: MeetingLink, django_capture_on_commit_callbacks: Capture
) -> None:
    booking = book(link, 10, django_capture_on_commit_callbacks)
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        reschedule_booking(booking=booking, start=berlin(11), now=NOW, actor=host)
        cancel_booking(booking=booking, actor=host)

    assert to_host("ken@example.jp") == []


def test_a_group_meetings_other_hosts_are_told_in_their_language(
    host: User, radicale: RadicaleServer, django_capture_on_commit_callbacks: Capture
) -> None:
    aiko = make_host("aiko", email="aiko@example.org")  # English
    connect(aiko, radicale)
    panel = make_link(host, slug="panel", name="Panel", kind=LinkKind.GROUP, host_usernames=["ken", "aiko"])
    send_queued_mail()  # aiko's notice that she co-hosts the page
    mail.outbox.clear()
    booking = book(panel, 10, django_capture_on_commit_callbacks)
    [to_aiko] = to_host("aiko@example.org")
    assert to_aiko.subject.startswith("New meeting: Mia Mori")
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        cancel_booking(booking=booking, actor=host, reason="Room unavailable")

    [told] = to_host("aiko@example.org")
    assert told.subject.startswith("Meeting cancelled: Mia Mori") and "Room unavailable" in told.body
    assert to_host("ken@example.jp") == []
