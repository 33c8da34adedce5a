"""A contact books with the keyboard only, at phone width, from another time zone; then moves and
cancels the meeting through the links in the mails. Headless Chromium against the live server.

Screenshots go to YOYAKU_SCREENSHOT_DIR when it is set (else the test's temporary folder).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from tests.factories import connect_caldav, make_host, make_link, send_queued_mail, sync_now
from yoyaku.demo.radicale import RadicaleServer
from yoyaku.scheduling.manage_links import manage_token
from yoyaku.scheduling.models import Booking, BookingStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOST_ZONE = "Europe/Berlin"
EVERY_DAY_9_TO_5 = {str(d): [[9 * 60, 17 * 60]] for d in range(7)}
LINK_RE = re.compile(r"https?://\S+/manage/\S+/(?:reschedule|cancel)/")
PHONE = {"width": 390, "height": 844}

# Sums the layout shifts not caused by input (the CLS the page would report), from the first paint.
CLS_OBSERVER = """
window.__cls = 0;
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (entry) {
    if (!entry.hadRecentInput) { window.__cls += entry.value; }
  });
}).observe({ type: "layout-shift", buffered: true });
"""


@pytest.fixture(scope="module")
def radicale_server() -> Iterator[RadicaleServer]:
    with RadicaleServer(users={"hana": "hana-secret"}) as server:
        yield server


def phone_page(browser: Any, *, zone: str, locale: str = "en-US") -> Any:
    context = browser.new_context(
        timezone_id=zone,
        locale=locale,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        extra_http_headers={"Accept-Language": locale},
    )
    context.add_init_script(CLS_OBSERVER)
    return context.new_page()


def focused(page: Any) -> dict[str, str]:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return { id: e.id || '', cls: e.className || '', date: e.getAttribute('data-date') || '' }; }"
    )


def tab_to(page: Any, test: Any, *, most: int) -> int:
    """Press Tab until ``test(focused)`` holds; returns how many presses it took (at most ``most``)."""
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if test(focused(page)):
            return presses
    raise AssertionError(f"not reached in {most} tabs; focus is on {focused(page)}")


def to_booker(messages: list[Any]) -> list[Any]:
    """The mails to the booker (the host's notices of the same change may come before or after)."""
    return [m for m in messages if m.to == ["gita@example.org"]]


def manage_links(message: Any, live_url: str) -> dict[str, str]:
    """The mail's reschedule and cancel links, pointed at the live server."""
    links = {}
    for url in LINK_RE.findall(message.body):
        path = urlsplit(url).path
        links["reschedule" if path.endswith("/reschedule/") else "cancel"] = live_url + path
    assert set(links) == {"reschedule", "cancel"}, message.body
    return links


def test_keyboard_booking_at_phone_width_then_reschedule_and_cancel_from_the_mails(
    browser: Any, live_server: Any, radicale_server: RadicaleServer, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone=HOST_ZONE, weekly=EVERY_DAY_9_TO_5, email="hana@example.com")
    calendar_url = radicale_server.ensure_calendar("manage-flow")
    connection = connect_caldav(
        host,
        server_url=radicale_server.url,
        calendar_url=calendar_url,
        username="hana",
        password="hana-secret",
    )
    sync_now(connection)  # the pages read what the sync stored
    make_link(host, slug="intro", name="Intro call", durations=[30], rolling_weeks=8)

    # The booker is in Los Angeles and meets a Berlin host; they switch the page to Kolkata.
    page = phone_page(browser, zone="America/Los_Angeles")
    page.goto(f"{live_server.url}/m/intro")
    expect(page.locator("#days .day.open").first).to_be_visible()
    expect(page.locator("#slots button.slot").first).to_be_visible()
    assert page.evaluate("window.__cls") == 0  # loading the times moved nothing
    page.screenshot(path=str(shots / "manage-01-phone-loaded.png"), full_page=True)

    # Time zone: type to search, arrows and Enter to pick.
    tab_to(page, lambda f: f["id"] == "tz-input", most=6)
    page.keyboard.type("kolkata")
    expect(page.locator("#tz-list [role=option]")).to_have_count(1)
    expect(page.locator("#tz-list [role=option]").first).to_contain_text("GMT+5:30")
    page.screenshot(path=str(shots / "manage-02-zone-search.png"), full_page=True)
    page.keyboard.press("Enter")
    expect(page.locator("#tz-input")).to_have_attribute("data-zone", "Asia/Kolkata")

    # Clock: en-US starts on 12 hours; the arrow keys switch the radio group to 24.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "clock"
    assert page.evaluate("document.activeElement.value") == "12"
    page.keyboard.press("ArrowRight")
    expect(page.locator('input[name="clock"][value="24"]')).to_be_checked()
    expect(page.locator("#slots button.slot").first).to_have_text(re.compile(r"^\d{2}:\d{2}$"))

    # The month grid is one tab stop (roving tabindex), however late in the month the day is.
    # Before it come only the month buttons that can be pressed: the next one, and the previous one
    # once the page has moved past a month with no times left (late on a month's last day).
    buttons = page.locator("#month-prev:enabled, #month-next:enabled").count()
    presses = tab_to(page, lambda f: "day" in f["cls"].split(), most=3)
    assert presses == buttons + 1
    start_date = focused(page)["date"]
    month = page.locator("#month-title").inner_text()
    page.keyboard.press("PageDown")
    expect(page.locator("#month-title")).not_to_have_text(month)
    page.keyboard.press("PageUp")
    expect(page.locator("#month-title")).to_have_text(month)
    expect(page.locator(f'#days [data-date="{start_date}"]')).to_be_focused()
    page.keyboard.press("ArrowRight")
    next_day = focused(page)["date"]
    assert next_day > start_date
    expect(page.locator(f'#days [data-date="{next_day}"]')).to_have_attribute("tabindex", "0")
    page.keyboard.press("Enter")
    expect(page.locator(f'#days [data-date="{next_day}"]')).to_have_attribute("aria-selected", "true")
    page.screenshot(path=str(shots / "manage-03-keyboard-day.png"), full_page=True)

    page.keyboard.press("Tab")
    expect(page.locator("#slots button.slot").first).to_be_focused()
    start_iso = page.locator("#slots button.slot").first.get_attribute("data-start")
    assert start_iso
    page.keyboard.press("Enter")
    expect(page.locator("#details")).to_be_visible()
    tab_to(page, lambda f: f["id"] == "f-first_name", most=3)
    page.keyboard.type("Gita")
    page.keyboard.press("Tab")
    page.keyboard.type("Guest")
    page.keyboard.press("Tab")
    page.keyboard.type("gita@example.org")
    page.keyboard.press("Enter")
    expect(page.locator("#done-title")).to_have_text("You're booked")
    expect(page.locator("#done-when")).to_contain_text("Kolkata")
    expect(page.locator("#done-reschedule")).to_be_visible()
    expect(page.locator("#done-ics")).to_be_visible()
    page.screenshot(path=str(shots / "manage-04-booked.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    booking = Booking.objects.get()
    assert booking.start == datetime.fromisoformat(start_iso)
    assert booking.time_zone == "Asia/Kolkata"

    # Move it through the invitation's link.
    send_queued_mail()
    links = manage_links(to_booker(mail.outbox)[-1], live_server.url)
    page = phone_page(browser, zone="Asia/Kolkata")
    page.goto(links["reschedule"])
    expect(page.locator("#pick-title")).to_have_text("Pick a new time")
    expect(page.locator("#summary-current")).to_contain_text("Kolkata")
    expect(page.locator("#slots button.slot").first).to_be_visible()
    assert page.evaluate("window.__cls") == 0
    page.screenshot(path=str(shots / "manage-05-reschedule.png"), full_page=True)
    tab_to(page, lambda f: "day" in f["cls"].split(), most=8)
    page.keyboard.press("ArrowRight")
    chosen = focused(page)["date"]
    page.keyboard.press("Enter")  # even while that day's month is still loading
    expect(page.locator(f'#days [data-date="{chosen}"]')).to_have_attribute("aria-selected", "true")
    expect(page.locator(f'#days [data-date="{chosen}"]')).to_be_focused()
    page.keyboard.press("Tab")
    new_iso = page.evaluate("document.activeElement.getAttribute('data-start')")
    assert new_iso and new_iso != start_iso
    page.keyboard.press("Enter")
    expect(page.locator("#confirm-move")).to_be_visible()
    page.screenshot(path=str(shots / "manage-06-confirm-move.png"), full_page=True)
    tab_to(page, lambda f: f["id"] == "move-submit", most=3)
    page.keyboard.press("Enter")
    expect(page.locator("#done-title")).to_have_text("Your meeting was moved")
    page.screenshot(path=str(shots / "manage-07-moved.png"), full_page=True)
    booking.refresh_from_db()
    assert booking.start == datetime.fromisoformat(new_iso)
    assert booking.start.astimezone(ZoneInfo("Asia/Kolkata")).minute in (0, 30)

    # Cancel it through the update's link, with a reason.
    send_queued_mail()
    links = manage_links(to_booker(mail.outbox)[-1], live_server.url)
    page.goto(links["cancel"])
    expect(page.locator("#cancel-title")).to_have_text("Cancel this meeting?")
    tab_to(page, lambda f: f["id"] == "f-reason", most=8)
    page.keyboard.type("Something came up")
    page.screenshot(path=str(shots / "manage-08-cancel.png"), full_page=True)
    tab_to(page, lambda f: f["id"] == "cancel-submit", most=2)
    page.keyboard.press("Enter")
    expect(page.locator("#done-title")).to_have_text("Your meeting was cancelled")
    page.screenshot(path=str(shots / "manage-09-cancelled.png"), full_page=True)
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, "Something came up")

    # The links are spent now.
    page.goto(links["reschedule"])
    expect(page.locator("h1")).to_have_text("This link no longer works")
    page.screenshot(path=str(shots / "manage-10-link-gone.png"), full_page=True)


@pytest.mark.parametrize(
    ("locale", "hour12"), [("en-US", True), ("en-GB", False), ("ja", False)], ids=["en-US", "en-GB", "ja"]
)
def test_the_clock_follows_the_locale_and_the_toggle_is_kept(
    browser: Any, live_server: Any, shots: Path, locale: str, hour12: bool
) -> None:
    from playwright.sync_api import expect

    host = make_host("sora", time_zone="Asia/Tokyo", weekly=EVERY_DAY_9_TO_5)
    make_link(host, slug="soudan", name="ご相談", durations=[30])
    page = phone_page(browser, zone="Europe/London", locale=locale)
    page.goto(f"{live_server.url}/m/soudan")
    slot = page.locator("#slots button.slot").first
    twelve = re.compile(r"\d{1,2}:\d{2}\s?(AM|PM|午前|午後)|(午前|午後)\d{1,2}:\d{2}")
    expect(slot).to_have_text(twelve if hour12 else re.compile(r"^\d{1,2}:\d{2}$"))
    expect(page.locator(f'input[name="clock"][value="{12 if hour12 else 24}"]')).to_be_checked()
    page.screenshot(path=str(shots / f"clock-{locale}.png"), full_page=True)

    page.locator("label", has=page.locator('input[name="clock"][value="12"]')).click()
    expect(slot).to_have_text(twelve)
    page.reload()
    expect(page.locator('input[name="clock"][value="12"]')).to_be_checked()
    expect(page.locator("#slots button.slot").first).to_have_text(twelve)


def test_the_months_outside_a_fixed_range_cannot_be_reached(
    browser: Any, live_server: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("sora", time_zone="Asia/Tokyo", weekly=EVERY_DAY_9_TO_5)
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    # Days 10 to 20 of the month after next: one month only, whatever today is.
    month_after_next = (today.replace(day=1) + timedelta(days=32)).replace(day=1) + timedelta(days=32)
    first, last = month_after_next.replace(day=10), month_after_next.replace(day=20)
    make_link(
        host,
        slug="event",
        name="Event",
        durations=[30],
        fixed_start=first,
        fixed_end=last,
        rolling_weeks=None,
    )

    page = phone_page(browser, zone="Asia/Tokyo")
    page.goto(f"{live_server.url}/m/event")
    expect(page.locator("#days .day.open").first).to_have_attribute("data-date", first.isoformat())
    expect(page.locator("#month-prev")).to_be_disabled()
    expect(page.locator("#month-next")).to_be_disabled()
    month = page.locator("#month-title").inner_text()
    tab_to(page, lambda f: "day" in f["cls"].split(), most=8)
    assert focused(page)["date"] == first.isoformat()  # the tab stop is the chosen day
    sunday = first - timedelta(days=(first.weekday() + 1) % 7)  # weeks start on Sunday
    for key, expected in (
        ("End", sunday + timedelta(days=6)),
        ("Home", sunday),
        ("ArrowDown", sunday + timedelta(days=7)),
        ("ArrowUp", sunday),
        ("ArrowLeft", sunday - timedelta(days=1)),
        ("ArrowRight", sunday),
    ):
        page.keyboard.press(key)
        assert focused(page)["date"] == expected.isoformat(), key
    for key in ("PageDown", "PageUp", "Shift+PageDown"):
        page.keyboard.press(key)
        expect(page.locator("#month-title")).to_have_text(month)
    page.screenshot(path=str(shots / "manage-11-fixed-range.png"), full_page=True)


def test_the_manage_pages_in_japanese(browser: Any, live_server: Any, shots: Path) -> None:
    from playwright.sync_api import expect

    host = make_host("sora", time_zone="Asia/Tokyo", weekly=EVERY_DAY_9_TO_5)
    link = make_link(host, slug="soudan", name="ご相談", durations=[30])
    start = datetime.now(ZoneInfo("Asia/Tokyo")).replace(hour=10, minute=0, second=0, microsecond=0)
    start += timedelta(days=2)
    booking = Booking.objects.create(
        link=link,
        status=BookingStatus.CONFIRMED,
        start=start,
        end=start + timedelta(minutes=30),
        time_zone="Asia/Tokyo",
        first_name="花子",
        last_name="山田",
        email="hanako@example.com",
        assigned_host=host,
        language="ja",
    )
    token = manage_token(booking=booking)
    page = phone_page(browser, zone="Asia/Tokyo", locale="ja")

    page.goto(f"{live_server.url}/manage/{token}/reschedule/")
    expect(page.locator("#slots button.slot").first).to_be_visible()
    # The host has no calendar now, but a booked meeting moves as a booking, not as a request.
    expect(page.locator("#pick-title")).to_have_text("新しい日時を選択")
    expect(page.locator("#offline-note")).to_be_hidden()
    expect(page.locator('input[name="clock"][value="24"]')).to_be_checked()
    page.screenshot(path=str(shots / "manage-ja-reschedule.png"), full_page=True)

    page.goto(f"{live_server.url}/manage/{token}/cancel/")
    expect(page.locator("#cancel-title")).to_have_text("このミーティングをキャンセルしますか？")  # noqa: RUF001
    expect(page.locator("#cancel-when")).to_contain_text("Asia/Tokyo")
    page.fill("#f-reason", "都合が悪くなりました")
    page.click("#cancel-submit")
    expect(page.locator("#done-title")).to_have_text("ミーティングをキャンセルしました")
    page.screenshot(path=str(shots / "manage-ja-cancelled.png"), full_page=True)
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == (BookingStatus.CANCELLED, "都合が悪くなりました")
