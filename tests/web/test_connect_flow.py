"""Connecting Google and Microsoft 365 through the browser flow, end to end.

The Django test client plays the browser on our side; the consent pages are the
emulators' own HTML forms, fetched and submitted over HTTP like a browser
would, and their redirect is delivered to our callback.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from tests.connection_helpers import (
    GOOGLE_ALLOW,
    GOOGLE_DENY,
    MICROSOFT_ALLOW,
    MICROSOFT_DENY,
    berlin,
    book,
    calendar_write_of,
    connect_in_browser,
    flash_messages,
    follow_to_callback,
    future_day,
    slots,
    submit_consent,
)
from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import DEFAULT_EMAIL as MS_EMAIL
from tests.emulators.microsoft import MicrosoftEmulator
from tests.factories import make_host, make_link, sync_now
from tests.providers import GOOGLE_EMAIL
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, InboxConnection, User
from yoyaku.accounts.providers import requested_scopes, scope_disclosure
from yoyaku.calendar_sync.services import sync_connection_now
from yoyaku.calendars.google_oauth import GOOGLE_SCOPES
from yoyaku.calendars.microsoft_oauth import MICROSOFT_CONSENT_SCOPES
from yoyaku.calendars.oauth import OAuthTokens
from yoyaku.scheduling.models import Booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    user = make_host()
    make_link(user)
    return user


@pytest.fixture
def browser(host: User) -> Client:
    client = Client()
    client.force_login(host)
    return client


def test_start_needs_login_and_post(google: GoogleEmulator) -> None:
    anonymous = Client().post("/settings/calendar/connect/google/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    user = make_host("ken")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/settings/calendar/connect/google/").status_code == 405
    # Without the CSRF token a cross-site form cannot start a connection.
    assert client.post("/settings/calendar/connect/google/").status_code == 403


def test_google_authorization_request_uses_pkce_state_and_offline_access(
    google: GoogleEmulator, browser: Client
) -> None:
    start = browser.post("/settings/calendar/connect/google/")
    query = {k: v[0] for k, v in parse_qs(urlsplit(start["Location"]).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["access_type"] == "offline"
    assert query["redirect_uri"] == "http://testserver/oauth/google/callback"
    stored = browser.session["yoyaku.oauth.google"]
    assert stored["state"] == query["state"]
    # The verifier stays on the server; only its hash travels.
    assert stored["code_verifier"] not in start["Location"]


def test_the_authorization_requests_ask_for_exactly_the_disclosed_scopes(
    google: GoogleEmulator, microsoft: MicrosoftEmulator, browser: Client
) -> None:
    for provider, expected in (("google", GOOGLE_SCOPES), ("microsoft", MICROSOFT_CONSENT_SCOPES)):
        start = browser.post(f"/settings/calendar/connect/{provider}/")
        asked = parse_qs(urlsplit(start["Location"]).query)["scope"][0].split()
        assert sorted(asked) == sorted(expected) == sorted(requested_scopes(provider)), provider
        assert [scope for scope, _purpose in scope_disclosure(provider=provider)] == list(expected)
        assert not [scope for scope in asked if "gmail" in scope or "Mail." in scope]


def test_google_end_to_end(google: GoogleEmulator, host: User, browser: Client) -> None:
    done = connect_in_browser(browser, "google", button=GOOGLE_ALLOW)
    assert done.status_code == 302
    assert done["Location"] == "/dashboard/"
    assert any("connected" in m for m in flash_messages(done))
    connection = CalendarConnection.objects.get(user=host)
    assert (connection.provider, connection.account_email, connection.status) == (
        "google",
        GOOGLE_EMAIL,
        "ok",
    )
    tokens = OAuthTokens.from_json(connection.secret)
    assert tokens.refresh_token
    # Encrypted at rest: the stored column holds neither token.
    assert tokens.refresh_token not in connection.secret_encrypted
    assert tokens.access_token not in connection.secret_encrypted
    inbox = InboxConnection.objects.get(user=host)
    assert (inbox.email, inbox.shared, inbox.calendar_connection_id) == (GOOGLE_EMAIL, False, connection.pk)

    day = future_day()
    google.add_event(
        GOOGLE_EMAIL,
        {
            "summary": "Dentist",
            "start": {"dateTime": berlin(day, 10).isoformat()},
            "end": {"dateTime": berlin(day, 11).isoformat()},
        },
    )
    sync_now(connection)
    offered, data = slots("intro", day, day + timedelta(days=1))
    assert data["offline"] is False and data["calendar_error"] == ""
    assert "10:00" not in offered[day.isoformat()] and "10:30" not in offered[day.isoformat()]
    assert {"09:30", "11:00"} <= set(offered[day.isoformat()])
    assert "10:00" in offered[(day + timedelta(days=1)).isoformat()]

    booked = book("intro", berlin(day, 11))
    assert booked.status_code == 201, booked.content
    assert calendar_write_of(booked) == "written"
    events = [e for e in google.events(GOOGLE_EMAIL) if e["summary"] != "Dentist"]
    assert len(events) == 1
    assert "aiko@example.com" in [a["email"] for a in events[0].get("attendees", [])]
    assert events[0]["id"] == Booking.objects.get(pk=booked.json()["id"]).calendar_event_id


def test_microsoft_end_to_end(microsoft: MicrosoftEmulator, host: User, browser: Client) -> None:
    done = connect_in_browser(browser, "microsoft", button=MICROSOFT_ALLOW)
    assert done.status_code == 302
    assert done["Location"] == "/dashboard/", flash_messages(done)
    connection = CalendarConnection.objects.get(user=host)
    assert (connection.provider, connection.account_email.lower(), connection.status) == (
        "microsoft",
        MS_EMAIL,
        "ok",
    )
    assert OAuthTokens.from_json(connection.secret).refresh_token
    # PKCE on the wire: the code was redeemed with a verifier.
    redeemed = [r for r in microsoft.token_requests if r.get("grant_type") == "authorization_code"]
    assert redeemed and redeemed[0].get("code_verifier")
    assert InboxConnection.objects.filter(user=host, calendar_connection=connection, shared=False).exists()

    day = future_day()
    microsoft.add_event(subject="Dentist", start=berlin(day, 10), end=berlin(day, 11))
    sync_now(connection)
    offered, data = slots("intro", day, day + timedelta(days=1))
    assert data["calendar_error"] == ""
    assert "10:00" not in offered[day.isoformat()] and "10:30" not in offered[day.isoformat()]
    assert "11:00" in offered[day.isoformat()]
    assert "10:00" in offered[(day + timedelta(days=1)).isoformat()]

    booked = book("intro", berlin(day, 11))
    assert booked.status_code == 201, booked.content
    assert calendar_write_of(booked) == "written"
    created = [e for e in microsoft.events() if e["subject"] != "Dentist"]
    assert len(created) == 1
    assert "aiko@example.com" in [a["emailAddress"]["address"] for a in created[0]["attendees"]]


@pytest.mark.parametrize(("provider", "deny"), [("google", GOOGLE_DENY), ("microsoft", MICROSOFT_DENY)])
def test_denied_consent_connects_nothing(
    google: GoogleEmulator,
    microsoft: MicrosoftEmulator,
    browser: Client,
    host: User,
    provider: str,
    deny: str,
) -> None:
    done = connect_in_browser(browser, provider, button=deny)
    assert done["Location"] == "/settings/calendar/"
    assert any("did not allow" in m for m in flash_messages(done))
    assert not CalendarConnection.objects.filter(user=host).exists()


@pytest.mark.parametrize(("provider", "allow"), [("google", GOOGLE_ALLOW), ("microsoft", MICROSOFT_ALLOW)])
def test_forged_state_is_refused(
    google: GoogleEmulator,
    microsoft: MicrosoftEmulator,
    browser: Client,
    host: User,
    provider: str,
    allow: str,
) -> None:
    start = browser.post(f"/settings/calendar/connect/{provider}/")
    callback = submit_consent(start["Location"], button=allow)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    done = follow_to_callback(browser, callback.replace(f"state={state}", "state=forged"))
    assert done["Location"] == "/settings/calendar/"
    assert any("does not belong" in m for m in flash_messages(done))
    assert not CalendarConnection.objects.filter(user=host).exists()


def test_callback_of_another_session_is_refused(google: GoogleEmulator, browser: Client, host: User) -> None:
    """A code obtained by someone else's start (login CSRF / session swap) finds no flow here."""
    attacker = make_host("mallory")
    other = Client()
    other.force_login(attacker)
    start = other.post("/settings/calendar/connect/google/")
    callback = submit_consent(start["Location"], button=GOOGLE_ALLOW)
    done = follow_to_callback(browser, callback)
    assert done["Location"] == "/settings/calendar/"
    assert not CalendarConnection.objects.exists()


