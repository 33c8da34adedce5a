"""The dashboard's meeting actions in headless Chromium against the live server, with the host's CalDAV
calendar on a real Radicale: Reschedule shows the meeting's free times in the page (a time the calendar
has taken is not among them) and moves the meeting on the page and on the calendar; Cancel asks in a
dialog of the page, takes a reason, and the contact's mail quotes it. Meeting requests: the host confirms
one and declines another with a message.

Screenshots go to YOYAKU_SCREENSHOT_DIR when set (else the test's temporary folder).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, send_queued_mail, sync_now
from tests.scheduling.helpers import add_event, connect, events_on
from tests.web.test_host_pages_browser import new_page, sign_in
from yoyaku.accounts.connections import refresh_calendars
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite
from yoyaku.scheduling.services import book_meeting, request_meeting

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(hour: int, days: int = 3) -> datetime:
    day = timezone.now().astimezone(TOKYO).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), TOKYO)


def test_reschedule_through_the_picker_then_cancel_with_a_reason(
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
    booking.refresh_from_db()  # written by the worker once the booking committed
    assert booking.calendar_write == CalendarWrite.WRITTEN
    add_event(host_radicale, calendar, start=tokyo(12), end=tokyo(13))  # the host's own dentist
    sync_now(connection)  # the picker reads what the sync stored

    page = new_page(browser)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/dashboard/")
    row = page.locator(f"#meeting-{booking.pk}")
    expect(row.locator(".row-title")).to_contain_text("10:00\u201310:30")

    # The picker is folded away until asked for; then it shows this meeting's free times in the page.
    move = row.locator("form.reschedule-form")
    expect(move).to_be_hidden()
    assert row.locator("a[target=_blank]").count() == 0, "no other tab for free times"
    row.locator("summary", has_text="Reschedule").click()
    expect(move).to_be_visible()
    picker = move.locator(".slot-picker")
    # The week shown starts today, so it holds the meeting's day (3 days ahead).
    meeting_day = picker.locator(".picker-day", has_text=tokyo(10).strftime("%a, %b %-d"))
    times = meeting_day.locator(".slot-button")
    expect(times.first).to_be_visible()
    labels = times.all_inner_texts()
    assert "09:00" in labels and "14:00" in labels
    assert "12:00" not in labels and "12:30" not in labels, "the calendar's event takes its time"
    assert "10:00" not in labels, "where the meeting already is"
    submit = move.get_by_role("button", name="Move meeting")
    expect(submit).to_be_disabled()
    meeting_day.get_by_role("button", name="14:00").click()
    expect(picker.locator(".picker-chosen")).to_contain_text("14:00")
    expect(submit).to_be_enabled()
    page.screenshot(path=str(shots / "host-dashboard-reschedule-picker-en.png"), full_page=True)

    submit.click()
    expect(page.locator(".message.success")).to_contain_text("The meeting was moved to")
    expect(row.locator(".row-title")).to_contain_text("14:00\u201314:30")
    booking.refresh_from_db()
    assert (booking.start, booking.calendar_write) == (tokyo(14), CalendarWrite.WRITTEN)
    [event] = [e for e in events_on(host_radicale, calendar) if e.uid == f"yoyaku-{booking.pk}"]
    assert (event.start, event.end) == (tokyo(14), tokyo(14) + timedelta(minutes=30))

    # Cancel asks in the page, never with the browser's confirm box; "Keep meeting" changes nothing.
    browser_dialogs: list[str] = []
    page.on("dialog", lambda dialog: (browser_dialogs.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Cancel meeting Aiko Sato").click()
    dialog = page.locator(f"#cancel-dialog-{booking.pk}")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Message for the contact (optional)")).to_be_focused()
    dialog.get_by_role("button", name="Keep meeting").click()
    expect(dialog).to_be_hidden()
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.CONFIRMED

    row.get_by_role("button", name="Cancel meeting Aiko Sato").click()
    dialog.get_by_label("Message for the contact (optional)").fill("Something urgent came up, sorry.")
    page.screenshot(path=str(shots / "host-dashboard-cancel-dialog-en.png"), full_page=True)
    send_queued_mail()
    mail.outbox.clear()
    dialog.get_by_role("button", name="Cancel meeting").click()
    expect(page.locator(".message.success")).to_have_text("The meeting is cancelled.")
    assert browser_dialogs == []
    expect(page.locator(f"#meeting-{booking.pk}")).to_have_count(0)
    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.CANCELLED)
    assert booking.cancel_reason == "Something urgent came up, sorry."
    [event] = [e for e in events_on(host_radicale, calendar) if e.uid == f"yoyaku-{booking.pk}"]
    assert event.cancelled
    send_queued_mail()
    [cancellation] = [m for m in mail.outbox if m.to == ["aiko@example.com"]]
    assert "Something urgent came up, sorry." in cancellation.body
    page.screenshot(path=str(shots / "host-dashboard-cancelled-en.png"), full_page=True)


def test_the_host_confirms_one_request_and_declines_another(
    browser: Any, live_server: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone="Asia/Tokyo")  # no calendar: bookings are requests
    link = make_link(host, name="Consultation", durations=[30])
    timed = book_meeting(
        link=link,
        start=tokyo(10),
        duration=30,
        time_zone="Europe/Paris",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
    ).booking
    untimed = request_meeting(
        link=link,
        time_zone="America/New_York",
        first_name="Ken",
        last_name="Mori",
        email="ken@example.com",
        message="Any afternoon next week works for me.",
    ).booking
    assert (timed.status, untimed.status) == (BookingStatus.REQUESTED, BookingStatus.REQUESTED)

    page = new_page(browser)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/dashboard/")
    requests = page.locator("section[aria-labelledby=requests-title]")
    expect(requests).to_contain_text("held for 48 hours")
    page.screenshot(path=str(shots / "host-dashboard-requests-en.png"), full_page=True)

    # Ken asked without a time: the host picks one of the page's free times and confirms.
    ken = requests.locator(".request", has_text="Ken Mori")
    ken.locator("summary", has_text="Pick a time and confirm").click()
    week = ken.locator(".slot-picker")
    expect(week.locator(".picker-range")).not_to_be_empty()
    week.get_by_role("button", name="Next week").click()
    expect(week.locator(".picker-range")).to_contain_text(tokyo(15, days=7).strftime("%a, %b %-d"))
    slot = week.locator(".picker-day", has_text=tokyo(15, days=7).strftime("%a, %b %-d")).get_by_role(
        "button", name="15:00"
    )
    slot.click()
    ken.get_by_role("button", name="Confirm this time").click()
    expect(page.locator(".message.success")).to_contain_text("Confirmed: Ken")
    untimed.refresh_from_db()
    assert (untimed.status, untimed.start) == (BookingStatus.CONFIRMED, tokyo(15, days=7))

    # Aiko's request is declined with a message, asked in a dialog of the page.
    aiko = requests.locator(".request", has_text="Aiko Sato")
    aiko.get_by_role("button", name="Decline Aiko Sato").click()
    dialog = page.locator(f"#decline-dialog-{timed.pk}")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Message for the contact (optional)").fill("I am away that week, sorry.")
    page.screenshot(path=str(shots / "host-dashboard-decline-dialog-en.png"), full_page=True)
    send_queued_mail()
    mail.outbox.clear()
    dialog.get_by_role("button", name="Decline request").click()
    expect(page.locator(".message.success")).to_contain_text("Declined. Aiko is told by email.")
    timed.refresh_from_db()
    assert timed.status == BookingStatus.CANCELLED
    send_queued_mail()
    [notice] = [m for m in mail.outbox if m.to == ["aiko@example.com"]]
    assert "I am away that week, sorry." in notice.body
    expect(page.locator("section[aria-labelledby=requests-title] .request")).to_have_count(0)
    expect(page.locator(f"#meeting-{untimed.pk}")).to_contain_text("15:00")
    page.screenshot(path=str(shots / "host-dashboard-requests-answered-en.png"), full_page=True)

    # The same page in Japanese: the picker's dates and every action.
    page.context.add_cookies([{"name": "django_language", "value": "ja", "url": live_server.url}])
    page.goto(f"{live_server.url}/dashboard/")
    row = page.locator(f"#meeting-{untimed.pk}")
    row.locator("summary", has_text="日時を変更").click()
    expect(row.locator(".picker-day-label").first).to_contain_text("月")
    expect(row.get_by_role("button", name="日時を変更する")).to_be_disabled()
    expect(page.locator("#past-title")).to_have_text("過去のミーティング")
    page.screenshot(path=str(shots / "host-dashboard-picker-ja.png"), full_page=True)
