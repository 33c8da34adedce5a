"""The public booking page in headless Chromium against the live server.

Each flow ends with a screenshot; set YOYAKU_SCREENSHOT_DIR to keep them
(otherwise they go to the test's temporary folder).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from tests.factories import connect_caldav, make_host, make_link, send_queued_mail, sync_now
from yoyaku.calendar_sync.services import sync_connection_now
from yoyaku.crm.models import Contact, Meeting
from yoyaku.demo.calendar_data import demo_calendar_events
from yoyaku.demo.radicale import RadicaleServer, free_port
from yoyaku.scheduling.host_services import set_availability
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOST_ZONE = "Europe/Berlin"
WEEKDAYS_9_TO_5 = {str(d): [[9 * 60, 17 * 60]] for d in range(5)}


@pytest.fixture(scope="module")
def radicale_server() -> Iterator[RadicaleServer]:
    with RadicaleServer(users={"hana": "hana-secret"}) as server:
        yield server


def open_page(browser: Any, url: str, *, zone: str = "America/New_York", locale: str = "en-US") -> Any:
    context = browser.new_context(
        timezone_id=zone,
        locale=locale,
        viewport={"width": 1100, "height": 900},
        extra_http_headers={"Accept-Language": locale},
    )
    page = context.new_page()
    page.goto(url)
    return page


def slot_texts(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#slots button.slot").all_inner_texts()]


def local_time(iso: str, zone: str) -> str:
    """How Chromium's en-US Intl formats a time: "3:30 PM"."""
    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def fill_details(
    page: Any, *, first: str = "Gita", last: str = "Guest", email: str = "gita@example.org"
) -> None:
    page.fill("#f-first_name", first)
    page.fill("#f-last_name", last)
    page.fill("#f-email", email)


def test_pick_switch_zone_fill_and_book(
    browser: Any, live_server: Any, radicale_server: RadicaleServer, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone=HOST_ZONE, weekly=WEEKDAYS_9_TO_5)
    calendar_url = radicale_server.ensure_calendar("booking-page")
    today = datetime.now(ZoneInfo(HOST_ZONE)).date()
    radicale_server.seed(calendar_url, demo_calendar_events(time_zone=HOST_ZONE, today=today))
    sync_now(
        connect_caldav(
            host,
            server_url=radicale_server.url,
            calendar_url=calendar_url,
            username="hana",
            password="hana-secret",
        )
    )
    make_link(
        host,
        slug="intro",
        name="Intro call",
        durations=[15, 30, 60],
        location="https://meet.example.com/hana",
    )

    page = open_page(browser, f"{live_server.url}/m/intro")
    expect(page.locator("#step-pick")).to_be_visible()
    zone = page.locator("#tz-input")
    expect(zone).to_have_attribute("data-zone", "America/New_York")
    expect(zone).to_have_value(re.compile(r"America/New York \(GMT-[45]\) \(detected\)"))

    page.locator("label", has_text="60 minutes").click()
    expect(page.locator('input[name="duration"][value="60"]')).to_be_checked()
    day = page.locator("#days .day.open").first
    expect(day).to_be_visible()
    day.click()
    expect(day).to_have_attribute("aria-selected", "true")
    first_slot = page.locator("#slots button.slot").first
    expect(first_slot).to_be_visible()
    start_iso = first_slot.get_attribute("data-start")
    assert start_iso
    expect(first_slot).to_have_text(local_time(start_iso, "America/New_York"))
    new_york_times = slot_texts(page)
    page.screenshot(path=str(shots / "01-pick-new-york.png"), full_page=True)

    zone.fill("tokyo")
    expect(page.locator("#tz-list [role=option]")).to_have_count(1)
    zone.press("Enter")
    expect(zone).to_have_attribute("data-zone", "Asia/Tokyo")
    expect(page.locator("#slots button.slot").first).not_to_have_text(new_york_times[0])
    tokyo_slot = page.locator("#slots button.slot").first
    tokyo_iso = tokyo_slot.get_attribute("data-start")
    assert tokyo_iso
    expect(tokyo_slot).to_have_text(local_time(tokyo_iso, "Asia/Tokyo"))
    page.screenshot(path=str(shots / "02-pick-tokyo.png"), full_page=True)

    tokyo_slot.click()
    expect(page.locator("#details")).to_be_visible()
    expect(page.locator("#chosen")).to_contain_text("Tokyo")
    expect(page.locator("#summary-duration")).to_have_text("60 minutes")
    page.click("#submit")
    for field in ("first_name", "last_name", "email"):
        expect(page.locator(f"#err-{field}")).to_have_text("This field is required.")
        expect(page.locator(f"#f-{field}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-status")).to_contain_text("Some fields need fixing.")
    page.screenshot(path=str(shots / "03-required-errors.png"), full_page=True)

    fill_details(page, email="not-an-email")
    page.click("#submit")
    expect(page.locator("#err-email")).not_to_be_empty()
    fill_details(page)
    page.click("#submit")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#done-title")).to_have_text("You're booked")
    expect(page.locator("#done-body")).to_contain_text("Hana")
    expect(page.locator("#done-when")).to_contain_text("Tokyo")
    expect(page.locator("#done-email")).to_have_text("We've sent the details to gita@example.org.")
    page.screenshot(path=str(shots / "04-booked.png"), full_page=True)

    booking = Booking.objects.get()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.start == datetime.fromisoformat(tokyo_iso)
    assert (booking.end - booking.start).total_seconds() == 60 * 60  # type: ignore[operator]
    assert booking.time_zone == "Asia/Tokyo"
    assert booking.calendar_write == CalendarWrite.WRITTEN
    contact = Contact.objects.get(email="gita@example.org")
    assert (contact.first_name, contact.last_name, booking.contact_id) == ("Gita", "Guest", contact.pk)
    meeting = Meeting.objects.get(pk=booking.meeting_id)
    assert list(meeting.contacts.all()) == [contact]
    assert meeting.start == booking.start


