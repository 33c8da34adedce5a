"""Meetings made in the CRM follow their events on the host's calendar (Google, Graph, Radicale)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.connection_helpers import berlin, future_day
from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, run_calendar_writes, sync_now
from tests.providers import GOOGLE_EMAIL
from tests.scheduling.helpers import connect, invitations
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.crm.models import Contact, Meeting, MeetingOutcome
from yoyaku.crm.services import create_crm_meeting, update_crm_meeting
from yoyaku.scheduling.models import CalendarWrite

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    return make_host()


def on_calendar(host: User, *, start: datetime) -> Meeting:
    """A CRM meeting with two contacts, written to the host's calendar and synced back."""
    contacts = [
        Contact.objects.create(workspace=host.workspace, email=email, first_name=name)
        for email, name in (("aiko@example.com", "Aiko"), ("taro@example.com", "Taro"))
    ]
    meeting = create_crm_meeting(
        host=host,
        contacts=contacts,
        title="Quarterly review",
        start=start,
        end=start + timedelta(hours=1),
        location="Room 1",
        description="Numbers first.",
    )
    assert run_calendar_writes() == 1
    sync_now(CalendarConnection.objects.get(user=host))
    meeting.refresh_from_db()
    assert meeting.calendar_write == CalendarWrite.WRITTEN
    return meeting


def google_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).isoformat().replace("+00:00", "Z")}


@pytest.mark.usefixtures("connected_google")
def test_google_moves_edits_and_answers_follow(host: User, google: GoogleEmulator) -> None:
    day = future_day()
    meeting = on_calendar(host, start=berlin(day, 10))

    google.update_event(
        GOOGLE_EMAIL,
        meeting.calendar_event_id,
        {
            "start": google_time(berlin(day, 15)),
            "end": google_time(berlin(day, 16)),
            "summary": "Quarterly review (moved)",
            "location": "Room 2",
            "description": "Numbers last.",
            "attendees": [
                {"email": "aiko@example.com", "responseStatus": "accepted"},
                {"email": "taro@example.com", "responseStatus": "declined"},
            ],
        },
    )
    sync_now(CalendarConnection.objects.get(user=host))

    meeting.refresh_from_db()
    assert (meeting.start, meeting.end) == (berlin(day, 15), berlin(day, 16))
    assert (meeting.title, meeting.location, meeting.description) == (
        "Quarterly review (moved)",
        "Room 2",
        "Numbers last.",
    )
    assert meeting.outcome == MeetingOutcome.SCHEDULED
    assert meeting.calendar_write == CalendarWrite.WRITTEN, "nothing is written back"
    assert meeting.attendee_responses["aiko@example.com"] == "accepted"
    assert meeting.attendee_responses["taro@example.com"] == "declined"


@pytest.mark.usefixtures("connected_google")
def test_google_our_pending_edit_is_not_undone(host: User, google: GoogleEmulator) -> None:
    day = future_day()
    meeting = on_calendar(host, start=berlin(day, 10))
    # Edited in the CRM; the write waits (its task runs after commit, not in this test).
    update_crm_meeting(meeting=meeting, title="New title", start=berlin(day, 12), end=berlin(day, 13))
    google.update_event(GOOGLE_EMAIL, meeting.calendar_event_id, {"location": "Elsewhere"})

    sync_now(CalendarConnection.objects.get(user=host))

    meeting.refresh_from_db()
    assert (meeting.title, meeting.start, meeting.location) == ("New title", berlin(day, 12), "Room 1")
    assert meeting.calendar_write == CalendarWrite.PENDING


@pytest.mark.usefixtures("connected_microsoft")
def test_microsoft_a_deleted_event_cancels_the_meeting(host: User, microsoft: MicrosoftEmulator) -> None:
    meeting = on_calendar(host, start=berlin(future_day(), 10))

    microsoft.delete_event(meeting.calendar_event_id)
    sync_now(CalendarConnection.objects.get(user=host))

    meeting.refresh_from_db()
    assert meeting.outcome == MeetingOutcome.CANCELLED
    assert meeting.calendar_write == CalendarWrite.CANCELLED, "nothing is written back"


def test_caldav_a_deleted_event_cancels_the_meeting_and_mails_the_contacts(
    host: User, radicale: RadicaleServer, django_capture_on_commit_callbacks: Any
) -> None:
    _connection, url = connect(host, radicale)
    meeting = on_calendar(host, start=berlin(future_day(), 10))

    with httpx.Client(auth=(radicale.username, radicale.password), timeout=10.0) as client:
        assert client.delete(urljoin(url, meeting.calendar_event_id)).status_code in (200, 204)
    with django_capture_on_commit_callbacks(execute=True):
        sync_now(CalendarConnection.objects.get(user=host))

    meeting.refresh_from_db()
    assert meeting.outcome == MeetingOutcome.CANCELLED
    [(message, _cancel)] = invitations("CANCEL")
    assert sorted(message.to) == ["aiko@example.com", "taro@example.com"]


@pytest.mark.usefixtures("connected_microsoft")
def test_microsoft_a_description_edited_in_outlook_follows_as_text(
    host: User, microsoft: MicrosoftEmulator
) -> None:
    """Outlook keeps bodies as HTML; the sync asks Graph for text, as the CRM keeps descriptions."""
    meeting = on_calendar(host, start=berlin(future_day(), 10))
    long_text = "Numbers last. " + "Then the plan for next year, item by item. " * 10
    microsoft.update_event(
        meeting.calendar_event_id,
        body={
            "contentType": "html",
            "content": f"<html><head><style>p {{ margin: 0 }}</style></head><body><p>{long_text}</p>"
            "<p>Bring the <b>Q3</b> report &amp; the slides.</p></body></html>",
        },
    )
    sync_now(CalendarConnection.objects.get(user=host))

    meeting.refresh_from_db()
    assert len(long_text.strip()) > 255, "longer than the preview Graph also sends"
    assert meeting.description == f"{long_text.strip()}\nBring the Q3 report & the slides."
    assert meeting.calendar_write == CalendarWrite.WRITTEN, "nothing is written back"
