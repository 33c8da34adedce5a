"""The CRM in headless Chromium against the live server, with the host's CalDAV calendar on a real
Radicale: add a contact, open it, create a meeting with it, and see the meeting on the contact's
timeline, on the calendar and in the meeting log.

Screenshots go to YOYAKU_SCREENSHOT_DIR when set (else the test's temporary folder).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host
from tests.scheduling.helpers import connect, events_on, invitations
from tests.web.test_host_pages_browser import new_page, sign_in
from yoyaku.crm.models import Contact, Meeting
from yoyaku.scheduling.models import CalendarWrite

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(hour: int) -> datetime:
    day = timezone.now().astimezone(TOKYO).date() + timedelta(days=3)
    return datetime.combine(day, time(hour), TOKYO)


def test_create_a_contact_then_a_meeting_on_the_caldav_calendar_and_see_it_on_the_timeline(
    browser: Any, live_server: Any, host_radicale: RadicaleServer, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone="Asia/Tokyo")
    _connection, calendar = connect(host, host_radicale)
    page = new_page(browser)
    sign_in(page, live_server.url)

    page.goto(f"{live_server.url}/dashboard/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Add contact").click()
    page.get_by_label("Email address").fill("aiko@example.com")
    page.get_by_label("First name").fill("Aiko")
    page.get_by_label("Last name").fill("Sato")
    page.get_by_role("button", name="Add contact").click()
    expect(page.locator("h1")).to_have_text("Aiko Sato")
    contact = Contact.objects.get(email="aiko@example.com")
    assert page.url == f"{live_server.url}/crm/contacts/{contact.pk}/"

    page.get_by_role("link", name="Create meeting").click()
    expect(page.locator(".crm-calendar-note")).to_be_visible()  # a calendar Yoyaku may write to
    page.get_by_label("Title").fill("Kick-off")
    page.get_by_label("Start").fill(tokyo(10).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("End").fill(tokyo(11).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Location or video link").fill("https://meet.example.com/kick-off")
    page.get_by_label("Internal notes").fill("Decision maker: Aiko")
    page.get_by_role("button", name="Create meeting").click()

    page.wait_for_url(f"{live_server.url}/crm/contacts/{contact.pk}/")
    meeting = Meeting.objects.get()
    row = page.locator(f"#crm-meeting-{meeting.pk}")
    expect(row.locator(".row-title")).to_have_text("Kick-off")
    expect(row).to_contain_text("10:00\u201311:00")
    expect(row.locator(".calendar-state")).to_have_text("On the calendar, contacts invited")
    page.screenshot(path=str(shots / "crm-contact-page-en.png"), full_page=True)

    meeting.refresh_from_db()
    assert meeting.calendar_write == CalendarWrite.WRITTEN
    [event] = events_on(host_radicale, calendar)
    assert (event.title, event.start, event.end) == ("Kick-off", tokyo(10), tokyo(11))
    [(mail, _ical)] = invitations("REQUEST")
    assert mail.to == ["aiko@example.com"] and "Decision maker" not in mail.body

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Meeting log").click()
    expect(page.locator(f"#crm-meeting-{meeting.pk}")).to_contain_text("Aiko")
    page.screenshot(path=str(shots / "crm-meeting-log-en.png"), full_page=True)
