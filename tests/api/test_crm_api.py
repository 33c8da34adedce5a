"""The CRM's REST API: contacts (search, pages, create, edit, merge) and meetings (filters, edit,
"Create meeting" on a contact with each kind of calendar: Google and Microsoft 365 through their
emulators invite the contacts themselves, CalDAV on a real Radicale gets iMIP mail from Yoyaku,
Exchange and no calendar keep the meeting in the CRM only)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from tests.connection_helpers import berlin, future_day
from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import (
    api_key_for,
    make_host,
    make_link,
    make_workspace,
    run_calendar_writes,
    send_queued_mail,
)
from tests.providers import GOOGLE_EMAIL
from tests.scheduling.helpers import connect, events_on, invitations
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, Provider, User
from yoyaku.api.urls import api
from yoyaku.crm.models import Contact, Meeting, MeetingAssociation
from yoyaku.crm.services import create_contact, log_meeting
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def host() -> User:
    return make_host("hana", email="hana@example.com")


@pytest.fixture
def client(host: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})


@pytest.fixture
def run_after_commit(django_capture_on_commit_callbacks: Any) -> Iterator[Callable[[], Any]]:
    """Run what waits for the commit (the calendar write task, immediate in the tests) inside a block."""

    def block() -> Any:
        return django_capture_on_commit_callbacks(execute=True)

    yield block


def send(client: Client, method: str, url: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def contact(host: User, email: str = "aiko@example.com", **fields: Any) -> Contact:
    fields.setdefault("first_name", "Aiko")
    fields.setdefault("last_name", "Sato")
    return create_contact(workspace=host.workspace, email=email, owner=host, **fields)


def meeting_body(hour: int = 10, **fields: Any) -> dict[str, Any]:
    day = future_day()
    return {
        "title": "Quarterly review",
        "start": berlin(day, hour).isoformat(),
        "end": berlin(day, hour, 45).isoformat(),
        "location": "https://meet.example.com/review",
        "description": "Agenda: numbers.",
        "internal_notes": "They may churn.",
        **fields,
    }


# -- contacts ---------------------------------------------------------------------------------


def test_contacts_are_searched_by_name_and_email_and_paged(host: User, client: Client) -> None:
    for i in range(30):
        contact(host, email=f"person{i:02}@example.com", first_name="Person", last_name=f"{i:02}")
    contact(host, email="aiko@sato-shoji.example")
    contact(make_host("bob", workspace=make_workspace()), email="aiko@elsewhere.example")

    first = client.get("/api/v1/crm/contacts?per_page=10").json()
    third = client.get("/api/v1/crm/contacts?per_page=10&page=4").json()
    by_name = client.get("/api/v1/crm/contacts?q=aiko sato").json()
    by_email = client.get("/api/v1/crm/contacts?q=SATO-SHOJI").json()

    assert (first["total"], len(first["items"]), first["page"]) == (31, 10, 1)
    assert [c["last_name"] for c in first["items"]] == [f"{i:02}" for i in range(10)]
    assert [c["email"] for c in third["items"]] == ["aiko@sato-shoji.example"]
    assert [c["email"] for c in by_name["items"]] == ["aiko@sato-shoji.example"]
    assert by_email["items"] == by_name["items"]
    too_many = client.get("/api/v1/crm/contacts?per_page=1000")
    assert too_many.status_code == 422 and "per_page" in too_many.json()["errors"]


def test_create_and_edit_a_contact_with_clear_errors(host: User, client: Client) -> None:
    made = send(client, "post", "/api/v1/crm/contacts", {"email": "ken@example.com", "first_name": "Ken"})
    assert made.status_code == 201, made.content
    assert made.json()["owner_username"] == "hana"
    contact_id = made.json()["id"]

    edited = send(
        client, "patch", f"/api/v1/crm/contacts/{contact_id}", {"last_name": "Abe", "time_zone": "Asia/Tokyo"}
    )
    assert edited.status_code == 200
    assert (edited.json()["first_name"], edited.json()["last_name"]) == ("Ken", "Abe")

    duplicate = send(client, "post", "/api/v1/crm/contacts", {"email": "KEN@example.com"})
    bad = send(
        client, "patch", f"/api/v1/crm/contacts/{contact_id}", {"email": "nope", "time_zone": "Mars/Base"}
    )
    assert duplicate.status_code == 422 and "merge" in duplicate.json()["errors"]["email"]
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"email", "time_zone"}
    assert Contact.objects.get(pk=contact_id).email == "ken@example.com"


def test_merge_moves_meetings_and_bookings_to_the_kept_contact(host: User, client: Client) -> None:
    keep = contact(
        host, email="aiko@example.com", first_name="Aiko", last_name="", properties={"tier": "gold"}
    )
    other = contact(
        host,
        email="aiko.sato@example.com",
        first_name="A.",
        last_name="Sato",
        time_zone="Asia/Tokyo",
        properties={"tier": "silver", "phone": "+81"},
    )
    start = berlin(future_day(), 10)
    shared = log_meeting(
        workspace=host.workspace,
        title="Both",
        start=start,
        end=start + timedelta(hours=1),
        source="crm",
        contacts=[keep, other],
        hosts=[host],
    )
    own = log_meeting(
        workspace=host.workspace,
        title="Other's",
        start=start,
        end=start + timedelta(hours=1),
        source="crm",
        contacts=[other],
        hosts=[host],
    )
    booking = Booking.objects.create(
        link=make_link(host),
        status=BookingStatus.REQUESTED,
        time_zone="UTC",
        first_name="A.",
        last_name="Sato",
        email="aiko.sato@example.com",
        assigned_host=host,
        contact=other,
    )

    response = send(client, "post", f"/api/v1/crm/contacts/{keep.pk}/merge", {"other_contact_id": other.pk})

    assert response.status_code == 200, response.content
    merged = response.json()
    assert (merged["first_name"], merged["last_name"], merged["time_zone"]) == ("Aiko", "Sato", "Asia/Tokyo")
    assert merged["properties"] == {"tier": "gold", "phone": "+81"}
    assert sorted(m["title"] for m in merged["meetings"]) == ["Both", "Other's"]
    assert not Contact.objects.filter(pk=other.pk).exists()
    assert set(MeetingAssociation.objects.values_list("meeting_id", "contact_id")) == {
        (shared.pk, keep.pk),
        (own.pk, keep.pk),
    }
    booking.refresh_from_db()
    assert booking.contact_id == keep.pk
    itself = send(client, "post", f"/api/v1/crm/contacts/{keep.pk}/merge", {"other_contact_id": keep.pk})
    assert itself.status_code == 422 and "other_contact_id" in itself.json()["errors"]


# -- meetings without a calendar Yoyaku may change --------------------------------------------


def test_without_a_calendar_the_meeting_is_logged_in_the_crm_only(host: User, client: Client) -> None:
    aiko = contact(host)

    response = send(client, "post", f"/api/v1/crm/contacts/{aiko.pk}/meetings", meeting_body())

    assert response.status_code == 201, response.content
    meeting = response.json()
    assert (meeting["calendar"], meeting["crm_only_reason"]) == ("none", "no_calendar")
    assert meeting["internal_notes"] == "They may churn."
    assert [c["email"] for c in meeting["contacts"]] == ["aiko@example.com"]
    assert meeting["host_usernames"] == ["hana"]
    send_queued_mail()
    assert not mail.outbox


def test_with_exchange_the_meeting_is_logged_in_the_crm_only_and_nothing_is_sent(
    host: User, client: Client
) -> None:
    connection = CalendarConnection(user=host, provider=Provider.EXCHANGE, account_email="hana@example.com")
    connection.secret = "x"
    # Nothing listens there: a write would fail loudly.
    connection.server_url = "https://127.0.0.1:9/EWS/Exchange.asmx"
    connection.save()
    aiko = contact(host)

    response = send(client, "post", f"/api/v1/crm/contacts/{aiko.pk}/meetings", meeting_body())

    assert response.status_code == 201
    assert (response.json()["calendar"], response.json()["crm_only_reason"]) == ("none", "exchange")


def test_bad_meeting_input_is_refused_with_what_to_fix(host: User, client: Client) -> None:
    aiko = contact(host)
    day = future_day()
    body = meeting_body(
        start=berlin(day, 11).isoformat(), end=berlin(day, 10).isoformat(), other_contact_ids=[999]
    )

    response = send(client, "post", f"/api/v1/crm/contacts/{aiko.pk}/meetings", body)

    assert response.status_code == 422
    assert "other_contact_ids" in response.json()["errors"]
    body["other_contact_ids"] = []
    response = send(client, "post", f"/api/v1/crm/contacts/{aiko.pk}/meetings", body)
    assert response.status_code == 422 and "end" in response.json()["errors"]
    assert not Meeting.objects.exists()


def test_meetings_are_filtered_by_time_outcome_host_and_contact(host: User, client: Client) -> None:
    ken = make_host("ken")
    aiko, taro = contact(host), contact(host, email="taro@example.com")
    now = datetime.now().astimezone()

    def log(title: str, days: int, who: User, people: list[Contact], outcome: str = "scheduled") -> None:
        start = now + timedelta(days=days)
        log_meeting(
            workspace=host.workspace,
            title=title,
            start=start,
            end=start + timedelta(hours=1),
            source="crm",
            contacts=people,
            hosts=[who],
            outcome=outcome,
        )

    log("past", -3, host, [aiko], "completed")
    log("soon", 1, host, [aiko])
    log("later", 5, ken, [taro])
    log("no show", -1, ken, [aiko, taro], "no_show")

    def titles(query: str) -> list[str]:
        response = client.get(f"/api/v1/crm/meetings?{query}")
        assert response.status_code == 200, response.content
        return [m["title"] for m in response.json()["items"]]

    assert titles("when=upcoming") == ["soon", "later"]
    assert titles("when=past") == ["no show", "past"]
    assert titles("outcome=no_show") == ["no show"]
    assert titles("host=ken") == ["later", "no show"]
    assert titles(f"contact_id={taro.pk}&when=past") == ["no show"]
    assert client.get("/api/v1/crm/meetings?when=someday").status_code == 422


def test_a_booked_meeting_keeps_its_time_with_its_booking(host: User, client: Client) -> None:
    start = berlin(future_day(), 10)
    booked = log_meeting(
        workspace=host.workspace,
        title="Intro",
        start=start,
        end=start + timedelta(minutes=30),
        source="booking",
        contacts=[contact(host)],
        hosts=[host],
    )

    moved = send(
        client,
        "patch",
        f"/api/v1/crm/meetings/{booked.pk}",
        {"start": (start + timedelta(hours=1)).isoformat()},
    )
    noted = send(
        client,
        "patch",
        f"/api/v1/crm/meetings/{booked.pk}",
        {"internal_notes": "Warm lead", "outcome": "completed"},
    )

    assert moved.status_code == 422 and "dashboard" in moved.json()["errors"]["start"]
    assert noted.status_code == 200
    assert (noted.json()["internal_notes"], noted.json()["outcome"]) == ("Warm lead", "completed")


def test_the_openapi_document_lists_the_crm_with_its_error_answers() -> None:
    paths = api.get_openapi_schema(path_prefix="/api/v1/")["paths"]

    assert {"get", "post"} <= set(paths["/api/v1/crm/contacts"])
    assert set(paths["/api/v1/crm/contacts/{contact_id}/meetings"]["post"]["responses"]) >= {201, 404, 422}
    assert set(paths["/api/v1/crm/meetings/{meeting_id}"]["patch"]["responses"]) >= {200, 404, 422}
    assert set(paths["/api/v1/crm/contacts/{contact_id}/merge"]["post"]["responses"]) >= {200, 404, 422}


# -- meetings on the host's calendar -----------------------------------------------------------


def _create_update_cancel(client: Client, host: User, run_after_commit: Callable[[], Any]) -> int:
    aiko, taro = contact(host), contact(host, email="taro@example.com", first_name="Taro")
    with run_after_commit():
        made = send(
            client,
            "post",
            f"/api/v1/crm/contacts/{aiko.pk}/meetings",
            meeting_body(other_contact_ids=[taro.pk]),
        )
    assert made.status_code == 201, made.content
    meeting_id = made.json()["id"]
    assert Meeting.objects.get(pk=meeting_id).calendar_write == CalendarWrite.WRITTEN
    return meeting_id


def _move(client: Client, meeting_id: int, run_after_commit: Callable[[], Any]) -> datetime:
    new_start = berlin(future_day(), 14)
    with run_after_commit():
        moved = send(
            client,
            "patch",
            f"/api/v1/crm/meetings/{meeting_id}",
            {
                "start": new_start.isoformat(),
                "end": (new_start + timedelta(hours=1)).isoformat(),
                "title": "Moved",
            },
        )
    assert moved.status_code == 200, moved.content
    assert Meeting.objects.get(pk=meeting_id).calendar_write == CalendarWrite.WRITTEN
    return new_start


def _cancel(client: Client, meeting_id: int, run_after_commit: Callable[[], Any]) -> None:
    with run_after_commit():
        cancelled = send(client, "patch", f"/api/v1/crm/meetings/{meeting_id}", {"outcome": "cancelled"})
    assert cancelled.status_code == 200
    assert cancelled.json()["outcome"] == "cancelled"
    assert Meeting.objects.get(pk=meeting_id).calendar_write == CalendarWrite.CANCELLED


def _start_of(value: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))


@pytest.mark.usefixtures("connected_google")
def test_google_gets_the_event_with_the_contacts_invited_then_moved_then_cancelled(
    host: User, client: Client, google: GoogleEmulator, run_after_commit: Callable[[], Any]
) -> None:
    meeting_id = _create_update_cancel(client, host, run_after_commit)
    [event] = google.events(GOOGLE_EMAIL)
    assert event["id"] == Meeting.objects.get(pk=meeting_id).calendar_event_id
    assert event["summary"] == "Quarterly review"
    assert event["location"] == "https://meet.example.com/review"
    assert {a["email"] for a in event["attendees"]} >= {"aiko@example.com", "taro@example.com"}
    assert "They may churn" not in json.dumps(event)  # internal notes stay in Yoyaku

    new_start = _move(client, meeting_id, run_after_commit)
    [event] = google.events(GOOGLE_EMAIL)
    assert (event["summary"], _start_of(event["start"])) == ("Moved", new_start)

    _cancel(client, meeting_id, run_after_commit)
    assert google.events(GOOGLE_EMAIL) == []
    assert not invitations("REQUEST")  # Google invites the contacts itself


@pytest.mark.usefixtures("connected_microsoft")
def test_microsoft_gets_the_event_with_the_contacts_invited_then_moved_then_cancelled(
    host: User, client: Client, microsoft: MicrosoftEmulator, run_after_commit: Callable[[], Any]
) -> None:
    meeting_id = _create_update_cancel(client, host, run_after_commit)
    event_id = Meeting.objects.get(pk=meeting_id).calendar_event_id
    event = microsoft.event(event_id)
    assert event["subject"] == "Quarterly review"
    assert {a["emailAddress"]["address"] for a in event["attendees"]} >= {
        "aiko@example.com",
        "taro@example.com",
    }

    _move(client, meeting_id, run_after_commit)
    assert microsoft.event(event_id)["subject"] == "Moved"

    _cancel(client, meeting_id, run_after_commit)
    assert [e for e in microsoft.events() if e["id"] == event_id] == []
    assert not invitations("REQUEST")


def test_caldav_gets_the_event_and_the_contacts_get_imip_mail(
    host: User, client: Client, radicale: RadicaleServer, run_after_commit: Callable[[], Any]
) -> None:
    _connection, calendar = connect(host, radicale)

    meeting_id = _create_update_cancel(client, host, run_after_commit)
    [event] = [e for e in events_on(radicale, calendar) if not e.cancelled]
    assert event.title == "Quarterly review"
    [(message, ical)] = invitations("REQUEST")
    assert sorted(message.to) == ["aiko@example.com", "taro@example.com"]
    assert "They may churn" not in message.body
    [vevent] = ical.walk("VEVENT")
    assert str(vevent["UID"]) == f"yoyaku-meeting-{meeting_id}"

    new_start = _move(client, meeting_id, run_after_commit)
    [event] = [e for e in events_on(radicale, calendar) if not e.cancelled]
    assert (event.title, event.start) == ("Moved", new_start)
    requests = invitations("REQUEST")
    assert len(requests) == 2
    assert int(requests[1][1].walk("VEVENT")[0]["SEQUENCE"]) > int(vevent.get("SEQUENCE", 0))

    _cancel(client, meeting_id, run_after_commit)
    assert [e for e in events_on(radicale, calendar) if not e.cancelled] == []
    [(cancel_message, _ical)] = invitations("CANCEL")
    assert sorted(cancel_message.to) == ["aiko@example.com", "taro@example.com"]


@pytest.mark.usefixtures("connected_microsoft")
def test_a_failing_calendar_write_stays_pending_and_reaches_the_calendar_once_when_it_clears(
    host: User, client: Client, microsoft: MicrosoftEmulator, run_after_commit: Callable[[], Any]
) -> None:
    from yoyaku.calendar_sync.models import CalendarOutboxEntry

    microsoft.faults.add(status=503, path_contains="/events", method="POST", count=100)
    aiko = contact(host)
    with run_after_commit():
        made = send(client, "post", f"/api/v1/crm/contacts/{aiko.pk}/meetings", meeting_body())

    assert made.status_code == 201  # the meeting stands whatever the calendar does
    meeting = Meeting.objects.get()
    assert meeting.calendar_write == CalendarWrite.PENDING
    assert meeting.calendar_error and meeting.calendar_attempts >= 1
    assert microsoft.events() == []
    entry = CalendarOutboxEntry.objects.get(target="meeting", target_id=str(meeting.pk))
    assert entry.run_after == meeting.calendar_retry_at
    assert run_calendar_writes() == 0  # it waits for its retry time

    microsoft.faults.clear()
    assert run_calendar_writes(at=meeting.calendar_retry_at) == 1
    assert run_calendar_writes(at=meeting.calendar_retry_at) == 0  # nothing left to do

    meeting.refresh_from_db()
    assert (meeting.calendar_write, meeting.calendar_error) == (CalendarWrite.WRITTEN, "")
    [event] = microsoft.events()
    assert event["id"] == meeting.calendar_event_id


def test_a_given_up_write_is_retried_now_from_the_meeting_page(host: User, radicale: RadicaleServer) -> None:
    connection, calendar = connect(host, radicale)
    start = berlin(future_day(), 10)
    meeting = log_meeting(
        workspace=host.workspace,
        title="Retry me",
        start=start,
        end=start + timedelta(hours=1),
        source="crm",
        contacts=[contact(host)],
        hosts=[host],
    )
    Meeting.objects.filter(pk=meeting.pk).update(
        calendar_connection=connection,
        calendar_write=CalendarWrite.FAILED,
        calendar_error="503 from the server",
    )
    page = Client()
    page.force_login(host)

    log = page.get("/crm/meetings/").content.decode()
    shown = page.get(f"/crm/meetings/{meeting.pk}/").content.decode()
    retried = page.post(f"/crm/meetings/{meeting.pk}/calendar-retry/", follow=True).content.decode()

    assert "Calendar problems" in log and "Retry me" in log
    assert "503 from the server" in shown and "Retry now" in shown
    assert "Trying again now: this page shows the result in a moment." in retried
    assert run_calendar_writes() == 1  # the worker
    assert [e.title for e in events_on(radicale, calendar)] == ["Retry me"]
    assert Meeting.objects.get(pk=meeting.pk).calendar_write == CalendarWrite.WRITTEN


def test_control_characters_and_impossible_dates_are_refused_not_stored(host: User, client: Client) -> None:
    aiko = contact(host)

    nul_name = send(
        client, "post", "/api/v1/crm/contacts", {"email": "x@example.com", "first_name": "A\u0000"}
    )
    nul_property = send(client, "patch", f"/api/v1/crm/contacts/{aiko.pk}", {"properties": {"k": "v\u0000"}})
    ancient = send(
        client,
        "post",
        f"/api/v1/crm/contacts/{aiko.pk}/meetings",
        meeting_body(start="0001-01-01T00:00:00+14:00", end="0001-01-01T01:00:00+14:00"),
    )
    nul_notes = send(
        client, "post", f"/api/v1/crm/contacts/{aiko.pk}/meetings", meeting_body(internal_notes="\u0000")
    )

    assert (nul_name.status_code, list(nul_name.json()["errors"])) == (422, ["first_name"])
    assert (nul_property.status_code, list(nul_property.json()["errors"])) == (422, ["properties.k"])
    assert ancient.status_code == 422 and set(ancient.json()["errors"]) == {"start", "end"}
    assert (nul_notes.status_code, list(nul_notes.json()["errors"])) == (422, ["internal_notes"])
    assert Contact.objects.count() == 1 and not Meeting.objects.exists()
    aiko.refresh_from_db()
    assert aiko.properties == {}


def test_a_calendar_to_reconnect_holds_the_write_until_it_is_reconnected(
    host: User, client: Client, radicale: RadicaleServer, run_after_commit: Callable[[], Any]
) -> None:
    from yoyaku.calendar_sync.tasks import resume_calendar_writes

    connection, calendar = connect(host, radicale)
    CalendarConnection.objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.NEEDS_RECONNECT, status_message="Reconnect your calendar."
    )
    with run_after_commit():
        made = send(client, "post", f"/api/v1/crm/contacts/{contact(host).pk}/meetings", meeting_body())

    meeting = Meeting.objects.get(pk=made.json()["id"])
    assert (meeting.calendar_write, meeting.calendar_attempts) == (CalendarWrite.PENDING, 0)
    assert meeting.calendar_error == "Reconnect your calendar."
    assert run_calendar_writes(at=timezone.now() + timedelta(days=1)) == 0  # nothing to try until then
    assert events_on(radicale, calendar) == []

    CalendarConnection.objects.filter(pk=connection.pk).update(status=ConnectionStatus.OK, status_message="")
    resume_calendar_writes.call_local(host.pk)  # what reconnecting runs

    meeting.refresh_from_db()
    assert meeting.calendar_write == CalendarWrite.WRITTEN
    assert [e.title for e in events_on(radicale, calendar)] == [meeting.title]
