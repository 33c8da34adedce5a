"""The main pages in headless Chromium, as a person sees them, each saved as a screenshot.

With ``YOYAKU_SCREENSHOT_DIR=docs/screenshots`` this is how the README's pictures are made
(README, "Screenshots"); otherwise the pictures go to the test's temporary folder. Each page is
checked for what a person must see on it before it is photographed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.factories import connect_caldav, make_host, make_link, sync_now
from yoyaku.demo.calendar_data import demo_calendar_events
from yoyaku.demo.radicale import RadicaleServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZONE = "Europe/Berlin"
WEEKDAYS_9_TO_5 = {str(d): [[9 * 60, 17 * 60]] for d in range(5)}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 900}


@pytest.fixture(scope="module")
def radicale_server() -> Iterator[RadicaleServer]:
    with RadicaleServer(users={"hana": "hana-secret"}) as server:
        yield server


def assert_sections_on_one_row(page: Any) -> None:
    """At desktop width the host's sections sit on one row with the account and language buttons."""
    middles = page.locator(".hostnav a, .account, .lang button").evaluate_all(
        "elements => elements.map(e => { const r = e.getBoundingClientRect(); return r.y + r.height / 2; })"
    )
    assert max(middles) - min(middles) < 8, f"the header wraps: middles at {sorted(middles)}"


def new_page(browser: Any, *, locale: str, zone: str, viewport: dict[str, int]) -> Any:
    context = browser.new_context(
        locale=locale,
        timezone_id=zone,
        viewport=viewport,
        extra_http_headers={"Accept-Language": locale},
        # Crisp text on the README's pictures.
        device_scale_factor=2 if viewport is PHONE else 1,
    )
    return context.new_page()


def open_times(page: Any) -> None:
    from playwright.sync_api import expect

    day = page.locator("#days .day.open").first
    expect(day).to_be_visible()
    day.click()
    expect(page.locator("#slots button.slot").first).to_be_visible()


def test_main_pages_in_english_and_japanese_at_desktop_and_phone_width(
    browser: Any, live_server: Any, radicale_server: RadicaleServer, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone=ZONE, weekly=WEEKDAYS_9_TO_5)
    host.first_name, host.last_name = "Hana", "Kato"
    host.save(update_fields=["first_name", "last_name"])
    calendar_url = radicale_server.ensure_calendar("screenshots")
    today = datetime.now(ZoneInfo(ZONE)).date()
    radicale_server.seed(calendar_url, demo_calendar_events(time_zone=ZONE, today=today))
    connection = connect_caldav(
        host,
        server_url=radicale_server.url,
        calendar_url=calendar_url,
        username="hana",
        password="hana-secret",
    )
    sync_now(connection)  # the pages read what the sync stored
    make_link(
        host,
        slug="intro",
        name="Intro call",
        durations=[15, 30, 60],
        location="https://meet.example.com/hana",
    )
    url = f"{live_server.url}/m/intro"

    # The booking page in English, then the confirmation.
    page = new_page(browser, locale="en-US", zone="America/New_York", viewport=DESKTOP)
    page.goto(url)
    open_times(page)
    page.screenshot(path=str(shots / "booking-en.png"), full_page=True)
    page.locator("#slots button.slot").first.click()
    page.fill("#f-first_name", "Gita")
    page.fill("#f-last_name", "Guest")
    page.fill("#f-email", "gita@example.org")
    page.click("#submit")
    expect(page.locator("#done-title")).to_have_text("You're booked")
    page.screenshot(path=str(shots / "confirmation.png"), full_page=True)

    # In Japanese from Tokyo: Japanese text and dates, 姓 before 名 in the form.
    page = new_page(browser, locale="ja-JP", zone="Asia/Tokyo", viewport=DESKTOP)
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    open_times(page)
    page.screenshot(path=str(shots / "booking-ja.png"), full_page=True)
    page.locator("#slots button.slot").first.click()
    # The day as Japanese writes it: 2026年12月8日(火).
    expect(page.locator("#chosen")).to_have_text(re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日\(.\) "))
    labels = page.locator("#details .row label").all_inner_texts()
    assert [label.split()[0] for label in labels] == ["姓", "名"]
    page.screenshot(path=str(shots / "booking-ja-form.png"), full_page=True)

    # A phone.
    page = new_page(browser, locale="en-US", zone="Europe/London", viewport=PHONE)
    page.goto(url)
    open_times(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    page.screenshot(path=str(shots / "booking-phone.png"), full_page=True)

    # The host's dashboard (with the meeting just booked) and calendar settings.
    page = new_page(browser, locale="en-US", zone=ZONE, viewport=DESKTOP)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("hana")
    page.get_by_label("Password").fill("pw-hana")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")
    expect(page.locator("body")).to_contain_text("Gita")
    assert_sections_on_one_row(page)
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    page.goto(f"{live_server.url}/settings/calendar/")
    expect(page.locator("body")).to_contain_text("CalDAV")
    page.screenshot(path=str(shots / "settings.png"), full_page=True)

    # The dashboard in Japanese (the language switcher): the meeting's day as Japanese writes it.
    page.goto(f"{live_server.url}/dashboard/")
    page.get_by_role("button", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    japanese_day = re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日\(.\) \d\d:\d\d〜")
    expect(page.locator("span.row-title").first).to_have_text(japanese_day)
    assert_sections_on_one_row(page)
    page.screenshot(path=str(shots / "dashboard-ja.png"), full_page=True)
