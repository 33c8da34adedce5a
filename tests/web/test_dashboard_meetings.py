"""Cancelling and moving upcoming meetings from the dashboard; Exchange meetings say why they cannot be."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, run_calendar_writes, send_queued_mail, sync_now
from tests.scheduling.helpers import add_event, connect, events_on
from tests.web.html import element, elements
from yoyaku.accounts.models import CalendarConnection, Provider, User
from yoyaku.scheduling.models import Booking, BookingStatus, MeetingLink
from yoyaku.scheduling.services import book_meeting

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")  # the signed-in host's zone
EXCHANGE_NOTE = "Exchange calendars are one-way"


def tokyo(hour: int) -> datetime:
    day = timezone.now().astimezone(TOKYO).date() + timedelta(days=3)
    return datetime.combine(day, time(hour), TOKYO)


def book(link: MeetingLink, start: datetime, email: str = "aiko@example.com") -> Booking:
    booking = book_meeting(
        link=link,
        start=start,
        duration=30,
        time_zone="Europe/Paris",
        first_name="Aiko",
        last_name="Sato",
        email=email,
    ).booking
    run_calendar_writes()  # the worker puts it on the calendar
    booking.refresh_from_db()
    return booking


def messages_of(client: Client) -> str:
    return client.get("/dashboard/").content.decode()


@pytest.fixture
def calendar(host: User, radicale: RadicaleServer) -> str:
    return connect(host, radicale)[1]


def test_each_upcoming_meeting_offers_a_cancel_dialog_and_a_picker_of_free_times(
    host: User, client_in: Client, calendar: str
) -> None:
    booking = book(make_link(host, durations=[30, 60]), tokyo(10))

    html = client_in.get("/dashboard/").content.decode()

    # Cancel asks in the page (a dialog with an optional reason), not with the browser's confirm box.
    cancel = element(html, "form", action=f"/dashboard/bookings/{booking.pk}/cancel/")
    assert "data-confirm" not in cancel
    element(html, "dialog", id=f"cancel-dialog-{booking.pk}")
    element(html, "button", **{"data_opens_dialog": f"cancel-dialog-{booking.pk}"})
    element(html, "textarea", name="reason", id=f"cancel-reason-{booking.pk}")
    assert "Cancel this meeting?" in html
    # Reschedule: the free times of this meeting in the page, no bare date-time field, no other tab.
    element(html, "form", action=f"/dashboard/bookings/{booking.pk}/reschedule/")
    picker = element(
        html, "div", class_="slot-picker", data_url=f"/dashboard/bookings/{booking.pk}/free-times/"
    )
    assert picker["data-target"] == f"move-start-{booking.pk}"
    element(html, "input", name="start", type="hidden", id=f"move-start-{booking.pk}")
    assert not elements(html, "input", type="datetime-local")
    assert "See free times" not in html
    assert "(Asia/Tokyo)" in html
    assert {o["value"] for o in elements(html, "option")} >= {"30", "60"}
    assert EXCHANGE_NOTE not in html


def test_the_picker_offers_the_free_times_of_the_same_host_in_the_hosts_zone(
    host: User, client_in: Client, calendar: str, radicale: RadicaleServer
) -> None:
    booking = book(make_link(host, durations=[30, 60]), tokyo(10))
    add_event(radicale, calendar, start=tokyo(14), end=tokyo(15))
    sync_now(host.calendar_connections.get())  # the picker reads what the sync stored
    day = tokyo(10).date()

    data = client_in.get(f"/dashboard/bookings/{booking.pk}/free-times/", {"from": day.isoformat()}).json()

    assert len(data["days"]) == 7 and data["days"][0]["date"] == day.isoformat()
    times = [t["value"] for t in data["days"][0]["times"]]
    assert times, "the day has free times"
    as_tokyo = {hour: tokyo(hour).strftime("%Y-%m-%dT%H:%M") for hour in (9, 10, 14, 15)}
    assert as_tokyo[9] in times and as_tokyo[15] in times, "in the host's zone (Asia/Tokyo)"
    assert as_tokyo[14] not in times, "the calendar's event blocks its time"
    assert as_tokyo[10] not in times, "where the meeting already is"
    # A 60-minute meeting cannot start at 13:30: it would run into the event.
    hour_long = client_in.get(
        f"/dashboard/bookings/{booking.pk}/free-times/", {"from": day.isoformat(), "duration": "60"}
    ).json()
    long_times = [t["value"] for t in hour_long["days"][0]["times"]]
    assert tokyo(13).replace(minute=30).strftime("%Y-%m-%dT%H:%M") not in long_times
    assert tokyo(13).replace(minute=30).strftime("%Y-%m-%dT%H:%M") in times
    # Someone else's meeting is not there to look at.
    assert client_in.get(f"/dashboard/bookings/{uuid.uuid4()}/free-times/").status_code == 404


def test_moving_from_the_dashboard_reads_the_picker_in_the_hosts_zone(
    host: User, client_in: Client, calendar: str, radicale: RadicaleServer
) -> None:
    booking = book(make_link(host), tokyo(10))

    response = client_in.post(
        f"/dashboard/bookings/{booking.pk}/reschedule/",
        {"start": tokyo(14).strftime("%Y-%m-%dT%H:%M"), "duration": "30"},
    )

    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    run_calendar_writes()
    booking.refresh_from_db()
    assert booking.start == tokyo(14)
    [event] = events_on(radicale, calendar)
    assert event.start == tokyo(14)
    assert "The meeting was moved to" in messages_of(client_in)


def test_a_taken_time_is_refused_with_the_reason_and_nothing_moves(
    host: User, client_in: Client, calendar: str, radicale: RadicaleServer
) -> None:
    booking = book(make_link(host), tokyo(10))
    add_event(radicale, calendar, start=tokyo(14), end=tokyo(15))

    client_in.post(
        f"/dashboard/bookings/{booking.pk}/reschedule/", {"start": tokyo(14).strftime("%Y-%m-%dT%H:%M")}
    )
    bad = client_in.post(f"/dashboard/bookings/{booking.pk}/reschedule/", {"start": "tomorrow at noon"})

    assert bad.status_code == 302
    booking.refresh_from_db()
    assert booking.start == tokyo(10)
    html = messages_of(client_in)
    assert html.count("The meeting was not moved.") == 2
    assert "That time is not free" in html


def test_a_time_the_page_never_offers_is_refused_with_the_rule(
    host: User, client_in: Client, calendar: str
) -> None:
    booking = book(make_link(host), tokyo(10))

    client_in.post(
        f"/dashboard/bookings/{booking.pk}/reschedule/", {"start": tokyo(20).strftime("%Y-%m-%dT%H:%M")}
    )

    booking.refresh_from_db()
    assert booking.start == tokyo(10)
    html = messages_of(client_in)
    assert "The meeting was not moved." in html
    assert "outside the hours this page offers" in html


def test_cancelling_from_the_dashboard_frees_the_time_and_tells_the_contact_why(
    host: User, client_in: Client, calendar: str, radicale: RadicaleServer
) -> None:
    booking = book(make_link(host), tokyo(10))
    send_queued_mail()
    mail.outbox.clear()

    client_in.post(f"/dashboard/bookings/{booking.pk}/cancel/", {"reason": "A clash came up, sorry."})
    run_calendar_writes()

    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, "A clash came up, sorry.")
    [event] = events_on(radicale, calendar)
    assert event.cancelled
    send_queued_mail()
    [cancellation] = [m for m in mail.outbox if m.to == ["aiko@example.com"]]
    assert "A clash came up, sorry." in cancellation.body
    html = messages_of(client_in)
    assert "The meeting is cancelled." in html
    assert not elements(html, "form", action=f"/dashboard/bookings/{booking.pk}/cancel/")


def test_exchange_meetings_hide_both_actions_and_say_why(
    host: User, client_in: Client, calendar: str
) -> None:
    booking = book(make_link(host), tokyo(10))
    CalendarConnection.objects.filter(user=host).update(provider=Provider.EXCHANGE)

    html = client_in.get("/dashboard/").content.decode()

    assert not elements(html, "form", action=f"/dashboard/bookings/{booking.pk}/cancel/")
    assert not elements(html, "form", action=f"/dashboard/bookings/{booking.pk}/reschedule/")
    assert "cancel or move it in Outlook" in html
    assert EXCHANGE_NOTE in html  # on the connection panel
    # Posting anyway changes nothing and says why.
    client_in.post(f"/dashboard/bookings/{booking.pk}/cancel/")
    client_in.post(
        f"/dashboard/bookings/{booking.pk}/reschedule/", {"start": tokyo(14).strftime("%Y-%m-%dT%H:%M")}
    )
    booking.refresh_from_db()
    assert (booking.status, booking.start) == (BookingStatus.CONFIRMED, tokyo(10))
    html = messages_of(client_in)
    assert "cancel it in Outlook instead" in html
    assert "reschedule it in Outlook instead" in html


def test_other_hosts_meetings_cannot_be_changed(client_in: Client, radicale: RadicaleServer) -> None:
    other = make_host("taro", time_zone="Asia/Tokyo")
    connect(other, radicale)
    booking = book(make_link(other, slug="taro"), tokyo(10))

    assert client_in.post(f"/dashboard/bookings/{booking.pk}/cancel/").status_code == 404
    moved = client_in.post(
        f"/dashboard/bookings/{booking.pk}/reschedule/", {"start": tokyo(14).strftime("%Y-%m-%dT%H:%M")}
    )
    assert moved.status_code == 404
    booking.refresh_from_db()
    assert (booking.status, booking.start) == (BookingStatus.CONFIRMED, tokyo(10))


@pytest.fixture
def japanese(client_in: Client) -> Iterator[None]:
    client_in.cookies["django_language"] = "ja"
    yield
    # The locale middleware leaves the request's language active in this thread: later tests expect English.
    translation.activate(settings.LANGUAGE_CODE)


def test_the_actions_and_the_exchange_note_speak_japanese(
    host: User, client_in: Client, calendar: str, japanese: None
) -> None:
    book(make_link(host), tokyo(10))
    book(make_link(host, slug="second"), tokyo(12), email="ken@example.com")

    html = client_in.get("/dashboard/").content.decode()
    assert "日時を変更" in html and "ミーティングをキャンセル" in html
    assert "カレンダー一覧を更新" in html

    CalendarConnection.objects.filter(user=host).update(provider=Provider.EXCHANGE)
    html = client_in.get("/dashboard/").content.decode()
    assert "Exchange カレンダーとの連携は一方向です" in html
    assert "キャンセルや日時変更は Outlook で行ってください" in html
