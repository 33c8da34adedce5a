"""Calendar events with the workspace's contacts are logged in the CRM and follow the calendar, on the
Google and Microsoft emulators and a real CalDAV server (Radicale), through the sync as it runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from django.utils import timezone

from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_workspace, sync_now
from tests.providers import GOOGLE_EMAIL
from tests.scheduling.helpers import connect
from yoyaku.accounts.models import CalendarConnection, CalendarLogScope, User
from yoyaku.crm.models import CalendarEventLink, Contact, Meeting, MeetingAssociation
from yoyaku.crm.services import create_contact, update_crm_meeting
from yoyaku.emulators.microsoft import graph_time

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def host() -> User:
    return make_host()


@pytest.fixture
def aiko(host: User) -> Contact:
    return create_contact(workspace=host.workspace, email="Aiko@Example.com", first_name="Aiko")


def day_at(hour: int, *, days: int = 3) -> datetime:
    base = (timezone.now() + timedelta(days=days)).astimezone(UTC)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def logged() -> list[Meeting]:
    return list(Meeting.objects.filter(source="calendar").order_by("start", "pk"))


def responses(meeting: Meeting) -> dict[str, str]:
    rows = MeetingAssociation.objects.filter(meeting=meeting).select_related("contact")
    return {row.contact.email.lower(): row.response for row in rows}


def google_event(title: str, start: datetime, end: datetime, *people: tuple[str, str]) -> dict[str, object]:
    return {
        "summary": title,
        "location": "Room 4",
        "start": {"dateTime": rfc3339(start)},
        "end": {"dateTime": rfc3339(end)},
        "attendees": [{"email": email, "responseStatus": answer} for email, answer in people],
    }


# -- Google ---------------------------------------------------------------------------------------


def test_google_event_with_a_contact_is_logged_and_follows_the_calendar(
    connected_google: GoogleEmulator, host: User, aiko: Contact
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    event = connected_google.add_event(
        GOOGLE_EMAIL,
        google_event("Pricing call", day_at(10), day_at(11), ("aiko@example.com", "tentative")),
    )
    sync_now(connection)

    [meeting] = logged()
    assert (meeting.title, meeting.start, meeting.end, meeting.location) == (
        "Pricing call",
        day_at(10),
        day_at(11),
        "Room 4",
    )
    assert list(meeting.hosts.all()) == [host]
    assert responses(meeting) == {"aiko@example.com": "tentative"}
    link = CalendarEventLink.objects.get(meeting=meeting)
    assert (link.connection, link.event_id, link.linked) == (connection, event["id"], True)

    # Notes and outcome are the CRM's: a later sync keeps them.
    update_crm_meeting(meeting=meeting, internal_notes="Wants the annual plan.", outcome="completed")
    connected_google.update_event(
        GOOGLE_EMAIL,
        event["id"],
        {
            "summary": "Pricing call (moved)",
            "start": {"dateTime": rfc3339(day_at(14))},
            "end": {"dateTime": rfc3339(day_at(15))},
            "attendees": [{"email": "aiko@example.com", "responseStatus": "accepted"}],
        },
    )
    sync_now(connection)

    meeting.refresh_from_db()
    assert (meeting.title, meeting.start, meeting.end) == ("Pricing call (moved)", day_at(14), day_at(15))
    assert (meeting.internal_notes, meeting.outcome) == ("Wants the annual plan.", "completed")
    assert responses(meeting) == {"aiko@example.com": "accepted"}
    assert len(logged()) == 1


def test_google_contact_taken_off_the_event_unlinks_the_meeting_and_keeps_it(
    connected_google: GoogleEmulator, host: User, aiko: Contact
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    event = connected_google.add_event(
        GOOGLE_EMAIL, google_event("Demo", day_at(10), day_at(11), ("aiko@example.com", "accepted"))
    )
    sync_now(connection)
    [meeting] = logged()

    connected_google.update_event(
        GOOGLE_EMAIL, event["id"], {"attendees": [{"email": "someone@else.example"}], "summary": "Internal"}
    )
    sync_now(connection)

    meeting.refresh_from_db()
    assert meeting.title == "Demo"  # no longer follows the event
    assert meeting.outcome == "scheduled"
    assert responses(meeting) == {"aiko@example.com": "accepted"}
    assert not CalendarEventLink.objects.get(meeting=meeting).linked

    # A later change of the event leaves the unlinked meeting alone.
    connected_google.update_event(
        GOOGLE_EMAIL,
        event["id"],
        {"start": {"dateTime": rfc3339(day_at(16))}, "end": {"dateTime": rfc3339(day_at(17))}},
    )
    sync_now(connection)
    meeting.refresh_from_db()
    assert meeting.start == day_at(10)


def test_google_event_deleted_or_cancelled_cancels_the_meeting(
    connected_google: GoogleEmulator, host: User, aiko: Contact
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    deleted = connected_google.add_event(
        GOOGLE_EMAIL, google_event("One", day_at(9), day_at(10), ("aiko@example.com", "accepted"))
    )
    cancelled = connected_google.add_event(
        GOOGLE_EMAIL, google_event("Two", day_at(12), day_at(13), ("aiko@example.com", "accepted"))
    )
    sync_now(connection)
    assert [m.outcome for m in logged()] == ["scheduled", "scheduled"]

    connected_google.delete_event(GOOGLE_EMAIL, deleted["id"])
    connected_google.update_event(GOOGLE_EMAIL, cancelled["id"], {"status": "cancelled"})
    sync_now(connection)

    assert [(m.title, m.outcome) for m in logged()] == [("One", "cancelled"), ("Two", "cancelled")]


def test_google_full_resync_keeps_links(connected_google: GoogleEmulator, host: User, aiko: Contact) -> None:
    connection = CalendarConnection.objects.get(user=host)
    connected_google.add_event(
        GOOGLE_EMAIL, google_event("Kept", day_at(9), day_at(10), ("aiko@example.com", "accepted"))
    )
    gone = connected_google.add_event(
        GOOGLE_EMAIL, google_event("Gone", day_at(12), day_at(13), ("aiko@example.com", "accepted"))
    )
    sync_now(connection)
    before = {m.title: m.pk for m in logged()}

    connected_google.expire_sync_tokens()
    connected_google.delete_event(GOOGLE_EMAIL, gone["id"])
    sync_now(connection)

    after = {m.title: (m.pk, m.outcome) for m in logged()}
    assert after == {"Kept": (before["Kept"], "scheduled"), "Gone": (before["Gone"], "cancelled")}
    assert CalendarEventLink.objects.filter(unlinked_at=None).count() == 2


def test_google_declined_invitation_is_not_logged(
    connected_google: GoogleEmulator, host: User, aiko: Contact
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    connected_google.add_event(
        GOOGLE_EMAIL,
        google_event(
            "Their webinar",
            day_at(9),
            day_at(10),
            ("aiko@example.com", "accepted"),
            (GOOGLE_EMAIL, "declined"),
        ),
    )
    connected_google.add_event(
        GOOGLE_EMAIL,
        {
            **google_event("Lunch", day_at(12), day_at(13), ("aiko@example.com", "accepted")),
            "transparency": "transparent",
        },
    )
    sync_now(connection)

    # A free (transparent) event is still a meeting; a declined one is not the host's.
    assert [m.title for m in logged()] == ["Lunch"]


def test_google_recurring_series_is_logged_only_up_to_the_bound(
    connected_google: GoogleEmulator, host: User, aiko: Contact, settings: object
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    connected_google.add_event(
        GOOGLE_EMAIL,
        {
            **google_event("Weekly", day_at(8), day_at(9), ("aiko@example.com", "accepted")),
            "start": {"dateTime": rfc3339(day_at(8)), "timeZone": "UTC"},
            "end": {"dateTime": rfc3339(day_at(9)), "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=52"],
        },
    )
    sync_now(connection)

    # YOYAKU_CRM_SERIES_DAYS_AHEAD is 30: instances 3, 10, 17, 24 days ahead; not a year of them.
    assert [m.start for m in logged()] == [day_at(8, days=3 + 7 * week) for week in range(4)]


def test_google_workspaces_never_cross(connected_google: GoogleEmulator, host: User) -> None:
    other = make_host("kenji", workspace=make_workspace())
    create_contact(workspace=other.workspace, email="aiko@example.com")
    connection = CalendarConnection.objects.get(user=host)
    connected_google.add_event(
        GOOGLE_EMAIL, google_event("Call", day_at(9), day_at(10), ("aiko@example.com", "accepted"))
    )
    sync_now(connection)

    assert logged() == []


def test_any_external_attendee_setting_creates_contacts(
    connected_google: GoogleEmulator, host: User, aiko: Contact
) -> None:
    colleague = make_host("kenji")
    workspace = host.workspace
    workspace.calendar_log_scope = CalendarLogScope.EXTERNAL
    workspace.save()
    connection = CalendarConnection.objects.get(user=host)
    connected_google.add_event(
        GOOGLE_EMAIL,
        {
            **google_event(
                "Kick-off",
                day_at(9),
                day_at(10),
                ("aiko@example.com", "accepted"),
                (colleague.email, "accepted"),
                (GOOGLE_EMAIL, "accepted"),
            ),
            "attendees": [
                {"email": "AIKO@example.com", "displayName": "Renamed Aiko", "responseStatus": "accepted"},
                {"email": colleague.email, "responseStatus": "accepted"},
                {"email": GOOGLE_EMAIL, "responseStatus": "accepted"},
                {"email": "ren@client.example", "displayName": "Ren Ito", "responseStatus": "needsAction"},
            ],
        },
    )
    sync_now(connection)

    [meeting] = logged()
    assert responses(meeting) == {"aiko@example.com": "accepted", "ren@client.example": "needs_action"}
    ren = Contact.objects.get(workspace=workspace, email="ren@client.example")
    assert ren.first_name == "Ren Ito"
    aiko.refresh_from_db()
    assert aiko.first_name == "Aiko"  # an existing contact is never renamed
    assert not Contact.objects.filter(email__in=[colleague.email, GOOGLE_EMAIL]).exists()


def test_only_contacts_by_default(connected_google: GoogleEmulator, host: User) -> None:
    connection = CalendarConnection.objects.get(user=host)
    connected_google.add_event(
        GOOGLE_EMAIL, google_event("Call", day_at(9), day_at(10), ("ren@client.example", "accepted"))
    )
    sync_now(connection)

    assert logged() == []
    assert not Contact.objects.exists()


# -- Microsoft 365 -------------------------------------------------------------------------------


def test_microsoft_event_with_a_contact_is_logged_updated_and_cancelled(
    connected_microsoft: MicrosoftEmulator, host: User, aiko: Contact
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    event_id = connected_microsoft.add_event(
        subject="Renewal",
        start=day_at(10),
        end=day_at(11),
        attendees=[("aiko@example.com", "tentativelyAccepted")],
    )
    sync_now(connection)
    [meeting] = logged()
    assert (meeting.title, meeting.start) == ("Renewal", day_at(10))
    assert responses(meeting) == {"aiko@example.com": "tentative"}

    update_crm_meeting(meeting=meeting, internal_notes="Budget in Q3.")
    connected_microsoft.update_event(event_id, start=graph_time(day_at(14)), end=graph_time(day_at(15)))
    sync_now(connection)
    meeting.refresh_from_db()
    assert (meeting.start, meeting.end, meeting.internal_notes) == (day_at(14), day_at(15), "Budget in Q3.")

    connected_microsoft.delete_event(event_id)
    sync_now(connection)
    meeting.refresh_from_db()
    assert meeting.outcome == "cancelled"


def test_microsoft_contact_removed_unlinks(
    connected_microsoft: MicrosoftEmulator, host: User, aiko: Contact
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    event_id = connected_microsoft.add_event(
        subject="Check-in", start=day_at(10), end=day_at(11), attendees=[("aiko@example.com", "accepted")]
    )
    sync_now(connection)
    connected_microsoft.update_event(event_id, attendees=[])
    sync_now(connection)

    [meeting] = logged()
    assert meeting.outcome == "scheduled"
    assert not CalendarEventLink.objects.get(meeting=meeting).linked


def test_microsoft_expired_delta_keeps_links(
    connected_microsoft: MicrosoftEmulator, host: User, aiko: Contact
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    connected_microsoft.add_event(
        subject="Check-in", start=day_at(10), end=day_at(11), attendees=[("aiko@example.com", "accepted")]
    )
    sync_now(connection)
    [before] = logged()
    connected_microsoft.expire_delta_tokens()
    sync_now(connection)

    [after] = logged()
    assert (after.pk, after.outcome) == (before.pk, "scheduled")
    assert CalendarEventLink.objects.get(meeting=after).linked


# -- CalDAV (Radicale) ---------------------------------------------------------------------------


def ical(
    uid: str, start: datetime, end: datetime, *attendees: tuple[str, str], title: str = "Visit"
) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Yoyaku tests//EN")
    calendar.add("VERSION", "2.0")
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", datetime.now(UTC))
    event.add("DTSTART", start)
    event.add("DTEND", end)
    event.add("SUMMARY", title)
    event.add("ORGANIZER", "mailto:hana@example.com")
    for email, partstat in attendees:
        event.add("ATTENDEE", f"mailto:{email}", parameters={"PARTSTAT": partstat})
    calendar.add_component(event)
    return calendar.to_ical()


def test_caldav_event_with_a_contact_is_logged_follows_and_is_cancelled(
    radicale: RadicaleServer, host: User, aiko: Contact
) -> None:
    connection, calendar = connect(host, radicale)
    uid = f"{uuid.uuid4()}@client.test"
    [url] = radicale.seed(calendar, [ical(uid, day_at(10), day_at(11), ("aiko@example.com", "NEEDS-ACTION"))])
    sync_now(connection)
    [meeting] = logged()
    assert (meeting.title, meeting.start) == ("Visit", day_at(10))
    assert responses(meeting) == {"aiko@example.com": "needs_action"}

    radicale.seed(
        calendar, [ical(uid, day_at(14), day_at(15), ("aiko@example.com", "ACCEPTED"), title="Site visit")]
    )
    sync_now(connection)
    meeting.refresh_from_db()
    assert (meeting.title, meeting.start) == ("Site visit", day_at(14))
    assert responses(meeting) == {"aiko@example.com": "accepted"}

    radicale.delete(url)
    sync_now(connection)
    meeting.refresh_from_db()
    assert meeting.outcome == "cancelled"


def test_caldav_contact_removed_unlinks(radicale: RadicaleServer, host: User, aiko: Contact) -> None:
    connection, calendar = connect(host, radicale)
    uid = f"{uuid.uuid4()}@client.test"
    radicale.seed(calendar, [ical(uid, day_at(10), day_at(11), ("aiko@example.com", "ACCEPTED"))])
    sync_now(connection)
    radicale.seed(calendar, [ical(uid, day_at(10), day_at(11), ("ren@client.example", "ACCEPTED"))])
    sync_now(connection)

    [meeting] = logged()
    assert meeting.outcome == "scheduled"
    assert not CalendarEventLink.objects.get(meeting=meeting).linked
