"""Settings > General > Calendar: the Connect dialog, its rules, and the Exchange and CalDAV forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape

import pytest
from django.test import Client, override_settings
from django.utils import translation

from tests.emulators.exchange import ExchangeEmulator
from tests.emulators.exchange import start as start_exchange
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host
from tests.web.html import element, elements
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, InboxConnection, Provider, User
from yoyaku.accounts.providers import SCOPE_PURPOSES, requested_scopes

pytestmark = pytest.mark.django_db

EXCHANGE_EMAIL = "hana@example.com"
EXCHANGE_PASSWORD = "Exch-s3cret-pw"


@pytest.fixture
def exchange() -> Iterator[ExchangeEmulator]:
    server = start_exchange(email=EXCHANGE_EMAIL, password=EXCHANGE_PASSWORD)
    yield server
    server.stop()


def step(html: str, name: str) -> str:
    """The HTML of one step of the Connect dialog."""
    match = re.search(rf'<section class="step" data-step="{name}".*?</section>', html, re.S)
    assert match, f"no step {name!r}"
    return match.group(0)


def connect_button(html: str) -> dict[str, str]:
    return element(html, "button", id="connect-button")


def connected(user: User, **fields: object) -> CalendarConnection:
    values: dict[str, object] = {
        "provider": Provider.CALDAV,
        "account_email": user.email,
        "server_url": "http://127.0.0.1:9/dav/",
        "username": user.username,
    }
    connection = CalendarConnection(user=user, **(values | fields))
    connection.secret = "secret"
    connection.save()
    return connection


# -- the Connect button and its rules --------------------------------------------------------------


def test_connect_button_opens_a_dialog_with_the_four_providers(client_in: Client) -> None:
    html = client_in.get("/settings/calendar/").content.decode()
    assert "disabled" not in connect_button(html)
    assert elements(html, "dialog", id="connect-dialog")
    offered = [b["value"] for b in elements(html, "button", class_="provider")]
    assert offered == ["google", "microsoft", "exchange", "caldav"]
    choose = step(html, "choose")
    for label in ("Google / Gmail", "Office 365", "Exchange", "CalDAV"):
        assert label in choose


def test_without_the_personal_email_permission_the_button_is_disabled_with_the_reason(
    host: User, client_in: Client
) -> None:
    host.can_use_personal_email = False
    host.save()
    html = client_in.get("/settings/calendar/").content.decode()
    button = connect_button(html)
    assert "disabled" in button
    assert button["aria-describedby"] == "connect-blocked"
    reason = re.search(r'id="connect-blocked">(.*?)</div>', html, re.S)
    assert reason and "not allowed to use a personal email account" in reason.group(1)
    # The dialog is not opened for a blocked user, even when asked for in the address.
    assert "open" not in element(
        client_in.get("/settings/calendar/?connect=exchange").content.decode(), "dialog", id="connect-dialog"
    )


def test_when_already_connected_the_button_is_disabled_and_the_connection_is_shown(
    host: User, client_in: Client
) -> None:
    connected(host)
    html = client_in.get("/settings/calendar/").content.decode()
    assert "disabled" in connect_button(html)
    assert "You already have a calendar connected" in html
    assert 'data-health="ok"' in html and host.email in html
    assert 'href="/dashboard/#connection-' in html


def test_providers_the_administrator_did_not_configure_are_disabled_with_the_reason(
    client_in: Client,
) -> None:
    with override_settings(YOYAKU_GOOGLE_CLIENT_ID="", YOYAKU_MICROSOFT_CLIENT_ID="ms-client"):
        html = client_in.get("/settings/calendar/").content.decode()
    google = element(html, "button", class_="provider", value="google")
    assert "disabled" in google
    assert "Google is not configured by the administrator." in html
    assert "disabled" not in element(html, "button", class_="provider", value="microsoft")
    assert "disabled" not in element(html, "button", class_="provider", value="caldav")


# -- OAuth: the disclosure comes before any redirect -------------------------------------------------


@pytest.mark.parametrize(("provider", "name"), [("google", "Google"), ("microsoft", "Office 365")])
@override_settings(YOYAKU_GOOGLE_CLIENT_ID="g-client", YOYAKU_MICROSOFT_CLIENT_ID="ms-client")
def test_oauth_step_discloses_the_access_before_the_form_that_redirects(
    client_in: Client, provider: str, name: str
) -> None:
    response = client_in.get(f"/settings/calendar/?connect={provider}")
    assert response.status_code == 200  # showing the step never leaves the site
    html = step(response.content.decode(), provider)
    disclosure = html.index('class="disclosure"')
    form = html.index(f'action="/settings/calendar/connect/{provider}/"')
    assert disclosure < form
    shown = html[disclosure:form]
    # Every scope the authorization request asks for, by name, with what Yoyaku does with it.
    names = re.findall(r'<code class="mono scope-name">([^<]*)</code>', shown)
    assert names == list(requested_scopes(provider))
    for scope in requested_scopes(provider):
        assert escape(str(SCOPE_PURPOSES[scope])) in shown
    # Nothing it does not ask for: no mail, no creating calendars.
    assert "mail.send" not in shown.lower() and "gmail" not in shown.lower()
    assert "create and change calendars" not in shown
    assert element(html, "form", action=f"/settings/calendar/connect/{provider}/")["method"] == "post"
    assert 'name="csrfmiddlewaretoken"' in html[form:]
    accept = element(html, "button", type="submit")
    assert "disabled" not in accept
    assert f"Accept and connect to {name}</button>" in html


@pytest.mark.parametrize("provider", ["google", "microsoft"])
@override_settings(YOYAKU_GOOGLE_CLIENT_ID="g-client", YOYAKU_MICROSOFT_CLIENT_ID="ms-client")
def test_the_disclosure_names_each_scope_in_japanese_too(host: User, provider: str) -> None:
    client = Client(headers={"accept-language": "ja"})
    client.force_login(host)
    html = step(client.get(f"/settings/calendar/?connect={provider}").content.decode(), provider)
    shown = html[html.index('class="disclosure"') :]
    assert "接続すると、Yoyaku は次のことができるようになります:" in shown
    assert re.findall(r'<code class="mono scope-name">([^<]*)</code>', shown) == list(
        requested_scopes(provider)
    )
    with translation.override("ja"):
        purposes = [str(SCOPE_PURPOSES[scope]) for scope in requested_scopes(provider)]
    for purpose in purposes:
        assert escape(purpose) in shown
    assert all(any("\u3040" <= ch <= "\u30ff" for ch in purpose) for purpose in purposes)


@override_settings(YOYAKU_GOOGLE_CLIENT_ID="g-client")
def test_the_oauth_start_refuses_a_post_without_the_csrf_token(host: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(host)
    assert client.post("/settings/calendar/connect/google/").status_code == 403


def test_opening_a_step_by_address_renders_the_dialog_open_on_it(client_in: Client) -> None:
    html = client_in.get("/settings/calendar/?connect=caldav").content.decode()
    dialog = element(html, "dialog", id="connect-dialog")
    assert "open" in dialog and dialog["data-open-step"] == "caldav"
    assert "hidden" not in element(html, "section", data_step="caldav")
    assert "hidden" in element(html, "section", data_step="choose")


# -- Exchange --------------------------------------------------------------------------------------


def test_exchange_form_has_the_fields_and_the_help(client_in: Client) -> None:
    html = step(client_in.get("/settings/calendar/?connect=exchange").content.decode(), "exchange")
    assert "required" in element(html, "input", name="email")
    assert "required" in element(html, "input", name="password", type="password")
    assert "required" not in element(html, "input", name="username")
    ews = element(html, "input", name="ews_url")
    assert "required" not in ews
    assert ews["aria-describedby"] == "exchange-ews_url_helptext"
    assert "https://mail.example.com/EWS/Exchange.asmx" in html
    assert "not the Outlook Web App address" in html
    assert "autodiscover" in html
    for field in ("email", "password", "username", "ews_url"):
        assert f'<label for="exchange-{field}">' in html
    # Both forms are on the page: their fields must not share element ids.
    page = client_in.get("/settings/calendar/").content.decode()
    ids = [attrs["id"] for attrs in elements(page, "input") if "id" in attrs]
    assert len(ids) == len(set(ids))


def test_exchange_form_errors_keep_the_input_and_never_echo_the_password(client_in: Client) -> None:
    response = client_in.post(
        "/settings/calendar/exchange/",
        {
            "email": "hana@example.com",
            "password": "Sup3r-Secret!",
            "username": "CORP\\hana",
            "ews_url": "not a url",
        },
    )
    assert response.status_code == 200
    html = step(response.content.decode(), "exchange")
    assert "Sup3r-Secret!" not in response.content.decode()
    assert element(html, "input", name="email")["value"] == "hana@example.com"
    assert element(html, "input", name="username")["value"] == "CORP\\hana"
    assert element(html, "input", name="ews_url")["value"] == "not a url"
    assert "value" not in element(html, "input", name="password")
    assert element(html, "input", name="ews_url")["aria-invalid"] == "true"
    assert "Enter a valid URL." in html
    assert element(response.content.decode(), "dialog", id="connect-dialog")["data-open-step"] == "exchange"
    assert not CalendarConnection.objects.exists()


def test_exchange_missing_password_is_required(client_in: Client) -> None:
    page = client_in.post("/settings/calendar/exchange/", {"email": "hana@example.com"}).content.decode()
    html = step(page, "exchange")
    assert element(html, "input", name="password")["aria-invalid"] == "true"
    assert "This field is required." in html


def test_a_refused_exchange_login_shows_the_servers_reason_without_the_password(
    client_in: Client, exchange: ExchangeEmulator
) -> None:
    response = client_in.post(
        "/settings/calendar/exchange/",
        {"email": EXCHANGE_EMAIL, "password": "Wrong-pass-123", "ews_url": exchange.ews_url},
    )
    assert response.status_code == 200
    assert "Wrong-pass-123" not in response.content.decode()
    html = step(response.content.decode(), "exchange")
    alert = re.search(r'<div class="alert" role="alert"><p>(.*?)</p>', html, re.S)
    assert alert and alert.group(1).strip()
    assert element(html, "input", name="ews_url")["value"] == exchange.ews_url
    assert element(html, "input", name="email")["value"] == EXCHANGE_EMAIL
    assert not CalendarConnection.objects.exists()


def test_connecting_exchange_lands_on_the_dashboard(
    host: User, client_in: Client, exchange: ExchangeEmulator
) -> None:
    response = client_in.post(
        "/settings/calendar/exchange/",
        {"email": EXCHANGE_EMAIL, "password": EXCHANGE_PASSWORD, "ews_url": exchange.ews_url},
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    connection = CalendarConnection.objects.get(user=host)
    assert connection.provider == Provider.EXCHANGE and connection.account_email == EXCHANGE_EMAIL
    html = client_in.get("/dashboard/").content.decode()
    assert f"Your Exchange calendar {EXCHANGE_EMAIL} is connected." in html
    assert EXCHANGE_PASSWORD not in html


def test_exchange_form_needs_the_csrf_token(host: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(host)
    page = client.get("/settings/calendar/?connect=exchange").content.decode()
    assert 'name="csrfmiddlewaretoken"' in step(page, "exchange")
    response = client.post("/settings/calendar/exchange/", {"email": "hana@example.com", "password": "x"})
    assert response.status_code == 403


# -- CalDAV ----------------------------------------------------------------------------------------


def test_connecting_caldav_against_radicale(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    user = "bob"
    host_radicale.ensure_calendar("bob-work", username=user)
    response = client_in.post(
        "/settings/calendar/caldav/",
        {"url": host_radicale.url, "username": user, "password": host_radicale.users[user]},
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    connection = CalendarConnection.objects.get(user=host)
    assert connection.provider == Provider.CALDAV and connection.username == user
    assert InboxConnection.objects.filter(user=host, calendar_connection=connection).exists()


def test_a_wrong_caldav_password_keeps_url_and_username_only(
    client_in: Client, host_radicale: RadicaleServer
) -> None:
    response = client_in.post(
        "/settings/calendar/caldav/",
        {"url": host_radicale.url, "username": "bob", "password": "Not-bobs-pw-42"},
    )
    assert response.status_code == 200
    assert "Not-bobs-pw-42" not in response.content.decode()
    html = step(response.content.decode(), "caldav")
    assert element(html, "input", name="url")["value"] == host_radicale.url
    assert element(html, "input", name="username")["value"] == "bob"
    assert re.search(r'<div class="alert" role="alert"><p>\s*\S', html)
    assert not CalendarConnection.objects.exists()


def test_reconnect_opens_the_providers_form_filled_in_and_keeps_the_settings(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    calendar = host_radicale.ensure_calendar("alice-work")
    connection = connected(
        host,
        username=host_radicale.username,
        server_url=host_radicale.principal_url(),
        account_email=host.email,
        status=ConnectionStatus.NEEDS_RECONNECT,
        status_message="The password was refused.",
        conflict_calendar_ids=[calendar],
        write_calendar_id=calendar,
        tentative_blocks=False,
    )
    page = client_in.get(f"/settings/calendar/?reconnect={connection.pk}").content.decode()
    assert element(page, "dialog", id="connect-dialog")["data-open-step"] == "caldav"
    form = step(page, "caldav")
    assert element(form, "input", name="username")["value"] == host_radicale.username
    assert element(form, "input", name="reconnect")["value"] == str(connection.pk)
    assert "disabled" not in element(form, "button", type="submit")

    response = client_in.post(
        "/settings/calendar/caldav/",
        {
            "url": host_radicale.principal_url(),
            "username": host_radicale.username,
            "password": host_radicale.password,
            "reconnect": str(connection.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.OK
    assert connection.conflict_calendar_ids == [calendar] and connection.tentative_blocks is False
    assert CalendarConnection.objects.filter(user=host).count() == 1


def test_other_hosts_connections_are_not_reconnected_from_here(client_in: Client) -> None:
    other = connected(make_host("taro"), status=ConnectionStatus.NEEDS_RECONNECT)
    html = client_in.get(f"/settings/calendar/?reconnect={other.pk}").content.decode()
    assert "open" not in element(html, "dialog", id="connect-dialog")


def test_the_settings_page_speaks_japanese(client_in: Client) -> None:
    client_in.cookies["django_language"] = "ja"
    html = client_in.get("/settings/calendar/?connect=google").content.decode()
    assert "カレンダーを接続" in html
    assert 'lang="ja"' in html
