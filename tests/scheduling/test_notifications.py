"""Mails to bookers speak the language of the page they booked on, whatever language is active when sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from tests.connection_helpers import berlin, future_day
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, run_calendar_writes
from tests.scheduling.helpers import connect, invitations
from yoyaku.scheduling.calendar_writes import booking_event_draft
from yoyaku.scheduling.models import Booking, MeetingLink
from yoyaku.scheduling.notifications import send_invitation
from yoyaku.scheduling.services import cancel_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(radicale: RadicaleServer) -> MeetingLink:
    host = make_host("hana")
    connect(host, radicale)
    return make_link(host, location="Zoom")


def book_on_page(link: MeetingLink, *, language: str, hour: int = 11) -> Any:
    client = Client()
    # The page's language switcher leaves its choice in this cookie, which the booking request carries.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.post(
        f"/api/v1/book/{link.slug}",
        {
            "start": berlin(future_day(), hour).isoformat(),
            "duration": 30,
            "timezone": "Asia/Tokyo",
            "first_name": "Aiko",
            "last_name": "Sato",
            "email": "aiko@example.com",
        },
        content_type="application/json",
    )
    # The worker writes the event and mails the invitation, in whatever language its own thread is in.
    with translation.override("en" if language == "ja" else "ja"):
        run_calendar_writes()
    return response


def test_a_booking_on_the_japanese_page_gets_a_japanese_invitation_and_cancellation(
    link: MeetingLink,
) -> None:
    response = book_on_page(link, language="ja")

    assert response.status_code == 201, response.content
    booking = Booking.objects.get(pk=response.json()["id"])
    assert booking.language == "ja"
    [(message, _itip)] = invitations("REQUEST")
    assert message.subject == "招待: Intro call: Sato Aiko"  # family name first
    assert message.body.startswith("Sato 様")  # by family name
    assert "「Intro call」" in message.body and "場所: Zoom" in message.body
    assert "Hello" not in message.body

    with translation.override("en"):  # e.g. the host cancels from an English dashboard
        cancel_booking(booking=booking)
        run_calendar_writes()

    [(cancelled, _itip)] = invitations("CANCEL")
    assert cancelled.subject == "キャンセル: Intro call: Sato Aiko"
    assert "キャンセルされました" in cancelled.body


def test_a_booking_on_the_english_page_gets_english_mail_even_when_japanese_is_active(
    link: MeetingLink,
) -> None:
    response = book_on_page(link, language="en")
    booking = Booking.objects.get(pk=response.json()["id"])
    assert booking.language == "en"

    with translation.override("ja"):  # a retry or resend runs wherever; the booker's language holds
        send_invitation(booking=booking, draft=booking_event_draft(booking=booking))

    bodies = [m.body for m, _itip in invitations("REQUEST")]
    assert len(bodies) == 2
    assert all(b.startswith("Hello Aiko,") and "Location: Zoom" in b for b in bodies)


def test_an_unknown_page_language_falls_back_to_the_default(link: MeetingLink) -> None:
    response = book_on_page(link, language="xx")

    booking = Booking.objects.get(pk=response.json()["id"])
    assert booking.language == settings.LANGUAGE_CODE
    [(message, _itip)] = invitations("REQUEST")
    assert message.subject == "Invitation: Intro call: Aiko Sato"


def _tokyo_day(moment: datetime, language: str) -> str:
    local = moment.astimezone(ZoneInfo("Asia/Tokyo"))
    if language == "ja":
        return f"{local.year}年{local.month}月{local.day}日({'月火水木金土日'[local.weekday()]})"
    return f"{local:%a, %b} {local.day}, {local.year}"


@pytest.mark.parametrize(
    ("language", "greeting", "when", "cancelled"),
    [
        (
            "en",
            "Hello Aiko,",
            "When: {day} · {start}–{end} (Asia/Tokyo)",  # noqa: RUF001
            "Your meeting “Intro call” with ",
        ),
        (
            "ja",
            "Sato 様",
            "日時: {day} {start}〜{end}(Asia/Tokyo)",
            "との「Intro call」はキャンセルされました。",
        ),
    ],
)
def test_mails_read_as_text_name_the_day_start_end_and_zone_and_what_was_cancelled(
    link: MeetingLink, language: str, greeting: str, when: str, cancelled: str
) -> None:
    link.owner.first_name, link.owner.last_name = "Hana", "Kato"
    link.owner.save(update_fields=["first_name", "last_name"])
    response = book_on_page(link, language=language)
    assert response.status_code == 201, response.content
    booking = Booking.objects.get(pk=response.json()["id"])
    assert booking.start is not None and booking.end is not None
    tokyo = ZoneInfo("Asia/Tokyo")
    told = when.format(
        day=_tokyo_day(booking.start, language),
        start=f"{booking.start.astimezone(tokyo):%H:%M}",
        end=f"{booking.end.astimezone(tokyo):%H:%M}",
    )
    host = "Kato Hana" if language == "ja" else "Hana Kato"

    [(invitation, _itip)] = invitations("REQUEST")
    assert invitation.body.startswith(greeting + "\n\n")
    assert told in invitation.body and host in invitation.body

    cancel_booking(booking=booking)
    run_calendar_writes()

    [(cancellation, _itip)] = invitations("CANCEL")
    # Which meeting: its title, when it was and with whom, so it cannot be taken for another one.
    assert cancellation.body.startswith(greeting + "\n\n")
    assert cancelled in cancellation.body and host in cancellation.body
    assert told in cancellation.body
