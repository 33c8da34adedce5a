"""Meetings logged from the calendar on the CRM pages and in the API: the source filter, the contact's
timeline, the meeting's page with the contacts' answers and whether it follows its event, edits of what
the calendar owns refused, and the workspace setting of which events are logged."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.crm.test_calendar_log_rules import AIKO, apply, caldav, event
from tests.factories import api_key_for, make_host
from tests.web.html import element, elements
from yoyaku.accounts.models import CalendarConnection, User, WorkspaceRole
from yoyaku.calendars.base import Attendee
from yoyaku.crm.models import Contact, Meeting
from yoyaku.crm.services import create_contact, log_meeting

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def aiko(host: User) -> Contact:
    return create_contact(workspace=host.workspace, email="aiko@example.com", first_name="Aiko")


@pytest.fixture
def connection(host: User) -> CalendarConnection:
    return caldav(host)


@pytest.fixture
def from_calendar(connection: CalendarConnection, aiko: Contact) -> Meeting:
    apply(connection, event("pricing", title="Pricing call", organizer="aiko@example.com"))
    return Meeting.objects.get(source="calendar")


def test_the_meeting_log_filters_by_source(
    host: User, client_in: Client, from_calendar: Meeting, aiko: Contact
) -> None:
    log_meeting(
        workspace=host.workspace,
        title="Made here",
        start=from_calendar.start,
        end=from_calendar.end,
        source="crm",
        contacts=[aiko],
        hosts=[host],
    )

    everything = client_in.get("/crm/meetings/").content.decode()
    calendar_only = client_in.get("/crm/meetings/?source=calendar").content.decode()

    assert "Made here" in everything and "Pricing call" in everything
    assert "Pricing call" in calendar_only and "Made here" not in calendar_only
    assert element(calendar_only, "option", value="calendar", selected="")
    assert element(calendar_only, "span", class_="row-sub calendar-source", data_following="1")


def test_the_contact_timeline_and_the_meeting_page_show_where_it_came_from(
    client_in: Client, from_calendar: Meeting, aiko: Contact
) -> None:
    timeline = client_in.get(f"/crm/contacts/{aiko.pk}/").content.decode()
    page = client_in.get(f"/crm/meetings/{from_calendar.pk}/").content.decode()

    assert "From the calendar" in timeline and "Pricing call" in timeline
    assert element(page, "p", class_="help calendar-link", data_following="1")
    # The contact organizes it: that is what the page says of their answer.
    assert element(page, "span", class_="row-sub attendee-response", data_response="accepted")
    assert "Organizer" in page
    # What the calendar owns is read-only here.
    assert "disabled" in element(page, "input", name="title")


def test_an_unlinked_meeting_says_it_no_longer_follows_and_can_be_edited(
    client_in: Client, connection: CalendarConnection, from_calendar: Meeting
) -> None:
    apply(connection, event("pricing", title="Pricing call", attendees=(Attendee(email="x@other.example"),)))

    page = client_in.get(f"/crm/meetings/{from_calendar.pk}/").content.decode()

    assert element(page, "p", class_="callout warn calendar-link", data_following="0")
    assert "disabled" not in element(page, "input", name="title")
    log = client_in.get("/crm/meetings/").content.decode()
    assert element(log, "span", class_="row-sub calendar-source", data_following="0")


def test_notes_and_outcome_are_saved_and_survive_the_next_sync(
    client_in: Client, connection: CalendarConnection, from_calendar: Meeting
) -> None:
    page = f"/crm/meetings/{from_calendar.pk}/"
    answer = client_in.post(
        page,
        {
            "title": "Hijacked",
            "start": "2030-01-01T10:00",
            "end": "2030-01-01T11:00",
            "location": "",
            "description": "",
            "internal_notes": "Send the quote.",
            "outcome": "completed",
        },
    )
    assert answer.status_code == 302

    apply(connection, event("pricing", title="Pricing call v2", attendees=(AIKO,)))

    from_calendar.refresh_from_db()
    assert (from_calendar.title, from_calendar.internal_notes, from_calendar.outcome) == (
        "Pricing call v2",
        "Send the quote.",
        "completed",
    )


def test_the_api_lists_calendar_meetings_with_answers_and_refuses_calendar_owned_edits(
    host: User, from_calendar: Meeting, aiko: Contact
) -> None:
    api = Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})

    [item] = api.get("/api/v1/crm/meetings?source=calendar").json()["items"]
    assert item["source"] == "calendar"
    assert item["calendar_event"] == {"event_id": "pricing", "following": True}
    assert item["contacts"] == [
        {"id": aiko.pk, "email": "aiko@example.com", "name": "Aiko", "response": "accepted"}
    ]
    assert api.get("/api/v1/crm/meetings?source=booking").json()["items"] == []

    refused = api.patch(
        f"/api/v1/crm/meetings/{from_calendar.pk}", {"title": "Mine now"}, content_type="application/json"
    )
    assert refused.status_code == 422
    assert "calendar" in refused.json()["errors"]["title"]
    cancelled = api.patch(
        f"/api/v1/crm/meetings/{from_calendar.pk}", {"outcome": "cancelled"}, content_type="application/json"
    )
    assert cancelled.status_code == 422
    noted = api.patch(
        f"/api/v1/crm/meetings/{from_calendar.pk}",
        {"internal_notes": "Hot lead"},
        content_type="application/json",
    )
    assert noted.status_code == 200 and noted.json()["internal_notes"] == "Hot lead"


def test_the_pages_speak_japanese(client_in: Client, from_calendar: Meeting) -> None:
    client_in.cookies["django_language"] = "ja"

    page = client_in.get(f"/crm/meetings/{from_calendar.pk}/").content.decode()
    log = client_in.get("/crm/meetings/").content.decode()

    assert "カレンダーから記録したミーティングです" in page
    assert "主催者" in page
    assert "記録元" in log and "カレンダーから" in log


def test_the_workspace_admin_chooses_which_events_are_logged(host: User) -> None:
    admin = make_host("aoi", role=WorkspaceRole.ADMIN)
    client = Client()
    client.force_login(admin)

    page = client.get("/settings/workspace/").content.decode()
    assert element(page, "input", name="scope", value="contacts", checked="")

    assert client.post("/settings/workspace/calendar-log/", {"scope": "external"}).status_code == 302
    admin.workspace.refresh_from_db()
    assert admin.workspace.calendar_log_scope == "external"
    page = client.get("/settings/workspace/").content.decode()
    assert element(page, "input", name="scope", value="external", checked="")

    client.post("/settings/workspace/calendar-log/", {"scope": "everyone"})
    admin.workspace.refresh_from_db()
    assert admin.workspace.calendar_log_scope == "external"

    member = Client()
    member.force_login(host)
    assert member.post("/settings/workspace/calendar-log/", {"scope": "contacts"}).status_code == 404
    admin.workspace.refresh_from_db()
    assert admin.workspace.calendar_log_scope == "external"
    assert not elements(member.get("/settings/workspace/").content.decode(), "input", name="scope")
