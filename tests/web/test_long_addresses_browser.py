"""Long email addresses and URLs on the dashboard and the booking page, in headless Chromium.

An address may only break inside itself when it is wider than the space it has; one that fits on a
line is kept whole (no "newhost@example.c" / "om"), and nothing makes the page scroll sideways.
Screenshots go to YOYAKU_SCREENSHOT_DIR when set (else the test's temporary folder).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_host, make_link
from tests.web.test_host_pages_browser import new_page, sign_in
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, InboxConnection, Provider
from yoyaku.scheduling.models import Booking, BookingStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "maximilian.alexander.vandenberghe-oyelaran@research.university-of-example.com"
SHORT = "newhost@example.com"
LONG_LOCATION = (
    "https://meet.example.com/rooms/quarterly-planning-and-roadmap-review-with-the-whole-team-2031"
)
LOCATION = "https://zoom.example/j/8123"

# For every element matching the selector: how many lines its text takes, how wide it is unbroken,
# and how much room it has: the content width of ``container`` (the closest ancestor matching it),
# else of its block container.
MEASURE = """([selector, container]) => [...document.querySelectorAll(selector)].map((el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
  const probe = document.createElement("span");
  probe.style.cssText = "position:absolute;visibility:hidden;white-space:nowrap";
  probe.style.font = getComputedStyle(el).font;
  probe.style.letterSpacing = getComputedStyle(el).letterSpacing;
  probe.textContent = el.textContent.trim();
  document.body.appendChild(probe);
  const natural = probe.getBoundingClientRect().width;
  probe.remove();
  let box = container ? el.closest(container) : el.parentElement;
  while (getComputedStyle(box).display.startsWith("inline")) box = box.parentElement;
  const style = getComputedStyle(box);
  const room = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {text: el.textContent.trim(), lines: tops.size, natural, room};
})"""


def check_addresses(page: Any, selector: str, *, container: str = "") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(MEASURE, [selector, container])
    assert found, f"nothing matches {selector}"
    for item in found:
        # Whole when it fits in its container; broken only when it cannot fit on one line.
        if item["natural"] <= item["room"]:
            assert item["lines"] == 1, item
    return found


def dashboard_host() -> None:
    host = make_host("hana", time_zone="Europe/Paris", email=SHORT)
    link = make_link(host, slug="intro", name="Intro call", durations=[30])
    start = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    for email, status, when in (
        (LONG, BookingStatus.CONFIRMED, start),
        (SHORT, BookingStatus.CONFIRMED, start + timedelta(hours=2)),
        (LONG, BookingStatus.REQUESTED, None),
    ):
        Booking.objects.create(
            link=link,
            status=status,
            start=when,
            end=when + timedelta(minutes=30) if when else None,
            time_zone="Europe/Paris",
            first_name="Max",
            last_name="Vandenberghe",
            email=email,
            assigned_host=host,
        )
    connection = CalendarConnection(
        user=host,
        provider=Provider.CALDAV,
        account_email=LONG,
        server_url="https://caldav.example.com/",
        username="hana",
        status=ConnectionStatus.NEEDS_RECONNECT,
        status_message="The CalDAV server rejected the saved password.",
    )
    connection.secret = "old-password"
    connection.save()
    InboxConnection.objects.create(user=host, calendar_connection=connection, email=SHORT)


@pytest.mark.parametrize("width", [1280, 360])
def test_dashboard_keeps_addresses_whole_where_they_fit(
    browser: Any, live_server: Any, shots: Path, width: int
) -> None:
    dashboard_host()
    page = new_page(browser, width=width)
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/dashboard/")
    page.screenshot(path=str(shots / f"host-dashboard-long-address-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    mails = check_addresses(page, 'a[href^="mailto:"]')
    assert {m["text"] for m in mails} == {LONG, SHORT}
    wraps = check_addresses(page, ".wrap")
    assert {LONG, SHORT} <= {w["text"] for w in wraps}
    # The short address fits everywhere at both widths, so it must show unbroken.
    assert all(item["lines"] == 1 for item in mails + wraps if item["text"] == SHORT)


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize(("name", "location"), [("short", LOCATION), ("long", LONG_LOCATION)])
def test_booking_page_location_url_breaks_only_when_it_must(
    browser: Any, live_server: Any, shots: Path, width: int, name: str, location: str
) -> None:
    make_link(make_host("hana"), slug="intro", name="Intro call", durations=[30], location=location)
    page = new_page(browser, width=width)
    page.goto(f"{live_server.url}/m/intro")
    page.screenshot(path=str(shots / f"booking-{name}-location-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Measured against the whole list of facts: a URL that fits on a line of its own stays whole.
    (shown,) = check_addresses(page, ".fact-location a", container=".facts")
    assert shown["text"] == location
    if location == LOCATION:
        # It fits the card at both widths, so it must also fit the space it is given.
        assert shown["natural"] <= shown["room"] and shown["lines"] == 1
