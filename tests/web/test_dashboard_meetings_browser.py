"""The dashboard's Reschedule form and Cancel in headless Chromium against the live server, with the host's
CalDAV calendar on a real Radicale: a taken time is refused, a free one moves the meeting on the page and
on the calendar, and Cancel asks first, then takes it off both.

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
from tests.factories import make_host, make_link
from tests.scheduling.helpers import add_event, connect, events_on
from tests.web.test_host_pages_browser import new_page, sign_in
from yoyaku.accounts.connections import refresh_calendars
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite
from yoyaku.scheduling.services import book_meeting

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(hour: int) -> datetime:
    day = timezone.now().astimezone(TOKYO).date() + timedelta(days=3)
    return datetime.combine(day, time(hour), TOKYO)


def picker(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_reschedule_to_a_free_time_then_cancel_with_the_confirmation(
    browser: Any, live_server: Any, host_radicale: RadicaleServer, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone="Asia/Tokyo")
    connection, calendar = connect(host, host_radicale)
    refresh_calendars(user=host, connection_id=connection.pk)  # the list connecting keeps
    link = make_link(host, name="Intro call", durations=[30])
    booking = book_meeting(
        link=link,
        start=tokyo(10),
        duration=30,
        time_zone="Europe/Paris",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
    ).booking
    assert booking.calendar_write == CalendarWrite.WRITTEN
    add_event(host_radicale, calendar, start=tokyo(12), end=tokyo(13))  # the host's own dentist

    page = new_page(browser)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/dashboard/")
    row = page.locator(f"#meeting-{booking.pk}")
    expect(row.locator(".row-title")).to_contain_text("10:00\u201310:30")

    # The form is folded away until asked for, and opens on the meeting's time in the host's zone.
    move = row.locator("form.reschedule-form")
    expect(move).to_be_hidden()
    row.locator("summary", has_text="Reschedule").click()
    expect(move).to_be_visible()
    start = move.get_by_label("New start (Asia/Tokyo)")
    expect(start).to_have_value(picker(tokyo(10)))
    page.screenshot(path=str(shots / "host-dashboard-reschedule-open-en.png"), full_page=True)

    # A time the host's calendar has taken is refused with the reason; nothing moves.
    start.fill(picker(tokyo(12)))
    move.get_by_role("button", name="Move meeting").click()
    expect(page.locator(".message.error")).to_contain_text("That time is not free")
    booking.refresh_from_db()
    assert booking.start == tokyo(10)

    # A free one moves it on the page and on the calendar.
    row.locator("summary", has_text="Reschedule").click()
    move.get_by_label("New start (Asia/Tokyo)").fill(picker(tokyo(14)))
    move.get_by_role("button", name="Move meeting").click()
    expect(page.locator(".message.success")).to_contain_text("The meeting was moved to")
    expect(page.locator(".message.success")).to_contain_text("14:00\u201314:30")
    expect(row.locator(".row-title")).to_contain_text("14:00\u201314:30")
    booking.refresh_from_db()
    assert (booking.start, booking.calendar_write) == (tokyo(14), CalendarWrite.WRITTEN)
    [event] = [e for e in events_on(host_radicale, calendar) if e.uid == f"yoyaku-{booking.pk}"]
    assert (event.start, event.end) == (tokyo(14), tokyo(14) + timedelta(minutes=30))
    page.screenshot(path=str(shots / "host-dashboard-rescheduled-en.png"), full_page=True)

    # Cancel asks first: dismissing the question changes nothing.
    questions: list[str] = []

    def answer(dialog: Any) -> None:
        questions.append(dialog.message)
        if len(questions) == 1:
            dialog.dismiss()
        else:
            dialog.accept()

    page.on("dialog", answer)
    cancel = row.get_by_role("button", name="Cancel meeting Aiko Sato")
    cancel.click()
    expect(row).to_be_visible()
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED

    cancel.click()
    expect(page.locator(".message.success")).to_have_text("The meeting is cancelled.")
    assert (
        questions
        == [
            "Cancel this meeting? The booker is told and the time becomes free again.",
        ]
        * 2
    )
    expect(page.locator(f"#meeting-{booking.pk}")).to_have_count(0)
    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.CANCELLED)
    [event] = [e for e in events_on(host_radicale, calendar) if e.uid == f"yoyaku-{booking.pk}"]
    assert event.cancelled
    page.screenshot(path=str(shots / "host-dashboard-cancelled-en.png"), full_page=True)