def test_a_reused_code_is_refused(google: GoogleEmulator, browser: Client, host: User) -> None:
    start = browser.post("/settings/calendar/connect/google/")
    session_data = browser.session["yoyaku.oauth.google"]
    callback = submit_consent(start["Location"], button=GOOGLE_ALLOW)
    assert follow_to_callback(browser, callback)["Location"] == "/dashboard/"
    CalendarConnection.objects.all().delete()
    # Replay the same callback with the flow restored: Google answers invalid_grant.
    session = browser.session
    session["yoyaku.oauth.google"] = session_data
    session.save()
    again = follow_to_callback(browser, callback)
    assert again["Location"] == "/settings/calendar/"
    assert any("expired or was already used" in m for m in flash_messages(again))
    assert not CalendarConnection.objects.exists()


def test_refused_start_says_why(google: GoogleEmulator, browser: Client, host: User) -> None:
    User.objects.filter(pk=host.pk).update(can_use_personal_email=False)
    start = browser.post("/settings/calendar/connect/google/")
    assert start["Location"] == "/settings/calendar/"
    assert any("personal email" in m for m in flash_messages(start))


def test_unconfigured_provider_is_not_offered(browser: Client) -> None:
    start = browser.post("/settings/calendar/connect/google/")
    assert start["Location"] == "/settings/calendar/"
    assert any("not configured by the administrator" in m for m in flash_messages(start))


