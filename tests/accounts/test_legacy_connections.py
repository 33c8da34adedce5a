"""An account from before the one-calendar rule, holding its two connections end to end: CalDAV
(Radicale) for the meetings tool and Google (the emulator) for calendar settings.

The rule (accounts/selectors.py): the "meetings" connection serves the scheduling pages (busy time for
availability, the fresh read at booking, the booked meetings' events); the "calendar settings" one
serves calendar sync with the CRM and the meetings made in the CRM. The product's help article says
only that such accounts may keep one account connected to calendar settings and one to meeting
settings; it does not say that the calendar-settings account blocks the pages' times, so it does not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import lxml.html
import pytest
from django.core import mail
from django.test import Client

from tests.emulators.google import GoogleEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, send_queued_mail, sync_now
from tests.providers import GOOGLE_EMAIL, store_oauth
from tests.scheduling.helpers import NOW, add_event, berlin, book, connect, events_on
from yoyaku.accounts.models import CalendarConnection, ConnectionPurpose, ConnectionStatus, User
from yoyaku.accounts.notifications import send_reconnect_notice
from yoyaku.accounts.selectors import crm_connection, meetings_connection
from yoyaku.crm.services import create_contact, create_crm_meeting
from yoyaku.scheduling.models import CalendarWrite, MeetingLink
from yoyaku.scheduling.selectors import available_slots
from yoyaku.scheduling.services import SlotUnavailable

pytestmark = [pytest.mark.django_db]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def google_event(google: GoogleEmulator, *, start: datetime, summary: str = "Board meeting") -> None:
    google.add_event(
        GOOGLE_EMAIL,
        {
            "summary": summary,
            "start": {"dateTime": rfc3339(start)},
            "end": {"dateTime": rfc3339(start + timedelta(hours=1))},
        },
    )


class Legacy:
    def __init__(self, user: User, caldav: CalendarConnection, calendar: str, google: CalendarConnection):
        self.user, self.caldav, self.calendar, self.google = user, caldav, calendar, google


@pytest.fixture
def legacy(radicale: RadicaleServer, google: GoogleEmulator) -> Legacy:
    user = make_host("kenji")
    User.objects.filter(pk=user.pk).update(date_joined=datetime(2022, 5, 1, tzinfo=UTC))
    user.refresh_from_db()
    caldav, calendar = connect(user, radicale, sync=False)
    settings_connection = store_oauth(
        user=user,
        provider="google",
        issued=google.issue_tokens(GOOGLE_EMAIL),
        email=GOOGLE_EMAIL,
        purpose=ConnectionPurpose.CALENDAR_SETTINGS,
    )
    assert (caldav.purpose, settings_connection.purpose) == ("meetings", "calendar_settings")
    return Legacy(user, caldav, calendar, settings_connection)


def offered(link: MeetingLink, start: datetime) -> bool:
    result = available_slots(
        link=link,
        start=start - timedelta(hours=1),
        end=start + timedelta(hours=1),
        time_zone="UTC",
        duration=30,
        now=NOW,
    )
    return any(slot == start for slots in result.slots.values() for slot in slots)


def test_the_pages_and_the_crm_each_pick_their_own_connection(legacy: Legacy) -> None:
    assert meetings_connection(user=legacy.user) == legacy.caldav
    assert crm_connection(user=legacy.user) == legacy.google


def test_pages_block_only_the_meetings_calendars_events(
    legacy: Legacy, radicale: RadicaleServer, google: GoogleEmulator
) -> None:
    link = make_link(legacy.user)
    add_event(radicale, legacy.calendar, start=berlin(10), end=berlin(11))
    google_event(google, start=berlin(13))
    sync_now(legacy.caldav)
    sync_now(legacy.google)  # synced all the same (for the CRM), yet it blocks nothing on the pages

    assert not offered(link, berlin(10))
    assert offered(link, berlin(13))
    assert offered(link, berlin(15))


def test_the_fresh_read_at_booking_asks_only_the_meetings_calendar(
    legacy: Legacy, radicale: RadicaleServer, google: GoogleEmulator
) -> None:
    link = make_link(legacy.user)
    sync_now(legacy.caldav)
    # Both appear after the last sync: only the booking's fresh read can see them.
    add_event(radicale, legacy.calendar, start=berlin(10), end=berlin(11))
    google_event(google, start=berlin(14))

    with pytest.raises(SlotUnavailable):
        book(link, berlin(10))
    outcome = book(link, berlin(14))
    assert outcome.created


def test_a_booking_lands_on_the_meetings_calendar_and_a_crm_meeting_on_the_settings_one(
    legacy: Legacy,
    radicale: RadicaleServer,
    google: GoogleEmulator,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    link = make_link(legacy.user)
    sync_now(legacy.caldav)
    before = {e["id"] for e in google.events(GOOGLE_EMAIL)}

    booking = book(link, berlin(10)).booking
    [event] = events_on(radicale, legacy.calendar)
    assert event.id == booking.calendar_event_id
    assert {e["id"] for e in google.events(GOOGLE_EMAIL)} == before

    contact = create_contact(workspace=legacy.user.workspace, email="taro@example.com", first_name="Taro")
    with django_capture_on_commit_callbacks(execute=True):
        meeting = create_crm_meeting(
            host=legacy.user, contacts=[contact], title="Renewal", start=berlin(15), end=berlin(16)
        )
    meeting.refresh_from_db()
    assert meeting.calendar_connection == legacy.google
    assert meeting.calendar_write == CalendarWrite.WRITTEN
    [written] = [e for e in google.events(GOOGLE_EMAIL) if e["id"] not in before]
    assert written["id"] == meeting.calendar_event_id and written["summary"] == "Renewal"
    assert [e.id for e in events_on(radicale, legacy.calendar)] == [event.id]


@pytest.mark.parametrize(
    ("language", "pages", "crm"),
    [
        ("en", "Scheduling pages: its events block times", "CRM: meetings you create in the CRM"),
        ("ja", "予約ページ", "CRMで作成したミーティング"),
    ],
)
def test_the_dashboard_shows_both_connections_and_what_each_is_for(
    legacy: Legacy, client: Client, language: str, pages: str, crm: str
) -> None:
    User.objects.filter(pk=legacy.user.pk).update(language=language)
    client.force_login(legacy.user)
    client.cookies["django_language"] = language
    page = lxml.html.fromstring(client.get("/dashboard/").content)

    def uses(connection: CalendarConnection) -> str:
        [panel] = page.xpath(f'//*[@id="connection-{connection.pk}"]//*[@class="connection-uses"]')
        return " ".join(panel.text_content().split())

    assert pages in uses(legacy.caldav) and crm not in uses(legacy.caldav)
    assert crm in uses(legacy.google) and pages not in uses(legacy.google)
    assert page.xpath('//*[contains(@class, "two-connections-note")]')


def test_the_reconnect_mail_of_the_settings_connection_says_the_pages_keep_working(legacy: Legacy) -> None:
    CalendarConnection.objects.filter(pk=legacy.google.pk).update(status=ConnectionStatus.NEEDS_RECONNECT)
    send_reconnect_notice(connection_id=legacy.google.pk)
    send_queued_mail()
    [message] = mail.outbox
    assert "meetings you create in the CRM are not added" in message.body
    assert "offer no times" not in message.body

    mail.outbox.clear()
    CalendarConnection.objects.filter(pk=legacy.caldav.pk).update(status=ConnectionStatus.NEEDS_RECONNECT)
    send_reconnect_notice(connection_id=legacy.caldav.pk)
    send_queued_mail()
    [message] = mail.outbox
    assert "offer no times" in message.body


def test_one_connection_serves_everything(legacy: Legacy) -> None:
    # What is left after the account gives one up: the remaining connection serves both.
    legacy.caldav.delete()
    assert meetings_connection(user=legacy.user) == legacy.google
    assert crm_connection(user=legacy.user) == legacy.google
