"""GET /me/bookings and /me/requests: what a host sees of the meetings and requests on their pages."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import api_key_for, connect_caldav, make_host, make_link, run_calendar_writes
from yoyaku.accounts.models import User
from yoyaku.scheduling.models import Booking, MeetingLink
from yoyaku.scheduling.services import book_meeting, cancel_booking, request_meeting

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(days: int, hour: int) -> datetime:
    day = timezone.now().astimezone(BERLIN).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), BERLIN)


def book(
    link: MeetingLink,
    start: datetime,
    email: str,
    *,
    now: datetime | None = None,
    answers: dict[str, str | bool] | None = None,
) -> Booking:
    booking = book_meeting(
        link=link,
        start=start,
        duration=30,
        time_zone="Asia/Tokyo",
        first_name=email.split("@")[0].capitalize(),
        last_name="Guest",
        email=email,
        answers=answers,
        now=now,
    ).booking
    run_calendar_writes()  # the worker puts it on the calendar
    booking.refresh_from_db()
    return booking


def client_for(user: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key_for(user)}"})


@pytest.fixture
def connected_host(radicale: RadicaleServer, caldav_calendar: str) -> User:
    host = make_host("hana")
    connect_caldav(
        host,
        server_url=radicale.url,
        username=radicale.username,
        password=radicale.password,
        calendar_url=caldav_calendar,
    )
    return host


def test_both_lists_need_an_api_key() -> None:
    for path in ("/api/v1/me/bookings", "/api/v1/me/requests"):
        assert Client().get(path).status_code == 401
        assert Client(headers={"Authorization": "Bearer yk_nope"}).get(path).status_code == 401


def test_upcoming_bookings_with_contact_and_calendar_state(connected_host: User) -> None:
    link = make_link(
        connected_host,
        form_fields=[{"key": "company", "label": "Company", "type": "text", "required": False}],
    )
    later = book(link, berlin(2, 9), "ada@example.org")
    sooner = book(link, berlin(1, 10), "bo@example.org", answers={"company": "Acme"})
    yesterday = berlin(-1, 10)
    past = book(link, yesterday, "cy@example.org", now=yesterday - timedelta(hours=2))
    cancelled = cancel_booking(booking=book(link, berlin(1, 14), "di@example.org"))
    other_host = make_host("ken")
    book(make_link(other_host, slug="ken-call"), berlin(1, 11), "ed@example.org")
    assert Booking.objects.count() == 5

    client = client_for(connected_host)
    response = client.get("/api/v1/me/bookings")
    assert response.status_code == 200, response.content
    rows = response.json()
    assert [r["id"] for r in rows] == [str(sooner.pk), str(later.pk)]
    first = rows[0]
    assert first["status"] == "confirmed"
    assert first["link"] == "intro" and first["link_name"] == "Intro call"
    assert first["host"] == "hana"
    assert datetime.fromisoformat(first["start"]) == berlin(1, 10)
    assert datetime.fromisoformat(first["end"]) == berlin(1, 10) + timedelta(minutes=30)
    assert first["timezone"] == "Asia/Tokyo"
    assert first["contact"] == {
        "id": sooner.contact_id,
        "email": "bo@example.org",
        "first_name": "Bo",
        "last_name": "Guest",
    }
    assert first["meeting_id"] == sooner.meeting_id is not None
    assert first["answers"] == {"company": "Acme"}
    assert first["calendar_write"] == "written"
    assert first["calendar_event_id"] == Booking.objects.get(pk=sooner.pk).calendar_event_id
    assert first["calendar_error"] == ""

    with_cancelled = client.get("/api/v1/me/bookings", {"include_cancelled": "true"}).json()
    assert [r["id"] for r in with_cancelled] == [str(sooner.pk), str(cancelled.pk), str(later.pk)]
    assert with_cancelled[1]["status"] == "cancelled"

    after = (yesterday - timedelta(hours=1)).isoformat()
    since_yesterday = client.get("/api/v1/me/bookings", {"after": after})
    assert [r["id"] for r in since_yesterday.json()] == [str(past.pk), str(sooner.pk), str(later.pk)]
    page = client.get("/api/v1/me/bookings", {"limit": 1, "offset": 1}).json()
    assert [r["id"] for r in page] == [str(later.pk)]

    # Ken has no calendar, so his page took a request; each host sees only their own.
    assert [r["link"] for r in client_for(other_host).get("/api/v1/me/requests").json()] == ["ken-call"]
    assert client_for(other_host).get("/api/v1/me/bookings").json() == []
    assert client.get("/api/v1/me/requests").json() == []


def test_requests_from_an_offline_page(connected_host: User) -> None:
    host = make_host("sora")  # no calendar: the page runs offline
    link = make_link(host, slug="consult", name="Consultation")
    timed = book(link, berlin(1, 10), "ada@example.org")
    untimed = request_meeting(
        link=link,
        time_zone="Europe/Paris",
        first_name="Bo",
        last_name="Guest",
        email="bo@example.org",
        message="Any morning next week.",
    ).booking
    yesterday = berlin(-1, 10)
    expired = book(link, yesterday, "cy@example.org", now=yesterday - timedelta(hours=2))
    # A request on a connected host's page is not this host's.
    request_meeting(
        link=make_link(connected_host),
        time_zone="UTC",
        first_name="Di",
        last_name="Guest",
        email="di@example.org",
        message="",
    )

    client = client_for(host)
    response = client.get("/api/v1/me/requests")
    assert response.status_code == 200, response.content
    rows = response.json()
    assert [r["id"] for r in rows] == [str(untimed.pk), str(timed.pk)]  # newest first
    assert {r["status"] for r in rows} == {"requested"}
    assert {r["calendar_write"] for r in rows} == {"none"}
    assert rows[0]["start"] is None and rows[0]["message"] == "Any morning next week."
    assert rows[0]["contact"]["email"] == "bo@example.org"
    assert datetime.fromisoformat(rows[1]["start"]) == berlin(1, 10)

    everything = client.get("/api/v1/me/requests", {"include_past": "true"}).json()
    assert [r["id"] for r in everything] == [str(expired.pk), str(untimed.pk), str(timed.pk)]
    # Requests are not meetings: the bookings list stays empty until the host confirms one.
    assert client.get("/api/v1/me/bookings").json() == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/me/bookings", {"limit": 0}, "limit"),
        ("/api/v1/me/bookings", {"limit": 500}, "limit"),
        ("/api/v1/me/bookings", {"after": "not a time"}, "after"),
        ("/api/v1/me/bookings", {"after": "0001-01-01T00:00:00+14:00"}, "after"),
        ("/api/v1/me/requests", {"offset": -1}, "offset"),
    ],
)
def test_bad_list_parameters_are_refused(path: str, params: dict[str, object], field: str) -> None:
    response = client_for(make_host()).get(path, params)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
