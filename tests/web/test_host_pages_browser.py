"""The host pages in headless Chromium against the live server: sign in, the Connect dialog with
its disclosure, connecting a real Radicale through the CalDAV form, and the dashboard.

Screenshots go to YOYAKU_SCREENSHOT_DIR when set (else the test's temporary folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link
from yoyaku.accounts.connections import refresh_calendars
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, InboxConnection, Provider, User
from yoyaku.accounts.providers import scope_disclosure
from yoyaku.scheduling.models import Booking, BookingStatus, MeetingLink

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CALDAV_USER, CALDAV_PASSWORD = "hana", "hana-caldav-pw"


@pytest.fixture(scope="module")
def caldav_server() -> Iterator[RadicaleServer]:
    with RadicaleServer(users={CALDAV_USER: CALDAV_PASSWORD}) as server:
        server.ensure_calendar("Work")
        server.ensure_calendar("Family")
        yield server


@pytest.fixture
def oauth_configured(settings: Any) -> None:
    # Only the client ids matter to the page: they decide whether a provider is offered.
    settings.YOYAKU_GOOGLE_CLIENT_ID = "yoyaku-test.apps.googleusercontent.com"
    settings.YOYAKU_MICROSOFT_CLIENT_ID = "00000000-0000-0000-0000-000000000000"


def sample_week(host: User) -> None:
    """A page, two meetings and two requests, so the dashboard has something to show."""
    link = make_link(host, slug="intro", name="Intro call", durations=[30])
    make_link(host, slug="demo-60", name="Product demo (60 min)", durations=[60])
    now = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0)

    def add(link: MeetingLink, status: str, start: datetime | None, first: str, message: str = "") -> None:
        Booking.objects.create(
            link=link,
            status=status,
            start=start,
            end=start + timedelta(minutes=30) if start else None,
            time_zone="Europe/Paris",
            first_name=first,
            last_name="Martin",
            email=f"{first.lower().replace('è', 'e')}@example.org",
            message=message,
            assigned_host=host,
        )

    add(link, BookingStatus.CONFIRMED, now + timedelta(days=1, hours=2), "Camille")
    add(link, BookingStatus.CONFIRMED, now + timedelta(days=3, hours=5), "Louis")
    add(
        link,
        BookingStatus.REQUESTED,
        None,
        "Inès",
        "Could we talk about the renewal next week? Mornings suit me.",
    )
    add(link, BookingStatus.REQUESTED, now + timedelta(days=2), "Paul")


def new_page(browser: Any, *, locale: str = "en-US", width: int = 1200) -> Any:
    context = browser.new_context(
        locale=locale,
        viewport={"width": width, "height": 900},
        extra_http_headers={"Accept-Language": locale},
    )
    return context.new_page()


def sign_in(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/settings/calendar/")
    assert page.url.startswith(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill("hana")
    page.get_by_label("Password").fill("pw-hana")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/settings/calendar/")


def test_connect_dialog_disclosure_then_caldav_connection_lands_on_the_dashboard(
    browser: Any, live_server: Any, caldav_server: RadicaleServer, shots: Path, oauth_configured: None
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone="Europe/Paris")
    sample_week(host)
    page = new_page(browser)
    sign_in(page, live_server.url)

    # The dialog opens from the button and takes the keyboard focus.
    dialog = page.locator("#connect-dialog")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Connect calendar").click()
    expect(dialog).to_be_visible()
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    for name in ("Google / Gmail", "Office 365", "Exchange", "CalDAV"):
        expect(dialog.locator("button.provider", has_text=name)).to_be_enabled()

    # Google: the disclosure is on screen before anything leaves the site.
    dialog.locator("button.provider", has_text="Google / Gmail").click()
    google = dialog.locator('[data-step="google"]')
    expect(google).to_be_visible()
    disclosure = google.locator(".disclosure")
    expect(disclosure).to_be_visible()
    for scope, purpose in scope_disclosure(provider="google"):
        expect(disclosure).to_contain_text(scope)
        expect(disclosure).to_contain_text(purpose)
    accept = google.get_by_role("button", name="Accept and connect to Google")
    expect(accept).to_be_visible()
    assert accept.evaluate("b => b.form.method") == "post"
    assert accept.evaluate("b => b.form.elements.csrfmiddlewaretoken.value.length > 0")
    assert page.url == f"{live_server.url}/settings/calendar/"
    page.screenshot(path=str(shots / "host-settings-dialog-google-en.png"))

    google.get_by_role("link", name="Other providers").click()
    dialog.locator("button.provider", has_text="Office 365").click()
    expect(dialog.get_by_role("button", name="Accept and connect to Office 365")).to_be_visible()

    # Escape closes the dialog, as for any modal.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # CalDAV: a wrong password comes back with the message, the URL and username kept, no password.
    page.get_by_role("button", name="Connect calendar").click()
    dialog.locator("button.provider", has_text="CalDAV").click()
    caldav = dialog.locator('[data-step="caldav"]')
    caldav.locator("#caldav-url").fill(caldav_server.url)
    caldav.locator("#caldav-username").fill(CALDAV_USER)
    caldav.locator("#caldav-password").fill("not-the-password")
    caldav.get_by_role("button", name="Connect CalDAV calendar").click()
    expect(caldav.locator(".alert")).to_be_visible()
    expect(caldav.locator("#caldav-url")).to_have_value(caldav_server.url)
    expect(caldav.locator("#caldav-username")).to_have_value(CALDAV_USER)
    expect(caldav.locator("#caldav-password")).to_have_value("")
    assert "not-the-password" not in page.content()
    page.screenshot(path=str(shots / "host-settings-caldav-error-en.png"))

    caldav.locator("#caldav-password").fill(CALDAV_PASSWORD)
    caldav.get_by_role("button", name="Connect CalDAV calendar").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")

    connection = CalendarConnection.objects.get(user=host)
    assert connection.provider == Provider.CALDAV and connection.username == CALDAV_USER
    assert InboxConnection.objects.filter(calendar_connection=connection).exists()
    expect(page.locator(".message.success")).to_contain_text("Your CalDAV calendar")
    panel = page.locator(f"#connection-{connection.pk}")
    expect(panel.locator("[data-health]")).to_have_text("Connected")
    expect(panel).to_contain_text("CalDAV")
    expect(panel.get_by_role("checkbox", name="Work")).to_be_visible()
    expect(panel.get_by_role("radio", name="Family")).to_be_visible()
    expect(page.get_by_role("heading", name="Upcoming meetings")).to_be_visible()
    expect(page.locator("body")).to_contain_text("Camille Martin")
    expect(page.locator("body")).to_contain_text("Could we talk about the renewal next week?")
    page.screenshot(path=str(shots / "host-dashboard-en.png"), full_page=True)

    # The settings form on the dashboard saves through the service.
    for box in panel.locator('input[name="conflict_calendar_ids"]').all():
        box.check()
    panel.get_by_role("checkbox", name="Tentative events block time").uncheck()
    panel.get_by_role("button", name="Save settings").click()
    expect(page.locator(".message.success")).to_have_text("Calendar settings saved.")
    connection.refresh_from_db()
    assert sorted(connection.conflict_calendar_ids) == sorted(
        [f"{caldav_server.principal_url()}Family/", f"{caldav_server.principal_url()}Work/"]
    )
    assert connection.tentative_blocks is False

    # Once connected, the Connect button is disabled and says why.
    page.goto(f"{live_server.url}/settings/calendar/")
    expect(page.get_by_role("button", name="Connect calendar")).to_be_disabled()
    expect(page.locator("#connect-blocked")).to_contain_text("You already have a calendar connected")
    page.screenshot(path=str(shots / "host-settings-connected-en.png"), full_page=True)


def test_japanese_pages_with_the_connect_dialog(
    browser: Any, live_server: Any, caldav_server: RadicaleServer, shots: Path, oauth_configured: None
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone="Asia/Tokyo")
    sample_week(host)
    work = f"{caldav_server.principal_url()}Work/"
    connection = CalendarConnection(
        user=host,
        provider=Provider.CALDAV,
        account_email=host.email,
        server_url=caldav_server.principal_url(),
        username=CALDAV_USER,
        conflict_calendar_ids=[work],
        write_calendar_id=work,
    )
    connection.secret = CALDAV_PASSWORD
    connection.save()
    refresh_calendars(user=host, connection_id=connection.pk)  # the list connecting keeps
    page = new_page(browser, locale="ja")
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", name="Yoyaku にサインイン")).to_be_visible()
    page.screenshot(path=str(shots / "host-login-ja.png"))
    page.get_by_label("ユーザー名").fill("hana")
    page.get_by_label("パスワード").fill("pw-hana")
    page.get_by_role("button", name="サインイン").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")
    expect(page.get_by_role("heading", name="ミーティング", exact=True)).to_be_visible()
    expect(page.locator("[data-health]")).to_have_text("接続済み")
    expect(page.get_by_role("checkbox", name="Work")).to_be_checked()
    expect(page.get_by_role("checkbox", name="仮の予定も予約不可にする")).to_be_checked()
    page.screenshot(path=str(shots / "host-dashboard-ja.png"), full_page=True)

    # Connected: the button is disabled with the reason in Japanese; without the connection it opens.
    page.get_by_role("link", name="設定").click()
    expect(page.get_by_role("button", name="カレンダーを接続")).to_be_disabled()
    expect(page.locator("#connect-blocked")).to_contain_text("すでにカレンダー")
    CalendarConnection.objects.filter(pk=connection.pk).delete()
    page.reload()
    page.get_by_role("button", name="カレンダーを接続").click()
    dialog = page.locator("#connect-dialog")
    dialog.locator("button.provider", has_text="Office 365").click()
    step = dialog.locator('[data-step="microsoft"]')
    expect(step.locator(".disclosure")).to_contain_text(
        "カレンダーを読み取って予定の埋まっている時間を把握し、あなたとの予約で入った会議を追加・変更・キャンセルします。"
    )
    expect(step.locator(".disclosure")).to_contain_text("Calendars.ReadWrite")
    expect(step.get_by_role("button", name="同意して Office 365 に接続")).to_be_visible()
    page.screenshot(path=str(shots / "host-settings-dialog-microsoft-ja.png"))

    step.get_by_role("link", name="ほかのプロバイダー").click()
    dialog.locator("button.provider", has_text="Exchange").click()
    expect(dialog.locator('[data-step="exchange"]')).to_contain_text(
        "Outlook Web App のアドレスではありません"
    )
    page.screenshot(path=str(shots / "host-settings-dialog-exchange-ja.png"))

    # The language switcher takes the page back to English.
    page.keyboard.press("Escape")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="Connect calendar")).to_be_visible()


def test_phone_width_dashboard_and_dialog_fit(
    browser: Any, live_server: Any, shots: Path, settings: Any
) -> None:
    from playwright.sync_api import expect

    settings.YOYAKU_GOOGLE_CLIENT_ID = settings.YOYAKU_MICROSOFT_CLIENT_ID = ""
    host = make_host("hana", time_zone="Asia/Tokyo")
    sample_week(host)
    page = new_page(browser, width=375)
    sign_in(page, live_server.url)
    page.get_by_role("button", name="Connect calendar").click()
    dialog = page.locator("#connect-dialog")
    # Without OAuth clients set up, Google and Office 365 are offered disabled, with the reason.
    expect(dialog.locator("button.provider", has_text="Google / Gmail")).to_be_disabled()
    expect(dialog.locator("#provider-google-blocked")).to_have_text(
        "Google is not configured by the administrator."
    )
    expect(dialog.locator("button.provider", has_text="CalDAV")).to_be_enabled()
    page.screenshot(path=str(shots / "host-settings-dialog-providers-phone.png"))
    dialog.locator("button.provider", has_text="Exchange").click()
    expect(dialog.locator("#exchange-ews_url")).to_be_visible()
    page.screenshot(path=str(shots / "host-settings-dialog-exchange-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.keyboard.press("Escape")
    page.goto(f"{live_server.url}/dashboard/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(shots / "host-dashboard-phone.png"), full_page=True)


def test_reconnect_and_api_keys(
    browser: Any, live_server: Any, caldav_server: RadicaleServer, shots: Path
) -> None:
    from playwright.sync_api import expect

    host = make_host("hana", time_zone="Europe/Paris")
    connection = CalendarConnection(
        user=host,
        provider=Provider.CALDAV,
        account_email=host.email,
        server_url=caldav_server.principal_url(),
        username=CALDAV_USER,
        status=ConnectionStatus.NEEDS_RECONNECT,
        status_message="The CalDAV server rejected the saved password. Reconnect with the current one.",
    )
    connection.secret = "an-old-password"
    connection.save()
    page = new_page(browser)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before revoking
    sign_in(page, live_server.url)

    page.goto(f"{live_server.url}/dashboard/")
    expect(page.locator("[data-health]")).to_have_text("Needs reconnect")
    expect(page.get_by_role("alert")).to_contain_text("rejected the saved password")
    page.screenshot(path=str(shots / "host-dashboard-needs-reconnect-en.png"), full_page=True)

    page.get_by_role("link", name="Reconnect").click()
    dialog = page.locator("#connect-dialog")
    expect(dialog).to_be_visible()
    caldav = dialog.locator('[data-step="caldav"]')
    expect(caldav.get_by_role("heading", name="Reconnect CalDAV")).to_be_visible()
    expect(caldav.locator("#caldav-username")).to_have_value(CALDAV_USER)
    # The focus waits in the one field left to fill.
    assert page.evaluate("document.activeElement.id") == "caldav-password"
    page.screenshot(path=str(shots / "host-settings-reconnect-en.png"))
    page.keyboard.type(CALDAV_PASSWORD)
    caldav.get_by_role("button", name="Reconnect").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")
    expect(page.locator("[data-health]")).to_have_text("Connected")
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.OK

    page.goto(f"{live_server.url}/settings/api-keys/")
    page.get_by_label("Key name").fill("CRM sync")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key-value")
    expect(key).to_be_visible()
    raw = key.input_value()
    assert raw.startswith("yk_")
    page.screenshot(path=str(shots / "host-settings-api-keys-en.png"), full_page=True)
    # Reloading asks for the page again; it does not post a second key.
    page.reload()
    expect(page.locator("#new-key-value")).to_have_count(0)
    expect(page.locator("table.keys")).to_contain_text(raw[:10])
    expect(page.locator("table.keys tbody tr")).to_have_count(1)
    page.get_by_role("button", name=f"Revoke CRM sync ({raw[:10]}…)").click()
    expect(page.locator(".message.success")).to_contain_text("The key is revoked.")
    expect(page.locator("table.keys")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    expect(page.locator(".message")).to_have_text("You have signed out.")


def test_without_javascript_the_dialog_still_opens_and_steps(
    browser: Any, live_server: Any, shots: Path, oauth_configured: None
) -> None:
    from playwright.sync_api import expect

    make_host("hana")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    sign_in(page, live_server.url)
    page.get_by_role("button", name="Connect calendar").click()
    page.wait_for_url(f"{live_server.url}/settings/calendar/?connect=choose")
    dialog = page.locator("#connect-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("button.provider", has_text="Google / Gmail").click()
    page.wait_for_url(f"{live_server.url}/settings/calendar/?connect=google")
    expect(dialog.locator('[data-step="google"] .disclosure')).to_be_visible()
    expect(dialog.get_by_role("button", name="Accept and connect to Google")).to_be_visible()
    page.screenshot(path=str(shots / "host-settings-dialog-google-nojs.png"))
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
