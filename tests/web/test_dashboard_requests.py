"""The dashboard answers meeting requests: Confirm books the time asked for (or one picked among the
page's free times), Decline asks in the page for a message and mails it to the requester."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone, translation

from tests.factories import make_host, make_link, send_queued_mail
from tests.web.html import element, elements
from yoyaku.accounts.models import User
from yoyaku.scheduling.models import Booking, BookingStatus, MeetingLink, Reservation
from yoyaku.scheduling.services import book_meeting, confirm_request, request_meeting

pytestmark = pytest.mark.django_db

Capture = Callable[..., AbstractContextManager[list[Callable[[], None]]]]
TOKYO = ZoneInfo("Asia/Tokyo")  # the signed-in host's zone


def tokyo(hour: int, days: int = 3) -> datetime:
    day = timezone.now().astimezone(TOKYO).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), TOKYO)


def ask(link: MeetingLink, start: datetime, email: str = "aiko@example.com") -> Booking:
    # The host has no calendar: a booking is a request.
    return book_meeting(
        link=link,
        start=start,
        duration=30,
        time_zone="Europe/Paris",
        first_name=email.split("@")[0].capitalize(),
        last_name="Sato",
        email=email,
    ).booking


def page(client: Client) -> str:
    return client.get("/dashboard/").content.decode()


def test_each_request_offers_confirm_a_picker_and_a_decline_dialog(host: User, client_in: Client) -> None:
    link = make_link(host)
    timed = ask(link, tokyo(10))
    untimed = request_meeting(
        link=link,
        time_zone="Europe/Paris",
        first_name="Ken",
        last_name="Mori",
        email="ken@example.com",
        message="Any morning",
    ).booking

    html = page(client_in)

    assert len(elements(html, "form", action=f"/dashboard/requests/{timed.pk}/confirm/")) == 2
    # Without a time there is nothing to confirm as asked: only the picker.
    assert len(elements(html, "form", action=f"/dashboard/requests/{untimed.pk}/confirm/")) == 1
    element(html, "div", class_="slot-picker", data_url=f"/dashboard/requests/{untimed.pk}/free-times/")
    element(html, "dialog", id=f"decline-dialog-{timed.pk}")
    element(html, "form", action=f"/dashboard/requests/{timed.pk}/decline/")
    assert "held for 48 hours" in html


def test_confirm_books_the_time_asked_for(
    host: User, client_in: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    request = ask(make_link(host), tokyo(10))
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_in.post(f"/dashboard/requests/{request.pk}/confirm/")

    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.start) == (BookingStatus.CONFIRMED, tokyo(10))
    send_queued_mail()
    assert [m.to for m in mail.outbox] == [["aiko@example.com"]], "the contact gets the invitation"
    assert "Confirmed: Aiko" in page(client_in)


def test_confirm_at_a_picked_time_reads_it_in_the_hosts_zone(host: User, client_in: Client) -> None:
    link = make_link(host)
    request = request_meeting(
        link=link,
        time_zone="Europe/Paris",
        first_name="Ken",
        last_name="Mori",
        email="ken@example.com",
        message="",
    ).booking
    day = tokyo(11).date()
    free = client_in.get(f"/dashboard/requests/{request.pk}/free-times/", {"from": day.isoformat()}).json()
    picked = tokyo(11).strftime("%Y-%m-%dT%H:%M")
    assert picked in [t["value"] for t in free["days"][0]["times"]]

    client_in.post(f"/dashboard/requests/{request.pk}/confirm/", {"start": picked})

    request.refresh_from_db()
    assert (request.status, request.start) == (BookingStatus.CONFIRMED, tokyo(11))


def test_a_taken_time_is_refused_with_free_times_near_it(host: User, client_in: Client) -> None:
    link = make_link(host)
    waiting = ask(link, tokyo(10))
    Reservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # its hold lapsed
    confirm_request(booking=ask(link, tokyo(10), email="ken@example.com"))

    client_in.post(f"/dashboard/requests/{waiting.pk}/confirm/")

    waiting.refresh_from_db()
    assert waiting.status == BookingStatus.REQUESTED
    html = page(client_in)
    assert "The request was not confirmed." in html and "Free times near it:" in html


def test_decline_mails_the_message_and_takes_the_request_off(
    host: User, client_in: Client, django_capture_on_commit_callbacks: Capture
) -> None:
    request = ask(make_link(host), tokyo(10))
    send_queued_mail()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        client_in.post(f"/dashboard/requests/{request.pk}/decline/", {"reason": "Away that week."})

    request.refresh_from_db()
    assert request.status == BookingStatus.CANCELLED
    send_queued_mail()
    [notice] = mail.outbox
    assert notice.to == ["aiko@example.com"] and "Away that week." in notice.body
    html = page(client_in)
    assert "Declined. Aiko is told by email." in html
    assert not elements(html, "form", action=f"/dashboard/requests/{request.pk}/decline/")


def test_another_hosts_requests_cannot_be_answered(client_in: Client) -> None:
    other = make_host("taro", time_zone="Asia/Tokyo")
    request = ask(make_link(other, slug="taro"), tokyo(10))

    for action in ("confirm", "decline"):
        assert client_in.post(f"/dashboard/requests/{request.pk}/{action}/").status_code == 404
    assert client_in.get(f"/dashboard/requests/{request.pk}/free-times/").status_code == 404
    assert client_in.get(f"/dashboard/requests/{uuid.uuid4()}/free-times/").status_code == 404
    request.refresh_from_db()
    assert request.status == BookingStatus.REQUESTED


@override_settings(YOYAKU_REQUEST_HOLD_HOURS=6)
def test_the_booking_page_says_how_long_a_request_holds_its_time(host: User) -> None:
    make_link(host, slug="consult")

    html = Client().get("/m/consult").content.decode()

    assert "The time you ask for is held for 6 hours" in html
    ja = Client(headers={"Accept-Language": "ja"}).get("/m/consult").content.decode()
    assert "ご希望の日時は6時間確保されます" in ja


def test_the_request_actions_and_the_picker_speak_japanese(host: User, client_in: Client) -> None:
    request = ask(make_link(host), tokyo(10))
    client_in.cookies["django_language"] = "ja"

    html = page(client_in)
    free = client_in.get(f"/dashboard/requests/{request.pk}/free-times/").json()

    assert "確定" in html and "お断りする" in html and "過去のミーティング" in html
    assert "希望の日時は48時間確保されます" in html
    assert re.fullmatch(r"\d{1,2}月\d{1,2}日\(.\)", free["days"][0]["label"]), free["days"][0]["label"]
    translation.activate("en")
