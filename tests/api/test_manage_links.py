"""The booker's manage links: signed tokens, reschedule, cancel with a reason, notice, Exchange, the ICS."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.core import mail, signing
from django.test import Client, override_settings
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, run_calendar_writes, send_queued_mail
from tests.scheduling.helpers import connect, events_on, invitations
from yoyaku.accounts.models import CalendarConnection, Provider, User
from yoyaku.calendars.google import google_event_id
from yoyaku.scheduling.manage_links import add_to_calendar_ics, booker_links, manage_token
from yoyaku.scheduling.models import Booking, BookingStatus, MeetingLink

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BERLIN = ZoneInfo("Europe/Berlin")
LINK_RE = re.compile(r"/manage/([^/\s]+)/(reschedule|cancel)/")


def berlin(hour: int, days: int = 3) -> datetime:
    day = timezone.now().astimezone(BERLIN).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), BERLIN)


def book(client: Client, slug: str, start: datetime) -> dict[str, object]:
    response = client.post(
        f"/api/v1/book/{slug}",
        data={
            "start": start.isoformat(),
            "duration": 30,
            "timezone": "America/New_York",
            "first_name": "Aiko",
            "last_name": "Sato",
            "email": "aiko@example.com",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    run_calendar_writes()  # the worker writes the event and sends the invitation
    data: dict[str, object] = response.json()
    return data


@pytest.fixture
def hana(radicale: RadicaleServer) -> tuple[User, str]:
    host = make_host("hana", email="hana@example.com")
    _, calendar = connect(host, radicale)
    return host, calendar


def invitation_token(message: mail.EmailMessage) -> str:
    tokens = {match[0] for match in LINK_RE.findall(message.body)}
    assert len(tokens) == 1, message.body
    return tokens.pop()


def test_links_in_the_mail_reschedule_then_cancel_with_a_reason(
    hana: tuple[User, str], radicale: RadicaleServer
) -> None:
    host, calendar = hana
    make_link(host)
    client = Client()
    booked = book(client, "intro", berlin(10))
    assert LINK_RE.search(str(booked["reschedule_url"])) and LINK_RE.search(str(booked["cancel_url"]))
    [(invitation, _ical)] = invitations("REQUEST")  # the host's notice of the booking is the other mail
    token = invitation_token(invitation)
    # The invitation's calendar object carries the links too (DESCRIPTION), as does the event written.
    ical = icalendar.Calendar.from_ical(invitation.alternatives[0][0])
    [event] = ical.walk("VEVENT")
    assert f"/manage/{token}/reschedule/" in str(event["DESCRIPTION"])
    assert f"/manage/{token}/cancel/" in (events_on(radicale, calendar)[0].description or "")

    seen = client.get(f"/api/v1/manage/{token}")
    assert seen.status_code == 200 and seen.json()["can_change"] is True
    days = client.get(f"/api/v1/manage/{token}/availability", {"timezone": "America/New_York"}).json()["days"]
    assert any(day["slots"] for day in days)

    moved = client.post(
        f"/api/v1/manage/{token}/reschedule",
        data={"start": berlin(14).isoformat()},
        content_type="application/json",
    )
    assert moved.status_code == 200, moved.content
    assert datetime.fromisoformat(moved.json()["start"]) == berlin(14)
    run_calendar_writes()
    [event_after] = events_on(radicale, calendar)
    assert event_after.start == berlin(14)
    # The move retires the old links; the update mails new ones (and the answer has them too).
    send_queued_mail()
    new_token = invitation_token(mail.outbox[-1])
    assert new_token != token and new_token in moved.json()["cancel_url"]
    assert client.get(f"/api/v1/manage/{token}").status_code == 404
    assert (
        client.post(f"/api/v1/manage/{token}/cancel", data={}, content_type="application/json").status_code
        == 404
    )
    token = new_token
    assert f"/manage/{token}/cancel/" in (events_on(radicale, calendar)[0].description or "")

    cancelled = client.post(
        f"/api/v1/manage/{token}/cancel",
        data={"reason": "Found a better time"},
        content_type="application/json",
    )
    assert cancelled.status_code == 200, cancelled.content
    run_calendar_writes()
    booking = Booking.objects.get()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, "Found a better time")
    # Once cancelled, the links are dead: the same answer as for a made-up token.
    assert client.get(f"/api/v1/manage/{token}").status_code == 404
    assert client.get(f"/manage/{token}/reschedule/").status_code == 404


def test_bad_tokens_are_404_and_say_nothing(hana: tuple[User, str]) -> None:
    host, _ = hana
    make_link(host)
    client = Client()
    book(client, "intro", berlin(10))
    booking = Booking.objects.get()
    good = manage_token(booking=booking)
    forged = [
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        signing.Signer().sign(booking.pk.hex),  # signed, but not for manage links (another salt)
        "nonsense",
    ]
    unknown = client.get("/api/v1/book/no-such-page/availability").json()
    for token in forged:
        answer = client.get(f"/api/v1/manage/{token}")
        assert answer.status_code == 404
        assert answer.json() == unknown
        post = client.post(f"/api/v1/manage/{token}/cancel", data={}, content_type="application/json")
        assert post.status_code == 404
    assert Booking.objects.get().status == BookingStatus.CONFIRMED


def test_changes_inside_the_pages_change_notice_are_refused_and_change_nothing(
    hana: tuple[User, str],
) -> None:
    host, _ = hana
    link: MeetingLink = make_link(host)
    client = Client()
    book(client, "intro", berlin(10))
    token = manage_token(booking=Booking.objects.get())
    link.change_notice_minutes = 7 * 24 * 60
    link.save()

    seen = client.get(f"/api/v1/manage/{token}").json()
    assert seen["can_change"] is False and "168 hours" in seen["change_refusal"]
    answer = client.post(f"/api/v1/manage/{token}/cancel", data={}, content_type="application/json")
    assert answer.status_code == 403 and "168 hours" in answer.json()["detail"]
    moved = client.post(
        f"/api/v1/manage/{token}/reschedule",
        data={"start": berlin(14).isoformat()},
        content_type="application/json",
    )
    assert moved.status_code == 403
    booking = Booking.objects.get()
    assert (booking.status, booking.start) == (BookingStatus.CONFIRMED, berlin(10))


def test_bad_reschedule_input_is_a_4xx_with_the_field(hana: tuple[User, str]) -> None:
    host, _ = hana
    make_link(host)
    client = Client()
    book(client, "intro", berlin(10))
    token = manage_token(booking=Booking.objects.get())
    answer = client.post(
        f"/api/v1/manage/{token}/reschedule",
        data={"start": berlin(10).replace(minute=7).isoformat()},
        content_type="application/json",
    )
    assert answer.status_code == 422 and "start" in answer.json()["errors"]
    assert (
        client.post(
            f"/api/v1/manage/{token}/reschedule", data={"start": "soon"}, content_type="application/json"
        ).status_code
        == 422
    )
    assert Booking.objects.get().start == berlin(10)


def test_exchange_hosts_get_no_links_and_the_booker_is_told_why() -> None:
    host = make_host("ken", email="ken@example.com")
    connection = CalendarConnection(user=host, provider=Provider.EXCHANGE, account_email=host.email)
    connection.secret = "not used"
    connection.save()
    link = make_link(host)
    booking = Booking.objects.create(
        link=link,
        status=BookingStatus.CONFIRMED,
        start=berlin(10),
        end=berlin(10) + timedelta(minutes=30),
        time_zone="Asia/Tokyo",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
        assigned_host=host,
    )
    links = booker_links(booking=booking)
    assert links["reschedule_url"] == links["cancel_url"] == links["calendar_file_url"] == ""
    assert "Exchange" in links["change_note"]
    token = manage_token(booking=booking)
    answer = Client().post(f"/api/v1/manage/{token}/cancel", data={}, content_type="application/json")
    assert answer.status_code == 403 and "Exchange" in answer.json()["detail"]
    assert Booking.objects.get().status == BookingStatus.CONFIRMED


def test_the_calendar_file_has_the_invitations_uid(hana: tuple[User, str]) -> None:
    host, _ = hana
    make_link(host)
    client = Client()
    booked = book(client, "intro", berlin(10))
    [(invitation, _ical)] = invitations("REQUEST")  # the host's notice of the booking is the other mail
    invite_uid = icalendar.Calendar.from_ical(invitation.alternatives[0][0]).walk("VEVENT")[0]["UID"]

    response = client.get(str(booked["calendar_file_url"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    parsed = icalendar.Calendar.from_ical(response.content)
    assert parsed["METHOD"] == "PUBLISH"
    [event] = parsed.walk("VEVENT")
    assert str(event["UID"]) == str(invite_uid)
    assert event.decoded("DTSTART") == berlin(10)
    assert "/reschedule/" in str(event["DESCRIPTION"])
    assert "ATTENDEE" not in event  # RFC 5546 §3.2.1: PUBLISH names no attendees


def test_a_google_hosts_calendar_file_carries_googles_uid() -> None:
    host = make_host("mei", email="mei@example.com")
    connection = CalendarConnection(user=host, provider=Provider.GOOGLE, account_email=host.email)
    connection.secret = "not used"
    connection.save()
    booking = Booking.objects.create(
        link=make_link(host),
        status=BookingStatus.CONFIRMED,
        start=berlin(10),
        end=berlin(10) + timedelta(minutes=30),
        time_zone="Asia/Tokyo",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
        assigned_host=host,
    )
    ics = add_to_calendar_ics(booking=booking)
    assert ics is not None
    [event] = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    # Google's invitations name the event <event id>@google.com, the id Yoyaku derives from its UID.
    assert str(event["UID"]) == f"{google_event_id(f'yoyaku-{booking.pk}')}@google.com"


def test_microsoft_hosts_get_no_calendar_file() -> None:
    host = make_host("rin", email="rin@example.com")
    connection = CalendarConnection(user=host, provider=Provider.MICROSOFT, account_email=host.email)
    connection.secret = "not used"
    connection.save()
    booking = Booking.objects.create(
        link=make_link(host),
        status=BookingStatus.CONFIRMED,
        start=berlin(10),
        end=berlin(10) + timedelta(minutes=30),
        time_zone="Asia/Tokyo",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
        assigned_host=host,
    )
    # Graph picks the invitation's UID itself: a file with another would be a second entry.
    assert add_to_calendar_ics(booking=booking) is None
    assert booker_links(booking=booking)["calendar_file_url"] == ""
    assert booker_links(booking=booking)["cancel_url"]


@override_settings(YOYAKU_BOOKING_RATE_LIMIT="1/h", YOYAKU_PUBLIC_RATE_LIMIT="2/m")
def test_manage_changes_count_with_bookings_and_reads_with_availability(hana: tuple[User, str]) -> None:
    host, _ = hana
    make_link(host)
    client = Client(REMOTE_ADDR="203.0.113.9")
    book(client, "intro", berlin(10))  # the one booking the limit allows this address
    token = manage_token(booking=Booking.objects.get())

    refused = client.post(f"/api/v1/manage/{token}/cancel", data={}, content_type="application/json")
    assert refused.status_code == 429 and refused["Retry-After"]
    assert Booking.objects.get().status == BookingStatus.CONFIRMED
    assert [client.get(f"/api/v1/manage/{token}").status_code for _ in range(3)] == [200, 200, 429]
    # A forged token is counted too: guessing is as limited as booking.
    assert client.get("/api/v1/manage/forged").status_code == 429


def test_changes_take_json_only(hana: tuple[User, str]) -> None:
    host, _ = hana
    make_link(host)
    client = Client()
    book(client, "intro", berlin(10))
    token = manage_token(booking=Booking.objects.get())
    # What a cross-site form could post: refused before anything changes.
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        answer = client.post(
            f"/api/v1/manage/{token}/cancel", data='{"reason": ""}', content_type=content_type
        )
        assert answer.status_code == 415 and "JSON" in answer.json()["detail"], answer.content
    form = client.post(f"/api/v1/manage/{token}/reschedule", data={"start": berlin(14).isoformat()})
    assert form.status_code in (400, 415, 422), form.content
    assert form.json()["detail"]
    assert Booking.objects.get().status == BookingStatus.CONFIRMED
    assert Booking.objects.get().start == berlin(10)
