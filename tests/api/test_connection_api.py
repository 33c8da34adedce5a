"""The calendar connection API, end to end: Exchange and CalDAV connected through it, OAuth through
start/complete with a signed flow token, the seat rule, settings, disconnecting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import icalendar
import pytest
from django.test import Client, override_settings

from tests.connection_helpers import (
    GOOGLE_ALLOW,
    berlin,
    book,
    calendar_write_of,
    future_day,
    slots,
    submit_consent,
)
from tests.emulators.exchange import ExchangeEmulator
from tests.emulators.exchange import start as start_exchange
from tests.emulators.google import GoogleEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import api_key_for, make_host, make_link, sync_now
from tests.providers import GOOGLE_EMAIL
from yoyaku.accounts.models import CalendarConnection, InboxConnection, Seat, User

pytestmark = pytest.mark.django_db

EXCHANGE_EMAIL = "alice@example.com"
EXCHANGE_PASSWORD = "s3cret"


@pytest.fixture
def host() -> User:
    user = make_host(email="hana@example.com")
    make_link(user)
    Seat.objects.create(workspace=user.workspace, hub=Seat.Hub.SALES, tier=Seat.Tier.PROFESSIONAL, user=user)
    return user


@pytest.fixture
def api(host: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})


@pytest.fixture
def exchange() -> Iterator[ExchangeEmulator]:
    server = start_exchange(email=EXCHANGE_EMAIL, password=EXCHANGE_PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def carol_radicale() -> Iterator[RadicaleServer]:
    with RadicaleServer(users={"carol": "carol-secret"}) as server:
        yield server


def post(api: Client, path: str, body: dict[str, object]) -> object:
    return api.post(f"/api/v1{path}", body, content_type="application/json")


def connect_exchange(api: Client, exchange: ExchangeEmulator, **extra: str) -> object:
    body = {"email": EXCHANGE_EMAIL, "password": EXCHANGE_PASSWORD, "ews_url": exchange.ews_url, **extra}
    return post(api, "/me/calendar/exchange", body)


def test_exchange_end_to_end(api: Client, host: User, exchange: ExchangeEmulator) -> None:
    response = connect_exchange(api, exchange)
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["provider"], data["account_email"], data["status"]) == ("exchange", EXCHANGE_EMAIL, "ok")
    assert data["server_url"] == exchange.ews_url
    connection = CalendarConnection.objects.get(pk=data["id"])
    assert EXCHANGE_PASSWORD not in connection.secret_encrypted
    assert connection.secret == EXCHANGE_PASSWORD

    day = future_day()
    exchange.add_event(subject="Board meeting", start=berlin(day, 10), end=berlin(day, 11))
    sync_now(connection)
    offered, answer = slots("intro", day, day + timedelta(days=1))
    assert answer["calendar_error"] == ""
    assert "10:00" not in offered[day.isoformat()] and "10:30" not in offered[day.isoformat()]
    assert "11:00" in offered[day.isoformat()]
    assert "10:00" in offered[(day + timedelta(days=1)).isoformat()]

    booked = book("intro", berlin(day, 11))
    assert booked.status_code == 201, booked.content
    assert calendar_write_of(booked) == "written"
    created = [e for e in exchange.events() if e.subject != "Board meeting"]
    assert len(created) == 1
    assert "aiko@example.com" in created[0].required_attendees
    # Exchange sends the invitation itself.
    assert created[0].send_meeting_invitations in ("SendToAllAndSaveCopy", "SendOnlyToAll")


def test_exchange_wrong_password_is_refused_with_the_app_password_hint(
    api: Client, host: User, exchange: ExchangeEmulator
) -> None:
    response = connect_exchange(api, exchange, password="wrong")
    assert response.status_code == 409
    assert "app password" in response.json()["detail"]
    assert set(response.json()) == {"detail", "errors"}
    assert not CalendarConnection.objects.exists()


def test_exchange_owa_address_is_refused(api: Client, host: User, exchange: ExchangeEmulator) -> None:
    response = connect_exchange(api, exchange, ews_url=f"{exchange.url}/owa/")
    assert response.status_code == 409
    assert "/EWS/Exchange.asmx" in response.json()["detail"]
    assert not CalendarConnection.objects.exists()


def test_exchange_too_old_is_refused(api: Client, host: User) -> None:
    server = start_exchange(
        email=EXCHANGE_EMAIL, password=EXCHANGE_PASSWORD, server_version="Exchange2010_SP1"
    )
    try:
        response = connect_exchange(api, server)
    finally:
        server.stop()
    assert response.status_code == 409
    assert "2010 SP2" in response.json()["detail"]
    assert not CalendarConnection.objects.exists()


def test_user_urls_into_private_networks_are_refused(
    api: Client, host: User, exchange: ExchangeEmulator
) -> None:
    with override_settings(YOYAKU_ALLOWED_CALENDAR_NETWORKS=[]):
        response = connect_exchange(api, exchange)
        caldav = post(api, "/me/calendar/caldav", {"url": exchange.url, "username": "x", "password": "y"})
    assert response.status_code == 409
    assert "private or reserved address" in response.json()["detail"]
    assert caldav.status_code == 409
    assert "private or reserved address" in caldav.json()["detail"]
    assert exchange.requests == []
    assert not CalendarConnection.objects.exists()


def test_caldav_end_to_end(api: Client, host: User, carol_radicale: RadicaleServer) -> None:
    calendar_url = carol_radicale.ensure_calendar("work", username="carol")
    response = post(
        api,
        "/me/calendar/caldav",
        {"url": carol_radicale.url, "username": "carol", "password": "carol-secret"},
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["provider"] == "caldav"
    assert data["write_calendar_id"].rstrip("/").endswith("/carol/work")
    assert InboxConnection.objects.filter(user=host, email="hana@example.com", shared=False).exists()

    day = future_day()
    event = icalendar.Event()
    event.add("uid", "dentist-1@example.com")
    event.add("summary", "Dentist")
    event.add("dtstamp", datetime.now(tz=UTC))
    event.add("dtstart", berlin(day, 10))
    event.add("dtend", berlin(day, 11))
    ics = icalendar.Calendar()
    ics.add("prodid", "-//test//EN")
    ics.add("version", "2.0")
    ics.add_component(event)
    carol_radicale.seed(calendar_url, [ics.to_ical()], username="carol")
    sync_now(CalendarConnection.objects.get(pk=data["id"]))

    offered, answer = slots("intro", day, day + timedelta(days=1))
    assert answer["calendar_error"] == ""
    assert "10:00" not in offered[day.isoformat()] and "10:30" not in offered[day.isoformat()]
    assert "11:00" in offered[day.isoformat()]
    assert "10:00" in offered[(day + timedelta(days=1)).isoformat()]

    booked = book("intro", berlin(day, 11))
    assert booked.status_code == 201, booked.content
    assert calendar_write_of(booked) == "written"
    stored = httpx.get(calendar_url, auth=("carol", "carol-secret"), timeout=10)
    calendar = icalendar.Calendar.from_ical(stored.content)
    created = [e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]) != "Dentist"]
    assert len(created) == 1
    attendees = created[0].get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert "mailto:aiko@example.com" in [str(a).lower() for a in attendees]


def test_caldav_bad_password_is_refused(api: Client, host: User, carol_radicale: RadicaleServer) -> None:
    response = post(
        api, "/me/calendar/caldav", {"url": carol_radicale.url, "username": "carol", "password": "no"}
    )
    assert response.status_code == 409
    assert response.json()["detail"]
    assert not CalendarConnection.objects.exists()


def test_oauth_through_the_api(api: Client, host: User, google: GoogleEmulator) -> None:
    start = post(api, "/me/calendar/oauth/google/start", {})
    assert start.status_code == 200, start.content
    url, flow = start.json()["authorization_url"], start.json()["flow"]
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    # The flow token is opaque: neither the state nor anything else readable inside.
    assert query["state"][0] not in flow
    callback = parse_qs(urlsplit(submit_consent(url, button=GOOGLE_ALLOW)).query)

    tampered = flow[:-4] + ("AAAA" if not flow.endswith("AAAA") else "BBBB")
    bad = post(api, "/me/calendar/oauth/google/complete", {"flow": tampered, "code": callback["code"][0]})
    assert bad.status_code == 409
    wrong_state = post(
        api, "/me/calendar/oauth/google/complete", {"flow": flow, "code": callback["code"][0], "state": "x"}
    )
    assert wrong_state.status_code == 409

    done = post(
        api,
        "/me/calendar/oauth/google/complete",
        {"flow": flow, "code": callback["code"][0], "state": callback["state"][0]},
    )
    assert done.status_code == 201, done.content
    assert (done.json()["provider"], done.json()["account_email"]) == ("google", GOOGLE_EMAIL)

    state = api.get("/api/v1/me/calendar").json()
    assert [c["account_email"] for c in state["connections"]] == [GOOGLE_EMAIL]
    assert [i["email"] for i in state["inboxes"]] == [GOOGLE_EMAIL]
    assert state["connect_blockers"] and "already have a calendar" in state["connect_blockers"][0]
    assert state["providers"] == {"google": True, "microsoft": False, "exchange": True, "caldav": True}


def test_a_flow_token_belongs_to_its_user(api: Client, host: User, google: GoogleEmulator) -> None:
    start = post(api, "/me/calendar/oauth/google/start", {}).json()
    callback = parse_qs(urlsplit(submit_consent(start["authorization_url"], button=GOOGLE_ALLOW)).query)
    other = make_host("ken")
    Seat.objects.create(
        workspace=other.workspace, hub=Seat.Hub.SERVICE, tier=Seat.Tier.ENTERPRISE, user=other
    )
    other_api = Client(headers={"Authorization": f"Bearer {api_key_for(other)}"})
    stolen = post(
        other_api,
        "/me/calendar/oauth/google/complete",
        {"flow": start["flow"], "code": callback["code"][0], "state": callback["state"][0]},
    )
    assert stolen.status_code == 409
    assert not CalendarConnection.objects.exists()


@pytest.mark.parametrize(
    ("hub", "tier", "allowed"),
    [
        (None, None, False),
        (Seat.Hub.MARKETING, Seat.Tier.ENTERPRISE, False),
        (Seat.Hub.SALES, Seat.Tier.STARTER, False),
        (Seat.Hub.SERVICE, Seat.Tier.FREE, False),
        (Seat.Hub.SALES, Seat.Tier.PROFESSIONAL, True),
        (Seat.Hub.SERVICE, Seat.Tier.ENTERPRISE, True),
    ],
)
def test_the_api_needs_a_sales_or_service_professional_seat(
    exchange: ExchangeEmulator, hub: str | None, tier: str | None, allowed: bool
) -> None:
    user = make_host("ken")
    if hub is not None:
        Seat.objects.create(workspace=user.workspace, hub=hub, tier=tier, user=user)
    Seat.objects.create(
        workspace=user.workspace, hub=Seat.Hub.SALES, tier=Seat.Tier.ENTERPRISE, user=None
    )  # unassigned seats do not count
    client = Client(headers={"Authorization": f"Bearer {api_key_for(user)}"})
    response = connect_exchange(client, exchange)
    if allowed:
        assert response.status_code == 201, response.content
    else:
        assert response.status_code == 403
        assert "seat" in response.json()["detail"]
        assert not CalendarConnection.objects.exists()


def test_second_connection_is_refused_with_409(api: Client, host: User, exchange: ExchangeEmulator) -> None:
    assert connect_exchange(api, exchange).status_code == 201
    other = start_exchange(email="bob@example.com", password="pw")
    try:
        second = post(
            api,
            "/me/calendar/exchange",
            {"email": "bob@example.com", "password": "pw", "ews_url": other.ews_url},
        )
    finally:
        other.stop()
    assert second.status_code == 409
    assert "Disconnect it" in second.json()["detail"]


def test_settings_patch_and_disconnects(api: Client, host: User, google: GoogleEmulator) -> None:
    google.add_calendar(calendar_id="team@group.example", owner=GOOGLE_EMAIL, summary="Team")
    google.add_calendar(
        calendar_id="holidays@group.example", owner="x@example.com", shared_with={GOOGLE_EMAIL: "reader"}
    )
    start = post(api, "/me/calendar/oauth/google/start", {}).json()
    callback = parse_qs(urlsplit(submit_consent(start["authorization_url"], button=GOOGLE_ALLOW)).query)
    connection = post(
        api,
        "/me/calendar/oauth/google/complete",
        {"flow": start["flow"], "code": callback["code"][0], "state": callback["state"][0]},
    ).json()
    assert connection["conflict_calendar_ids"] == [GOOGLE_EMAIL]
    assert connection["write_calendar_id"] == GOOGLE_EMAIL
    path = f"/api/v1/me/calendar/{connection['id']}"

    changed = api.patch(
        path,
        {"conflict_calendar_ids": [GOOGLE_EMAIL, "team@group.example"], "tentative_blocks": False},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["conflict_calendar_ids"] == [GOOGLE_EMAIL, "team@group.example"]
    assert changed.json()["write_calendar_id"] == GOOGLE_EMAIL
    assert changed.json()["tentative_blocks"] is False

    # A busy event on the team calendar now blocks the page.
    day = future_day()
    google.add_event(
        "team@group.example",
        {
            "summary": "Offsite",
            "start": {"dateTime": berlin(day, 14).isoformat()},
            "end": {"dateTime": berlin(day, 15).isoformat()},
        },
    )
    sync_now(CalendarConnection.objects.get(pk=connection["id"]))
    offered, _ = slots("intro", day)
    assert "14:00" not in offered[day.isoformat()] and "13:30" in offered[day.isoformat()]

    read_only = api.patch(
        path, {"write_calendar_id": "holidays@group.example"}, content_type="application/json"
    )
    assert read_only.status_code == 409
    unknown = api.patch(path, {"conflict_calendar_ids": ["nope"]}, content_type="application/json")
    assert unknown.status_code == 409
    assert api.patch("/api/v1/me/calendar/999999", {}, content_type="application/json").status_code == 404

    inbox_id = api.get("/api/v1/me/calendar").json()["inboxes"][0]["id"]
    assert api.delete(f"/api/v1/me/inbox/{inbox_id}").status_code == 204
    state = api.get("/api/v1/me/calendar").json()
    assert state["inboxes"] == [] and len(state["connections"]) == 1
    assert api.delete(f"/api/v1/me/inbox/{inbox_id}").status_code == 404

    assert api.delete(path).status_code == 204
    assert api.get("/api/v1/me/calendar").json()["connections"] == []
    # Disconnecting revokes the grant at Google.
    assert any(r.startswith("POST /revoke") for r in google.requests)
    assert api.delete(path).status_code == 404


def test_connections_of_others_are_out_of_reach(api: Client, host: User, exchange: ExchangeEmulator) -> None:
    other = make_host("ken")
    connection = CalendarConnection.objects.create(
        user=other, provider="caldav", account_email="ken@example.com"
    )
    inbox = InboxConnection.objects.create(user=other, email="ken@example.com", provider="caldav")
    assert api.delete(f"/api/v1/me/calendar/{connection.pk}").status_code == 404
    assert api.delete(f"/api/v1/me/inbox/{inbox.pk}").status_code == 404
    assert CalendarConnection.objects.filter(pk=connection.pk).exists()
    assert InboxConnection.objects.filter(pk=inbox.pk).exists()
