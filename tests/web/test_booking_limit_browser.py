"""The booking page over the booking limit, in headless Chromium: it says how long to wait.

The wait comes from the API's Retry-After, which the test reads off the same response; the limit is
lowered so the second request from the browser is refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_host, make_link
from tests.web.test_booking_page_browser import WEEKDAYS_9_TO_5, fill_details, open_page
from yoyaku.scheduling.models import Booking

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENGLISH = "Too many attempts from your network. Try again in {minutes} {unit}."
JAPANESE = "お使いのネットワークからの試行回数が多すぎます。{minutes}分後にもう一度お試しください。"


def request_first_open_time(page: Any, *, email: str) -> None:
    page.locator("#days .day.open").first.click()
    page.locator("#slots button.slot").first.click()
    fill_details(page, email=email)


@pytest.mark.parametrize(
    ("rate", "locale", "slug"),
    [("1/h", "en-US", "hourly"), ("1/1m", "en-US", "minutely"), ("1/h", "ja", "soudan")],
)
def test_over_the_limit_the_page_says_how_many_minutes_to_wait(
    browser: Any, live_server: Any, shots: Path, settings: Any, rate: str, locale: str, slug: str
) -> None:
    from playwright.sync_api import expect

    settings.YOYAKU_BOOKING_RATE_LIMIT = rate
    host = make_host(f"host-{slug}", time_zone="Asia/Tokyo", weekly=WEEKDAYS_9_TO_5)
    make_link(host, slug=slug, name="Consultation", durations=[30])

    page = open_page(browser, f"{live_server.url}/m/{slug}", locale=locale)
    request_first_open_time(page, email="first@example.org")
    page.click("#submit")
    expect(page.locator("#done-title")).to_be_visible()

    page = open_page(browser, f"{live_server.url}/m/{slug}", locale=locale)
    request_first_open_time(page, email="second@example.org")
    with page.expect_response(lambda response: response.status == 429) as refused:
        page.click("#submit")
    minutes = math.ceil(int(refused.value.headers["retry-after"]) / 60)
    if locale == "ja":
        expected = JAPANESE.format(minutes=minutes)
    else:
        expected = ENGLISH.format(minutes=minutes, unit="minute" if minutes == 1 else "minutes")
    expect(page.locator("#form-status")).to_have_text(expected)
    page.screenshot(path=str(shots / f"13-too-many-{slug}.png"), full_page=True)

    # A limit of one per hour leaves most of the hour to wait; one per minute, at most a minute.
    assert minutes > 1 if rate == "1/h" else minutes == 1
    assert list(Booking.objects.values_list("contact__email", flat=True)) == ["first@example.org"]


def test_throttled_availability_says_how_long_to_wait_not_that_the_network_failed(
    browser: Any, live_server: Any, settings: Any
) -> None:
    from playwright.sync_api import expect

    settings.YOYAKU_PUBLIC_RATE_LIMIT = "1/h"
    host = make_host("host-busy-page", time_zone="Asia/Tokyo", weekly=WEEKDAYS_9_TO_5)
    make_link(host, slug="popular", name="Consultation", durations=[30])

    first = open_page(browser, f"{live_server.url}/m/popular")
    expect(first.locator("#days .day.open").first).to_be_visible()

    second = browser.new_context(locale="en-US", extra_http_headers={"Accept-Language": "en-US"}).new_page()
    with second.expect_response(lambda response: "/availability" in response.url) as refused:
        second.goto(f"{live_server.url}/m/popular")
    assert refused.value.status == 429
    minutes = math.ceil(int(refused.value.headers["retry-after"]) / 60)
    expected = ENGLISH.format(minutes=minutes, unit="minute" if minutes == 1 else "minutes")
    expect(second.locator("#status")).to_contain_text(expected)
    expect(second.locator("#status")).not_to_contain_text("Check your connection")
