"""The dashboard in headless Chromium after the host changed booked events in their Google calendar
(the emulator): a move onto another meeting shows as a conflict, a booker's decline shows on that
meeting, a deleted event shows as cancelled on the calendar; in English and in Japanese.

Screenshots go to YOYAKU_SCREENSHOT_DIR when set (else the test's temporary folder).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.emulators.google import GoogleEmulator
from tests.factories import make_host, make_link, run_calendar_writes, sync_now
from tests.providers import GOOGLE_EMAIL, store_oauth
from tests.web.test_host_pages_browser import new_page, sign_in
from yoyaku.accounts.models import User
from yoyaku.scheduling.models import Booking, CalendarWrite
from yoyaku.scheduling.services import book_meeting

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(hour: int) -> datetime:
    day = timezone.now().astimezone(TOKYO).date() + timedelta(days=3)
    return datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO)


def google_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).isoformat().replace("+00:00", "Z")}


def book(host: User, start: datetime, first_name: str, last_name: str, email: str) -> Booking:
    booking = book_meeting(
        link=host.owned_links.get(),
        start=start,
        duration=30,
        time_zone="Asia/Tokyo",
        first_name=first_name,
        last_name=last_name,
        email=email,
    ).booking
    run_calendar_writes()
    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    return booking


def test_the_dashboard_shows_a_conflict_a_decline_and_a_cancellation_from_the_calendar(
    browser: Any, live_server: Any, google: GoogleEmulator, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone="Asia/Tokyo")
    make_link(host, name="Intro call", durations=[30])
    connection = store_oauth(
        user=host, provider="google", issued=google.issue_tokens(GOOGLE_EMAIL), email=GOOGLE_EMAIL
    )
    sync_now(connection)
    moved = book(host, tokyo(10), "Aiko", "Sato", "aiko@example.com")
    declined = book(host, tokyo(14), "Ken", "Tanaka", "ken@example.com")
    deleted = book(host, tokyo(16), "Mio", "Yamada", "mio@example.com")
    sync_now(connection)
    # In the host's calendar: the 10:00 meeting dragged onto 14:00, Ken declines, Mio's deleted.
    google.update_event(
        GOOGLE_EMAIL,
        moved.calendar_event_id,
        {"start": google_time(tokyo(14)), "end": google_time(tokyo(14) + timedelta(minutes=30))},
    )
    google.update_event(
        GOOGLE_EMAIL,
        declined.calendar_event_id,
        {"attendees": [{"email": "ken@example.com", "responseStatus": "declined"}]},
    )
    google.delete_event(GOOGLE_EMAIL, deleted.calendar_event_id)
    sync_now(connection)

    page = new_page(browser)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/dashboard/")
    conflict = page.locator(f"#meeting-{moved.pk} .calendar-conflict")
    expect(conflict).to_contain_text("collides with your meeting with Ken Tanaka")
    expect(page.locator(f"#meeting-{moved.pk} .row-title")).to_contain_text("10:00")
    expect(page.locator(f"#meeting-{declined.pk} .booker-declined")).to_contain_text(
        "Ken Tanaka declined the invitation"
    )
    expect(page.locator(f"#calendar-cancelled-{deleted.pk}")).to_contain_text("Mio Yamada")
    page.screenshot(path=str(shots / "dashboard-calendar-changes.png"), full_page=True)

    page.get_by_role("button", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator(f"#meeting-{moved.pk} .calendar-conflict")).to_contain_text("二重予約を防ぐため")
    expect(page.locator(f"#meeting-{declined.pk} .booker-declined")).to_contain_text(
        "Tanaka Ken さんがカレンダーで招待を辞退しました"
    )
    page.screenshot(path=str(shots / "dashboard-calendar-changes-ja.png"), full_page=True)