def test_revoked_google_grant_fails_closed_until_reconnected(
    google: GoogleEmulator, host: User, browser: Client
) -> None:
    assert connect_in_browser(browser, "google", button=GOOGLE_ALLOW)["Location"] == "/dashboard/"
    connection = CalendarConnection.objects.get(user=host)
    google.revoke(GOOGLE_EMAIL)
    google.expire_access_tokens()
    day = future_day()

    assert not sync_connection_now(connection_id=connection.pk)  # the sync meets the revoked grant
    offered, data = slots("intro", day)
    assert data["calendar_error"]
    assert offered.get(day.isoformat(), []) == []
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "reconnect" in connection.status_message.lower()
    # Nor can a booking slip through.
    assert book("intro", berlin(day, 11)).status_code == 503

    # Reconnecting the same account repairs the connection in place.
    done = connect_in_browser(browser, "google", button=GOOGLE_ALLOW)
    assert done["Location"] == "/dashboard/", flash_messages(done)
    assert list(CalendarConnection.objects.filter(user=host).values_list("pk", "status")) == [
        (connection.pk, "ok")
    ]
    offered, data = slots("intro", day)
    assert data["calendar_error"] == ""
    assert "11:00" in offered[day.isoformat()]


def test_revoked_microsoft_grant_marks_needs_reconnect(
    microsoft: MicrosoftEmulator, host: User, browser: Client
) -> None:
    assert connect_in_browser(browser, "microsoft", button=MICROSOFT_ALLOW)["Location"] == "/dashboard/"
    microsoft.revoke_grants()
    day = future_day()
    assert not sync_connection_now(connection_id=CalendarConnection.objects.get(user=host).pk)
    offered, data = slots("intro", day)
    assert data["calendar_error"] and offered.get(day.isoformat(), []) == []
    connection = CalendarConnection.objects.get(user=host)
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "reconnect" in connection.status_message.lower()


@pytest.mark.parametrize(("provider", "allow"), [("google", GOOGLE_ALLOW), ("microsoft", MICROSOFT_ALLOW)])
def test_refreshed_tokens_are_stored(
    google: GoogleEmulator,
    microsoft: MicrosoftEmulator,
    host: User,
    browser: Client,
    provider: str,
    allow: str,
) -> None:
    assert connect_in_browser(browser, provider, button=allow)["Location"] == "/dashboard/"
    before = OAuthTokens.from_json(CalendarConnection.objects.get(user=host).secret)
    (google if provider == "google" else microsoft).expire_access_tokens()
    # Make the stored expiry past too, so the adapter refreshes before calling.
    connection = CalendarConnection.objects.get(user=host)
    connection.secret = OAuthTokens(
        access_token=before.access_token,
        refresh_token=before.refresh_token,
        expires_at=before.expires_at - timedelta(days=1),
        scope=before.scope,
        account_email=before.account_email,
    ).to_json()
    connection.save()
    sync_now(connection)
    day = future_day()
    offered, data = slots("intro", day)
    assert data["calendar_error"] == "" and offered[day.isoformat()]
    after = OAuthTokens.from_json(CalendarConnection.objects.get(user=host).secret)
    assert after.access_token != before.access_token
    assert after.expires_at > before.expires_at