def test_offline_page_takes_a_request(browser: Any, live_server: Any, shots: Path) -> None:
    from playwright.sync_api import expect

    host = make_host("ken", time_zone="Asia/Tokyo", weekly=WEEKDAYS_9_TO_5)
    make_link(host, slug="consult", name="Consultation", durations=[30])

    page = open_page(browser, f"{live_server.url}/m/consult", zone="Europe/London")
    expect(page.locator("#pick-title")).to_have_text("Pick a time to request")
    expect(page.locator("#offline-note")).to_be_visible()
    page.locator("#days .day.open").first.click()
    slot = page.locator("#slots button.slot").first
    start_iso = slot.get_attribute("data-start")
    page.screenshot(path=str(shots / "05-offline-pick.png"), full_page=True)
    slot.click()
    expect(page.locator("#submit")).to_have_text("Request this time")
    fill_details(page, first="Mia", last="Mori", email="mia@example.org")
    page.click("#submit")
    expect(page.locator("#done-title")).to_have_text("Request sent")
    expect(page.locator("#done-body")).to_contain_text("will confirm the time")
    expect(page.locator("#done-email")).to_have_text(
        "We've sent a receipt to mia@example.org; the reply will come there too."
    )
    page.screenshot(path=str(shots / "06-offline-requested.png"), full_page=True)

    booking = Booking.objects.get()
    assert booking.status == BookingStatus.REQUESTED
    assert booking.calendar_write == CalendarWrite.NONE
    assert booking.start == datetime.fromisoformat(start_iso or "")
    assert booking.contact is not None and booking.contact.email == "mia@example.org"
    # The receipt the page speaks of, and the host's notice.
    send_queued_mail()
    assert sorted(m.to[0] for m in mail.outbox) == [host.email, "mia@example.org"]


