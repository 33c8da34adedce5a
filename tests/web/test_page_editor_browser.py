"""The page and hours editors and embedding in headless Chromium against the live server.

A host signs in, creates a round-robin page with a co-host (the live check answers by the field as
the host types), sets weekly hours and a day off picked on the date field, and previews; then a
workspace admin allows a site, and a page on that origin frames the booking page (sized by
embed.js) while a page on another origin is refused. Screenshots go to YOYAKU_SCREENSHOT_DIR.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.factories import make_host, make_link
from yoyaku.accounts.models import WorkspaceRole
from yoyaku.scheduling.models import Availability, LinkKind, MeetingLink

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZONE = "Europe/Berlin"


def new_page(browser: Any, *, locale: str = "en-US", width: int = 1280) -> Any:
    context = browser.new_context(
        locale=locale,
        viewport={"width": width, "height": 900},
        extra_http_headers={"Accept-Language": locale},
    )
    return context.new_page()


def sign_in(page: Any, base_url: str, target: str) -> None:
    page.goto(f"{base_url}{target}")
    page.get_by_label("Username").fill("hana")
    page.get_by_label("Password").fill("pw-hana")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}{target}")


def next_weekday(days_ahead: int) -> datetime:
    day = datetime.now(ZoneInfo(ZONE)) + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def preview_days(page: Any) -> list[str]:
    return [text.strip() for text in page.locator(".preview-days dt").all_inner_texts()]


def test_a_host_creates_a_round_robin_page_sets_hours_and_a_day_off_and_previews(
    browser: Any, live_server: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    make_host("hana", time_zone=ZONE)
    # Ken works weekends only, so the weekdays of the preview are Hana's alone.
    make_host("ken", time_zone=ZONE, weekly={"5": [[600, 720]], "6": [[600, 720]]})
    page = new_page(browser)
    sign_in(page, live_server.url, "/pages/new/")

    page.get_by_label("Name", exact=True).fill("Team intro")
    page.get_by_label("Address").fill("team-intro")
    page.get_by_label("Round robin").check()
    page.get_by_label("Ken (ken)").check()
    increment = page.get_by_label("Start times every (minutes)")
    increment.fill("3")
    # The server's own rule, shown by the field while the host types.
    expect(page.locator("[data-error-for=increment_minutes]")).to_have_text(
        "Give a whole number from 5 to 720."
    )
    page.screenshot(path=str(shots / "page-editor-live-check-en.png"), full_page=True)
    increment.fill("60")
    expect(page.locator("[data-error-for=increment_minutes]")).to_have_text("")
    page.get_by_label("Minimum notice (minutes)").fill("0")
    page.locator("#id_q-0-label").fill("Company")
    page.get_by_role("button", name="Add a question").click()
    page.locator("#id_q-1-label").fill("Phone")
    page.locator("#id_q-1-type").select_option("phone")
    page.locator("#id_q-1-required").check()
    page.get_by_role("button", name="Create page").click()
    page.wait_for_url(f"{live_server.url}/pages/team-intro/edit/")

    link = MeetingLink.objects.get(slug="team-intro")
    assert link.kind == LinkKind.ROUND_ROBIN
    assert sorted(link.hosts.values_list("username", flat=True)) == ["hana", "ken"]
    assert [(f["label"], f["type"], f["required"]) for f in link.form_fields] == [
        ("Company", "text", False),
        ("Phone", "phone", True),
    ]
    expect(page.locator("#page-url")).to_have_value(f"{live_server.url}/m/team-intro")
    assert "data-yoyaku-embed" in page.locator("#embed-snippet").input_value()
    page.screenshot(path=str(shots / "page-editor-en.png"), full_page=True)

    day_off = next_weekday(2)
    label = f"{day_off:%a} {day_off.day} {day_off:%b}"
    page.get_by_role("link", name="Hours", exact=True).click()
    page.wait_for_url(f"{live_server.url}/availability/")
    assert label in preview_days(page)
    page.get_by_label("Monday").fill("9:00-12:00, 13:00-17:00")
    page.locator("#id_o-0-day").fill(day_off.date().isoformat())
    short_day = (day_off + timedelta(days=14)).date()
    page.get_by_role("button", name="Add a date").click()
    page.locator("#id_o-2-day").fill(short_day.isoformat())
    page.locator("#id_o-2-hours").fill("10:00-11:00")
    # The preview follows as the host types, before saving.
    expect(page.locator("[data-preview-body] .callout")).to_contain_text("Not saved yet")
    expect(page.locator(".preview-days dt", has_text=label)).to_have_count(0)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "hours-editor-en.png"), full_page=True)
    page.get_by_role("button", name="Save hours").click()
    expect(page.locator(".message.success")).to_have_text("Your hours are saved.")

    saved = Availability.objects.get(user__username="hana")
    assert saved.weekly["0"] == [[540, 720], [780, 1020]]
    assert saved.overrides == {day_off.date().isoformat(): [], short_day.isoformat(): [[600, 660]]}
    # The preview follows: the day off is gone from the coming week.
    assert label not in preview_days(page)
    assert preview_days(page)
    page.screenshot(path=str(shots / "hours-editor-saved-en.png"), full_page=True)

    page.goto(f"{live_server.url}/pages/")
    expect(page.locator("a.row-title")).to_have_text("Team intro")
    page.screenshot(path=str(shots / "pages-list-en.png"), full_page=True)
    # At phone width the editor is one column and nothing runs off the side.
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_server.url}/pages/team-intro/edit/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(shots / "page-editor-phone.png"), full_page=True)


class _Site:
    """A page on another origin that embeds the snippet: one tiny HTTP server per origin."""

    def __init__(self) -> None:
        self.html = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[_Site, _Site]]:
    with _Site() as allowed, _Site() as other:
        yield allowed, other


def test_an_allowed_site_frames_the_booking_page_and_another_is_refused(
    browser: Any, live_server: Any, shots: Path, sites: tuple[_Site, _Site]
) -> None:
    from playwright.sync_api import expect

    allowed, other = sites
    hana = make_host("hana", time_zone=ZONE, role=WorkspaceRole.ADMIN)
    make_link(hana, slug="intro", name="Intro call")
    page = new_page(browser)
    sign_in(page, live_server.url, "/settings/embedding/")
    page.get_by_label("Sites allowed to embed booking pages").fill(allowed.origin)
    page.get_by_role("button", name="Save sites").click()
    expect(page.locator(".message.success")).to_be_visible()
    page.screenshot(path=str(shots / "settings-embedding-en.png"), full_page=True)

    page.goto(f"{live_server.url}/pages/intro/edit/")
    snippet = page.locator("#embed-snippet").input_value()
    html = f"<!doctype html><title>Partner site</title><h1>Book a call with us</h1>{snippet}"
    allowed.html = other.html = html

    visitor = new_page(browser)
    visitor.goto(allowed.origin)
    framed = visitor.frame_locator("iframe[data-yoyaku-embed]")
    expect(framed.locator("#link-name")).to_have_text("Intro call")
    # embed.js sized the iframe from the height the booking page sent.
    visitor.wait_for_function(
        "() => parseInt(document.querySelector('iframe[data-yoyaku-embed]').style.height) > 300"
    )
    visitor.screenshot(path=str(shots / "embed-allowed-origin.png"), full_page=True)
    # A height message from anywhere but the Yoyaku server (here the partner page itself) is ignored;
    # this listener runs after embed.js's, which was added first.
    height_after_forgery = visitor.evaluate(
        """() => new Promise(resolve => {
            window.addEventListener("message", () => resolve(
                document.querySelector("iframe[data-yoyaku-embed]").style.height), {once: true});
            window.postMessage({type: "yoyaku:height", height: 4321}, "*");
        })"""
    )
    assert height_after_forgery != "4321px"

    refused = new_page(browser)
    refused.goto(other.origin)
    refused.wait_for_load_state("load")
    frame = refused.frame_locator("iframe[data-yoyaku-embed]")
    assert frame.locator("#link-name").count() == 0
    assert refused.eval_on_selector("iframe[data-yoyaku-embed]", "f => f.style.height") == ""
    refused.screenshot(path=str(shots / "embed-other-origin-refused.png"), full_page=True)


def test_a_host_sets_a_photo_in_japanese_and_the_booking_page_shows_it(
    browser: Any, live_server: Any, shots: Path, tmp_path: Path, settings: Any
) -> None:
    from PIL import Image
    from playwright.sync_api import expect

    settings.MEDIA_ROOT = tmp_path / "media"
    hana = make_host("hana", time_zone=ZONE)
    make_link(hana, slug="intro", name="Intro call")
    photo = tmp_path / "me.png"
    Image.new("RGB", (300, 200), (30, 90, 160)).save(photo)
    page = new_page(browser, locale="ja")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("ユーザー名").fill("hana")
    page.get_by_label("パスワード").fill("pw-hana")
    page.get_by_role("button", name="サインイン").click()
    page.goto(f"{live_server.url}/settings/profile/")
    page.locator("#id_last_name").fill("山田")
    page.locator("#id_first_name").fill("花子")
    page.get_by_label("タイムゾーン").select_option("Asia/Tokyo")
    page.locator("#id_photo").set_input_files(str(photo))
    page.get_by_role("button", name="プロフィールを保存").click()
    expect(page.locator(".message.success")).to_have_text("プロフィールを保存しました。")
    page.screenshot(path=str(shots / "settings-profile-ja.png"), full_page=True)

    page.goto(f"{live_server.url}/pages/new/")
    page.screenshot(path=str(shots / "page-editor-new-ja.png"), full_page=True)

    booker = new_page(browser, locale="ja")
    booker.goto(f"{live_server.url}/m/intro")
    image = booker.locator("img.host-photo")
    expect(image).to_be_visible()
    booker.wait_for_function("() => document.querySelector('img.host-photo').naturalWidth === 256")
    booker.screenshot(path=str(shots / "booking-page-photo-ja.png"))