def test_unreachable_calendar_shows_no_times_and_takes_a_request(
    browser: Any, live_server: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("yui", time_zone=HOST_ZONE, weekly=WEEKDAYS_9_TO_5)
    closed = f"http://127.0.0.1:{free_port()}/"  # nothing listens here
    connection = connect_caldav(
        host, server_url=closed, calendar_url=f"{closed}yui/work/", username="yui", password="pw"
    )
    assert not sync_connection_now(connection_id=connection.pk)
    make_link(host, slug="chat", name="Chat", durations=[30])

    page = open_page(browser, f"{live_server.url}/m/chat")
    expect(page.locator("#unavailable")).to_be_visible()
    expect(page.locator("#unavailable")).to_contain_text("no times are offered")
    expect(page.locator("#step-pick")).to_be_hidden()
    expect(page.locator("#slots button.slot")).to_have_count(0)
    expect(page.locator("#message-field")).to_be_visible()
    expect(page.locator("#submit")).to_have_text("Send request")
    page.screenshot(path=str(shots / "07-unreachable.png"), full_page=True)

    page.click("#submit")
    expect(page.locator("#err-email")).to_have_text("This field is required.")
    fill_details(page, first="Ola", last="Nordmann", email="ola@example.org")
    page.fill("#f-message", "Any morning next week works for me.")
    page.click("#submit")
    expect(page.locator("#done-title")).to_have_text("Request sent")
    expect(page.locator("#done-body")).to_contain_text("to find a time")
    page.screenshot(path=str(shots / "08-unreachable-requested.png"), full_page=True)

    booking = Booking.objects.get()
    assert booking.status == BookingStatus.REQUESTED
    assert booking.start is None
    assert booking.message == "Any morning next week works for me."


def test_japanese_page(browser: Any, live_server: Any, shots: Path) -> None:
    from playwright.sync_api import expect

    host = make_host("sora", time_zone="Asia/Tokyo", weekly=WEEKDAYS_9_TO_5)
    make_link(host, slug="soudan", name="ご相談", durations=[30, 60])

    page = open_page(browser, f"{live_server.url}/m/soudan", zone="Asia/Tokyo", locale="ja")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#pick-title")).to_have_text("リクエストする日時を選択")
    expect(page.locator("label[for=tz-input]")).to_have_text("タイムゾーン")
    expect(page.locator(".durations")).to_contain_text("30分")
    expect(page.locator("#tz-input")).to_have_value(re.compile("自動検出"))
    expect(page.locator("#month-title")).to_have_text(re.compile(r"\d{4}年\d{1,2}月"))
    page.locator("#days .day.open").first.click()
    expect(page.locator("#times-title")).to_contain_text("の空き時間")
    page.screenshot(path=str(shots / "09-japanese.png"), full_page=True)

    # An English browser switches with the language buttons (/i18n/setlang/).
    page = open_page(browser, f"{live_server.url}/m/soudan", zone="Asia/Tokyo")
    expect(page.locator("#pick-title")).to_have_text("Pick a time to request")
    page.locator('.lang button[value="ja"]').click()
    expect(page.locator("#pick-title")).to_have_text("リクエストする日時を選択")
    expect(page.locator('.lang button[value="ja"]')).to_have_attribute("aria-current", "true")
    page.screenshot(path=str(shots / "10-japanese-switched.png"), full_page=True)


def test_phone_width_has_no_sideways_scroll(browser: Any, live_server: Any, shots: Path) -> None:
    from playwright.sync_api import expect

    host = make_host("rin", time_zone=HOST_ZONE, weekly=WEEKDAYS_9_TO_5)
    make_link(
        host,
        slug="phone",
        name="A rather long meeting name that has to wrap on a phone",
        durations=[15, 30, 60],
        location="https://meet.example.com/a-very-long-room-name-without-any-spaces-at-all",
    )
    context = browser.new_context(timezone_id="America/Los_Angeles", viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(f"{live_server.url}/m/phone")
    page.locator("#days .day.open").first.click()
    expect(page.locator("#slots button.slot").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(shots / "11-phone.png"), full_page=True)
    page.locator("#slots button.slot").first.click()
    expect(page.locator("#details")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(shots / "12-phone-details.png"), full_page=True)


def test_a_time_no_longer_offered_sends_the_booker_back_to_pick_with_the_reason(
    browser: Any, live_server: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("ken", time_zone=HOST_ZONE, weekly=WEEKDAYS_9_TO_5)
    link = make_link(host, slug="consult", name="Consultation", durations=[30])

    page = open_page(browser, f"{live_server.url}/m/consult", zone=HOST_ZONE)
    page.locator("#days .day.open").first.click()
    page.locator("#slots button.slot").first.click()
    fill_details(page)
    # While the booker types, the host asks for more notice than the chosen time leaves.
    link.notice_minutes = 60 * 24 * 60
    link.save(update_fields=["notice_minutes"])
    page.click("#submit")

    expect(page.locator("#step-pick")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("This time is too soon")
    page.screenshot(path=str(shots / "13-no-longer-offered.png"), full_page=True)
    assert Booking.objects.count() == 0


def test_a_longer_meeting_that_no_longer_fits_this_month_moves_on_to_the_next(
    browser: Any, live_server: Any, shots: Path
) -> None:
    """Late in a month only a short meeting may still fit: choosing a longer one shows next month."""
    from playwright.sync_api import expect

    # A zone with at least three hours of this month left, so the last window below is ahead.
    zone = "UTC"
    if (datetime.now(ZoneInfo(zone)) + timedelta(hours=3)).month != datetime.now(ZoneInfo(zone)).month:
        zone = "Pacific/Honolulu"
    today = datetime.now(ZoneInfo(zone)).date()
    next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    last_day = next_month - timedelta(days=1)
    # This month: days off, except a quarter of an hour late on its last day.
    overrides: dict[date, list[list[int]]] = {
        today + timedelta(days=offset): [] for offset in range((last_day - today).days + 1)
    }
    overrides[last_day] = [[23 * 60 + 30, 23 * 60 + 45]]
    every_day = {str(d): [[9 * 60, 17 * 60]] for d in range(7)}
    host = make_host("rin", time_zone=zone, weekly=every_day)
    set_availability(user=host, time_zone=zone, weekly=every_day, overrides=overrides)
    make_link(host, slug="fit", name="Fitting", durations=[15, 60], increment_minutes=15)

    page = open_page(browser, f"{live_server.url}/m/fit", zone=zone)
    this_month = f"{today:%B %Y}"
    expect(page.locator("#month-title")).to_have_text(this_month)
    expect(page.locator("#days .day.open")).to_have_count(1)
    expect(page.locator("#slots button.slot")).to_have_count(1)

    page.locator("label", has_text="60 minutes").click()
    expect(page.locator("#month-title")).to_have_text(f"{next_month:%B %Y}")
    expect(page.locator("#days .day.open").first).to_be_visible()
    expect(page.locator("#month-hint")).to_be_empty()
    page.screenshot(path=str(shots / "14-longer-meeting-next-month.png"), full_page=True)

    # Going back to the short meeting on the month before still finds its one time.
    page.locator("#month-prev").click()
    page.locator("label", has_text="15 minutes").click()
    expect(page.locator("#month-title")).to_have_text(this_month)
    expect(page.locator("#slots button.slot")).to_have_count(1)
