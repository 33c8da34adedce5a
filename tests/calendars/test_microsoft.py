"""The Microsoft 365 adapter (msal + Graph over httpx) against the local Entra ID/Graph emulator."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
from werkzeug.wrappers import Request, Response

import yoyaku.calendars.microsoft as ms
from tests.emulators import microsoft as emulator_module
from tests.emulators.base import ServerThread
from tests.emulators.microsoft import DEFAULT_EMAIL, MicrosoftEmulator
from yoyaku.calendars.base import (
    Attendee,
    BusyInterval,
    CalendarAuthError,
    CalendarUnavailable,
    EventDraft,
)
from yoyaku.calendars.microsoft import (
    GRAPH_SCOPES,
    GraphRequestError,
    InvalidNotification,
    MicrosoftApp,
    MicrosoftCalendar,
    MicrosoftEndpoints,
    finish_authorization,
    max_subscription_expiration,
    refresh_tokens,
    resolve_time_zone,
    start_authorization,
    transaction_id,
    validate_notification,
    validation_token,
    verify_connection,
)
from yoyaku.calendars.oauth import GrantRevoked, OAuthError, OAuthTokens

REDIRECT = "http://127.0.0.1:9/accounts/microsoft/callback"
UTCZ = UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[MicrosoftEmulator]:
    emu = emulator_module.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def app(emulator: MicrosoftEmulator) -> MicrosoftApp:
    return MicrosoftApp(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        redirect_uri=REDIRECT,
        endpoints=MicrosoftEndpoints(authority_transport=emulator.url, graph=emulator.graph_url),
        timeout=2.0,
        retry_after_cap=2.0,
    )


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def connect(app: MicrosoftApp) -> OAuthTokens:
    """The whole code flow, approving on the emulator's consent page."""
    auth = start_authorization(app=app)
    page = requests.get(auth.url, timeout=5)
    assert "Accept" in page.text
    form = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth.url).query))
    answer = requests.post(
        auth.url.split("?")[0], data={**form, "consent": "allow"}, allow_redirects=False, timeout=5
    )
    return finish_authorization(
        app=app, flow=json.loads(json.dumps(auth.flow)), params=redirect_params(answer)
    )


@pytest.fixture
def tokens(app: MicrosoftApp) -> OAuthTokens:
    return connect(app)


@pytest.fixture
def saved() -> list[OAuthTokens]:
    return []


@pytest.fixture
def adapter(app: MicrosoftApp, tokens: OAuthTokens, saved: list[OAuthTokens]) -> Iterator[MicrosoftCalendar]:
    cal = MicrosoftCalendar(
        app=app,
        tokens=tokens,
        on_tokens=saved.append,
        time_zone="Asia/Kolkata",
        timeout=0.5,
        backoff=0.01,
        retry_after_cap=2.0,
    )
    yield cal
    cal.close()


def draft(uid: str = "booking-1", **overrides: Any) -> EventDraft:
    values: dict[str, Any] = {
        "uid": uid,
        "title": "Intro call",
        "start": utc(2025, 3, 12, 9, 0),
        "end": utc(2025, 3, 12, 9, 30),
        "description": "Booked through Yoyaku",
        "location": "Teams",
        "attendees": (Attendee(email="carol@fabrikam.example", name="Carol"),),
    }
    values.update(overrides)
    return EventDraft(**values)


# --------------------------------------------------------------------------- OAuth


def test_code_flow_with_pkce_and_state(app: MicrosoftApp, emulator: MicrosoftEmulator) -> None:
    auth = start_authorization(app=app)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth.url).query))
    assert auth.url.startswith(emulator.url)
    assert query["code_challenge_method"] == "S256"
    assert query["state"] == auth.flow["state"]
    assert set(GRAPH_SCOPES) <= set(query["scope"].split())
    assert "offline_access" in query["scope"].split()

    tokens = connect(app)
    assert tokens.account_email == DEFAULT_EMAIL
    assert tokens.refresh_token
    assert tokens.expires_at > datetime.now(tz=UTC)
    redeemed = [r for r in emulator.token_requests if r.get("grant_type") == "authorization_code"]
    assert redeemed and redeemed[-1]["code_verifier"]


def test_auto_approve_redirects_without_a_page(app: MicrosoftApp) -> None:
    auth = start_authorization(app=app)
    answer = requests.get(auth.url + "&auto_approve=1", allow_redirects=False, timeout=5)
    tokens = finish_authorization(app=app, flow=auth.flow, params=redirect_params(answer))
    assert tokens.account_email == DEFAULT_EMAIL


def test_state_mismatch_is_rejected(app: MicrosoftApp) -> None:
    auth = start_authorization(app=app)
    answer = requests.get(auth.url + "&auto_approve=1", allow_redirects=False, timeout=5)
    params = redirect_params(answer)
    params["state"] = "forged"
    with pytest.raises(OAuthError, match="does not belong"):
        finish_authorization(app=app, flow=auth.flow, params=params)


def test_pkce_verifier_mismatch_is_rejected(app: MicrosoftApp, emulator: MicrosoftEmulator) -> None:
    auth = start_authorization(app=app)
    answer = requests.get(auth.url + "&auto_approve=1", allow_redirects=False, timeout=5)
    flow = dict(auth.flow, code_verifier="x" * 64)
    with pytest.raises(OAuthError, match="did not accept"):
        finish_authorization(app=app, flow=flow, params=redirect_params(answer))
    assert emulator.access_tokens == {}


def test_declined_consent(app: MicrosoftApp) -> None:
    auth = start_authorization(app=app)
    form = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth.url).query))
    answer = requests.post(
        auth.url.split("?")[0], data={**form, "consent": "deny"}, allow_redirects=False, timeout=5
    )
    params = redirect_params(answer)
    assert params["error"] == "access_denied"
    with pytest.raises(OAuthError, match="not granted"):
        finish_authorization(app=app, flow=auth.flow, params=params)


def test_wrong_client_secret(app: MicrosoftApp, emulator: MicrosoftEmulator) -> None:
    bad = MicrosoftApp(
        client_id=app.client_id, client_secret="wrong", redirect_uri=REDIRECT, endpoints=app.endpoints
    )
    auth = start_authorization(app=bad)
    answer = requests.get(auth.url + "&auto_approve=1", allow_redirects=False, timeout=5)
    with pytest.raises(OAuthError, match="credentials were rejected"):
        finish_authorization(app=bad, flow=auth.flow, params=redirect_params(answer))


def test_refresh_and_revoked_grant(
    app: MicrosoftApp, tokens: OAuthTokens, emulator: MicrosoftEmulator
) -> None:
    fresh = refresh_tokens(app=app, tokens=tokens)
    assert fresh.access_token != tokens.access_token
    assert fresh.account_email == DEFAULT_EMAIL
    emulator.revoke_grants()
    with pytest.raises(GrantRevoked) as caught:
        refresh_tokens(app=app, tokens=fresh)
    assert isinstance(caught.value, CalendarAuthError)


def test_token_endpoint_faults_are_retried(
    app: MicrosoftApp, tokens: OAuthTokens, emulator: MicrosoftEmulator
) -> None:
    emulator.faults.add(status=503, retry_after=1, path_contains="/oauth2/v2.0/token", count=1)
    emulator.faults.add(status=500, path_contains="/oauth2/v2.0/token", count=1)
    fresh = refresh_tokens(app=app, tokens=tokens)
    assert fresh.access_token
    assert len([h for h in emulator.faults.hits if "token" in h]) == 2


def test_token_endpoint_down_is_unavailable(
    app: MicrosoftApp, tokens: OAuthTokens, emulator: MicrosoftEmulator
) -> None:
    emulator.faults.add(status=503, path_contains="/oauth2/v2.0/token", count=100)
    with pytest.raises(CalendarUnavailable):
        refresh_tokens(app=app, tokens=tokens)


# --------------------------------------------------------------------------- connection and token refresh


def test_verify_connection(app: MicrosoftApp, tokens: OAuthTokens, emulator: MicrosoftEmulator) -> None:
    extra = emulator.add_calendar("Shared team", can_edit=False)
    connection = verify_connection(app=app, tokens=tokens)
    assert connection.email == DEFAULT_EMAIL
    assert connection.display_name == "Hana Host"
    by_id = {c.id: c for c in connection.calendars}
    assert by_id[emulator.default_calendar_id()].primary
    assert by_id[extra].name == "Shared team"
    assert not by_id[extra].writable


def test_expired_access_token_is_refreshed(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator, saved: list[OAuthTokens]
) -> None:
    old = adapter.tokens.access_token
    emulator.expire_access_tokens()  # the server rejects it while we still think it is valid
    assert adapter.list_calendars()
    assert adapter.tokens.access_token != old
    assert saved and saved[-1].access_token == adapter.tokens.access_token


def test_locally_expired_token_is_refreshed_before_the_call(app: MicrosoftApp, tokens: OAuthTokens) -> None:
    stale = OAuthTokens(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=datetime.now(tz=UTC) - timedelta(minutes=5),
        account_email=tokens.account_email,
    )
    saved: list[OAuthTokens] = []
    cal = MicrosoftCalendar(app=app, tokens=stale, on_tokens=saved.append)
    assert cal.me()[0] == DEFAULT_EMAIL
    assert len(saved) == 1 and not saved[0].expired()


def test_revoked_grant_surfaces_from_busy(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    emulator.revoke_grants()
    with pytest.raises(GrantRevoked):
        adapter.busy(start=utc(2025, 3, 1), end=utc(2025, 3, 2))


def test_missing_permission_is_an_auth_error(app: MicrosoftApp, emulator: MicrosoftEmulator) -> None:
    issued = emulator.issue_tokens(scopes=["User.Read", "offline_access"])
    limited = OAuthTokens(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=datetime.now(tz=UTC) + timedelta(hours=1),
    )
    cal = MicrosoftCalendar(app=app, tokens=limited)
    with pytest.raises(CalendarAuthError, match="permission"):
        cal.busy(start=utc(2025, 3, 1), end=utc(2025, 3, 2))


# --------------------------------------------------------------------------- busy time


def test_busy_semantics(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    day = (2025, 3, 12)
    emulator.add_event(subject="busy", start=utc(*day, 9), end=utc(*day, 10))
    emulator.add_event(subject="free", start=utc(*day, 10), end=utc(*day, 11), show_as="free")
    emulator.add_event(subject="tentative", start=utc(*day, 11), end=utc(*day, 12), show_as="tentative")
    emulator.add_event(subject="oof", start=utc(*day, 12), end=utc(*day, 13), show_as="oof")
    emulator.add_event(
        subject="elsewhere", start=utc(*day, 13), end=utc(*day, 14), show_as="workingElsewhere"
    )
    emulator.add_event(subject="cancelled", start=utc(*day, 14), end=utc(*day, 15), is_cancelled=True)
    emulator.add_event(
        subject="declined", start=utc(*day, 15), end=utc(*day, 16), response="declined", is_organizer=False
    )
    emulator.add_event(
        subject="accepted", start=utc(*day, 16), end=utc(*day, 17), response="accepted", is_organizer=False
    )
    emulator.add_event(subject="unknown", start=utc(*day, 17), end=utc(*day, 18), show_as="unknown")
    busy = adapter.busy(start=utc(*day), end=utc(2025, 3, 13))
    assert busy == [
        BusyInterval(utc(*day, 9), utc(*day, 10), "busy"),
        BusyInterval(utc(*day, 11), utc(*day, 12), "tentative"),
        BusyInterval(utc(*day, 12), utc(*day, 13), "oof"),
        BusyInterval(utc(*day, 16), utc(*day, 17), "busy"),
        BusyInterval(utc(*day, 17), utc(*day, 18), "busy"),
    ]


def test_busy_is_clipped_to_the_window(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    emulator.add_event(start=utc(2025, 3, 11, 22), end=utc(2025, 3, 12, 2))
    assert adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13)) == [
        BusyInterval(utc(2025, 3, 12), utc(2025, 3, 12, 2))
    ]


def test_all_day_events_are_days_in_the_events_own_zone(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator
) -> None:
    # The host is in Asia/Kolkata, the event was written in Tokyo (UTC+9): Tokyo's days count.
    emulator.add_event(
        subject="offsite", start=date(2025, 3, 12), end=date(2025, 3, 14), time_zone="Tokyo Standard Time"
    )
    busy = adapter.busy(start=utc(2025, 3, 10), end=utc(2025, 3, 20))
    assert busy == [BusyInterval(utc(2025, 3, 11, 15), utc(2025, 3, 13, 15))]


def test_all_day_events_without_a_zone_are_days_in_the_mailboxs_zone(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator
) -> None:
    emulator.account().time_zone = "Pacific Standard Time"
    event_id = emulator.add_event(subject="offsite", start=date(2025, 3, 12), end=date(2025, 3, 13))
    emulator.account().default_calendar.events[event_id].pop("originalStartTimeZone")
    busy = adapter.busy(start=utc(2025, 3, 10), end=utc(2025, 3, 20))
    assert busy == [BusyInterval(utc(2025, 3, 12, 7), utc(2025, 3, 13, 7))]  # PDT is UTC-7


def test_all_day_events_fall_back_to_the_hosts_zone_without_mailbox_permission(
    app: MicrosoftApp, emulator: MicrosoftEmulator
) -> None:
    issued = emulator.issue_tokens(scopes=["User.Read", "Calendars.ReadWrite", "offline_access"])
    tokens = OAuthTokens(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=datetime.now(tz=UTC) + timedelta(hours=1),
    )
    emulator.account().time_zone = "Pacific Standard Time"
    event_id = emulator.add_event(subject="offsite", start=date(2025, 3, 12), end=date(2025, 3, 13))
    emulator.account().default_calendar.events[event_id].pop("originalStartTimeZone")
    cal = MicrosoftCalendar(app=app, tokens=tokens, time_zone="Asia/Kolkata")
    try:
        busy = cal.busy(start=utc(2025, 3, 10), end=utc(2025, 3, 20))
    finally:
        cal.close()
    # Asia/Kolkata is UTC+05:30: the day starts at 18:30 UTC the evening before.
    assert busy == [BusyInterval(utc(2025, 3, 11, 18, 30), utc(2025, 3, 12, 18, 30))]


def test_windows_time_zone_names_in_responses(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator
) -> None:
    emulator.honour_prefer_timezone = False  # the mailbox answers in each event's own zone
    berlin = resolve_time_zone("W. Europe Standard Time")
    emulator.add_event(
        start=datetime(2025, 7, 1, 9, 0, tzinfo=berlin),
        end=datetime(2025, 7, 1, 10, 0, tzinfo=berlin),
        time_zone="W. Europe Standard Time",
    )
    india = resolve_time_zone("India Standard Time")
    emulator.add_event(
        start=datetime(2025, 7, 1, 15, 0, tzinfo=india),
        end=datetime(2025, 7, 1, 15, 45, tzinfo=india),
        time_zone="India Standard Time",
    )
    raw = emulator.events()
    assert {e["start"]["timeZone"] for e in raw} == {"W. Europe Standard Time", "India Standard Time"}
    assert adapter.busy(start=utc(2025, 7, 1), end=utc(2025, 7, 2)) == [
        BusyInterval(utc(2025, 7, 1, 7), utc(2025, 7, 1, 8)),  # CEST is UTC+2
        BusyInterval(utc(2025, 7, 1, 9, 30), utc(2025, 7, 1, 10, 15)),
    ]


def test_resolve_time_zone() -> None:
    assert resolve_time_zone("UTC") is UTC
    assert resolve_time_zone("tzone://Microsoft/Utc") is UTC
    assert str(resolve_time_zone("Pacific Standard Time")) == "America/Los_Angeles"
    assert str(resolve_time_zone("Europe/Paris")) == "Europe/Paris"
    assert str(resolve_time_zone("Chatham Islands Standard Time")) == "Pacific/Chatham"
    fallback = resolve_time_zone("Asia/Tokyo")
    assert resolve_time_zone("Customized Time Zone 7", fallback=fallback) is fallback


def test_recurring_series_with_exceptions(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    berlin = resolve_time_zone("W. Europe Standard Time")
    series = emulator.add_event(
        subject="weekly",
        start=datetime(2025, 3, 3, 9, 0, tzinfo=berlin),
        end=datetime(2025, 3, 3, 10, 0, tzinfo=berlin),
        time_zone="W. Europe Standard Time",
        recurrence={
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": ["monday"],
                "firstDayOfWeek": "monday",
            },
            "range": {"type": "numbered", "startDate": "2025-03-03", "numberOfOccurrences": 6},
        },
    )
    emulator.delete_occurrence(series, datetime(2025, 3, 10, 9, 0, tzinfo=berlin))
    emulator.modify_occurrence(
        series,
        datetime(2025, 3, 17, 9, 0, tzinfo=berlin),
        start={"dateTime": "2025-03-18T12:00:00", "timeZone": "UTC"},
        end={"dateTime": "2025-03-18T13:00:00", "timeZone": "UTC"},
    )
    # The last occurrence (7 April) is moved into the window; the window ends 5 April.
    emulator.modify_occurrence(
        series,
        datetime(2025, 4, 7, 9, 0, tzinfo=berlin),
        start={"dateTime": "2025-04-04T15:00:00", "timeZone": "UTC"},
        end={"dateTime": "2025-04-04T16:00:00", "timeZone": "UTC"},
        showAs="tentative",
    )
    busy = adapter.busy(start=utc(2025, 3, 1), end=utc(2025, 4, 5))
    assert busy == [
        BusyInterval(utc(2025, 3, 3, 8), utc(2025, 3, 3, 9)),
        BusyInterval(utc(2025, 3, 18, 12), utc(2025, 3, 18, 13)),
        BusyInterval(utc(2025, 3, 24, 8), utc(2025, 3, 24, 9)),
        BusyInterval(utc(2025, 3, 31, 7), utc(2025, 3, 31, 8)),  # after the switch to summer time
        BusyInterval(utc(2025, 4, 4, 15), utc(2025, 4, 4, 16), "tentative"),
    ]


def test_selected_calendars_and_paging(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ms, "PAGE_SIZE", 3)
    other = emulator.add_calendar("Personal")
    for hour in range(8):
        emulator.add_event(start=utc(2025, 3, 12, hour), end=utc(2025, 3, 12, hour, 30))
    emulator.add_event(start=utc(2025, 3, 12, 20), end=utc(2025, 3, 12, 21), calendar_id=other)
    window = {"start": utc(2025, 3, 12), "end": utc(2025, 3, 13)}
    assert len(adapter.busy(**window)) == 8
    both = adapter.busy(**window, calendar_ids=[emulator.default_calendar_id(), other])
    assert len(both) == 9
    assert both[-1] == BusyInterval(utc(2025, 3, 12, 20), utc(2025, 3, 12, 21))
    assert adapter.busy(**window, calendar_ids=[other]) == [both[-1]]


def test_schedule_busy_from_get_schedule(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    emulator.add_event(start=utc(2025, 3, 12, 9), end=utc(2025, 3, 12, 10))
    emulator.add_event(start=utc(2025, 3, 12, 10), end=utc(2025, 3, 12, 11), show_as="free")
    emulator.add_event(start=utc(2025, 3, 12, 11), end=utc(2025, 3, 12, 12), show_as="tentative")
    emulator.add_event(start=utc(2025, 3, 12, 12), end=utc(2025, 3, 12, 13), show_as="workingElsewhere")
    emulator.add_event(start=utc(2025, 3, 12, 13), end=utc(2025, 3, 12, 14), show_as="oof")
    assert adapter.schedule_busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13)) == [
        BusyInterval(utc(2025, 3, 12, 9), utc(2025, 3, 12, 10), "busy"),
        BusyInterval(utc(2025, 3, 12, 11), utc(2025, 3, 12, 12), "tentative"),
        BusyInterval(utc(2025, 3, 12, 13), utc(2025, 3, 12, 14), "oof"),
    ]
    with pytest.raises(CalendarUnavailable):
        adapter.schedule_busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13), email="nobody@contoso.example")


# --------------------------------------------------------------------------- writes


def test_create_event_invites_the_contact(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    event_id = adapter.create_event(draft=draft())
    stored = emulator.event(event_id)
    assert stored["subject"] == "Intro call"
    assert stored["transactionId"] == transaction_id("booking-1")
    assert [a["emailAddress"]["address"] for a in stored["attendees"]] == ["carol@fabrikam.example"]
    assert stored["attendees"][0]["status"]["response"] == "none"
    assert stored["start"] == {"dateTime": "2025-03-12T09:00:00.0000000", "timeZone": "UTC"}
    assert [m["kind"] for m in emulator.messages] == ["invitation"]
    assert emulator.messages[0]["to"] == ["carol@fabrikam.example"]
    assert adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13)) == [
        BusyInterval(utc(2025, 3, 12, 9), utc(2025, 3, 12, 9, 30))
    ]


def test_create_is_idempotent_per_booking(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    first = adapter.create_event(draft=draft())
    again = adapter.create_event(draft=draft())
    assert first == again
    assert len(emulator.events()) == 1
    assert len(emulator.messages) == 1
    assert adapter.create_event(draft=draft(uid="booking-2")) != first


def test_create_in_a_chosen_calendar(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    other = emulator.add_calendar("Bookings")
    event_id = adapter.create_event(draft=draft(), calendar_id=other)
    assert [e["id"] for e in emulator.events(other)] == [event_id]
    assert emulator.events() == []


def test_create_retried_after_timeout_makes_one_event(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator
) -> None:
    emulator.faults.add(delay=1.0, path_contains="/v1.0/me/events", method="POST")
    event_id = adapter.create_event(draft=draft())
    # Wait for the slow first request to finish on the server side too.
    deadline = datetime.now(tz=UTC) + timedelta(seconds=5)
    while datetime.now(tz=UTC) < deadline and len(emulator.faults.hits) < 1:
        threading.Event().wait(0.05)
    threading.Event().wait(1.2)
    assert [e["id"] for e in emulator.events()] == [event_id]
    assert len(emulator.messages) == 1


def test_update_event(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    event_id = adapter.create_event(draft=draft())
    adapter.update_event(
        event_id=event_id,
        draft=draft(title="Intro call (moved)", start=utc(2025, 3, 13, 14), end=utc(2025, 3, 13, 15)),
    )
    stored = emulator.event(event_id)
    assert stored["subject"] == "Intro call (moved)"
    assert stored["start"]["dateTime"].startswith("2025-03-13T14:00:00")
    assert stored["transactionId"] == transaction_id("booking-1")
    assert [m["kind"] for m in emulator.messages] == ["invitation", "update"]


def test_cancel_event(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    event_id = adapter.create_event(draft=draft())
    adapter.cancel_event(event_id=event_id, comment="The booking was cancelled.")
    assert emulator.event(event_id)["isCancelled"] is True
    assert emulator.events() == []
    assert emulator.messages[-1] == {
        "kind": "cancellation",
        "event_id": event_id,
        "comment": "The booking was cancelled.",
        "to": ["carol@fabrikam.example"],
    }
    adapter.cancel_event(event_id=event_id)  # already gone: nothing to do
    assert adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13)) == []


def test_cancel_non_meeting_falls_back_to_delete(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator
) -> None:
    event_id = emulator.add_event(start=utc(2025, 3, 12, 9), end=utc(2025, 3, 12, 10), is_organizer=False)
    adapter.cancel_event(event_id=event_id)
    assert emulator.events() == []


# --------------------------------------------------------------------------- sync


def test_incremental_sync(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ms, "DELTA_PAGE_SIZE", 2)
    base = datetime.now(tz=UTC).replace(microsecond=0) + timedelta(days=2)
    ids = [
        emulator.add_event(
            subject=f"e{i}", start=base + timedelta(hours=i), end=base + timedelta(hours=i, minutes=30)
        )
        for i in range(5)
    ]
    first = adapter.sync(token=None)
    assert first.full
    assert sorted(e.id for e in first.changed) == sorted(ids)
    assert first.removed == []
    assert first.token.startswith(emulator.graph_url)

    nothing = adapter.sync(token=first.token)
    assert not nothing.full and nothing.changed == [] and nothing.removed == []

    emulator.update_event(ids[0], subject="renamed")
    emulator.delete_event(ids[1])
    created = adapter.create_event(draft=draft(start=base, end=base + timedelta(minutes=30)))
    second = adapter.sync(token=nothing.token)
    assert not second.full
    assert {e.id: e.title for e in second.changed} == {ids[0]: "renamed", created: "Intro call"}
    assert second.removed == [ids[1]]
    made = next(e for e in second.changed if e.id == created)
    carol = Attendee(email="carol@fabrikam.example", name="Carol", response="needs_action")
    assert made.attendees == (carol,)
    assert made.start == base and made.uid

    adapter.cancel_event(event_id=created)
    third = adapter.sync(token=second.token)
    assert third.removed == [created]

    emulator.expire_delta_tokens()
    resynced = adapter.sync(token=third.token)
    assert resynced.full
    assert sorted(e.id for e in resynced.changed) == sorted([ids[0], *ids[2:]])


def test_sync_expands_recurrences_and_reports_cancelled(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator
) -> None:
    start = datetime.now(tz=UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
    emulator.add_event(
        subject="daily",
        start=start,
        end=start + timedelta(hours=1),
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": start.date().isoformat(), "numberOfOccurrences": 3},
        },
    )
    emulator.add_event(
        subject="called off",
        start=start,
        end=start + timedelta(hours=1),
        is_cancelled=True,
        is_organizer=False,
    )
    result = adapter.sync(token=None)
    daily = sorted((e for e in result.changed if e.title == "daily"), key=lambda e: e.start)
    assert [e.start for e in daily] == [start + timedelta(days=i) for i in range(3)]
    assert next(e for e in result.changed if e.title == "called off").cancelled


# --------------------------------------------------------------------------- faults


def test_throttling_is_retried(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    emulator.add_event(start=utc(2025, 3, 12, 9), end=utc(2025, 3, 12, 10))
    emulator.faults.add(status=429, retry_after=1, path_contains="calendarView", count=1)
    emulator.faults.add(status=503, path_contains="calendarView", count=1)
    assert len(adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13))) == 1
    assert len(emulator.faults.hits) == 2


def test_persistent_errors_fail_closed(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    emulator.add_event(start=utc(2025, 3, 12, 9), end=utc(2025, 3, 12, 10))
    emulator.faults.add(status=503, path_contains="calendarView", count=100)
    with pytest.raises(CalendarUnavailable):
        adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13))
    assert len(emulator.faults.hits) == adapter.max_attempts


def test_retry_after_beyond_the_cap_gives_up_at_once(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator
) -> None:
    emulator.faults.add(status=429, retry_after=600, path_contains="calendarView", count=5)
    with pytest.raises(CalendarUnavailable, match="busy"):
        adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13))
    assert len(emulator.faults.hits) == 1


def test_slow_answer_is_retried(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    emulator.add_event(start=utc(2025, 3, 12, 9), end=utc(2025, 3, 12, 10))
    emulator.faults.add(delay=1.0, path_contains="calendarView", count=1)
    assert len(adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13))) == 1


def test_always_slow_is_unavailable(adapter: MicrosoftCalendar, emulator: MicrosoftEmulator) -> None:
    emulator.faults.add(delay=0.8, path_contains="calendarView", count=100)
    with pytest.raises(CalendarUnavailable, match="too long"):
        adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13))


def test_unreachable_server_is_unavailable(
    app: MicrosoftApp, tokens: OAuthTokens, emulator: MicrosoftEmulator
) -> None:
    dead = MicrosoftApp(
        client_id=app.client_id,
        client_secret=app.client_secret,
        redirect_uri=REDIRECT,
        endpoints=MicrosoftEndpoints(authority_transport=emulator.url, graph="http://127.0.0.1:9/v1.0"),
    )
    cal = MicrosoftCalendar(app=dead, tokens=tokens, backoff=0.01)
    with pytest.raises(CalendarUnavailable, match="could not be reached"):
        cal.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13))


def test_foreign_next_link_is_not_followed(adapter: MicrosoftCalendar) -> None:
    with pytest.raises(CalendarUnavailable, match="unexpected host"):
        adapter.sync(token="https://evil.example/v1.0/me/calendarView/delta?$deltatoken=x")


def test_control_endpoints(emulator: MicrosoftEmulator, adapter: MicrosoftCalendar) -> None:
    created = httpx.post(
        f"{emulator.url}/_emulator/events",
        json={
            "subject": "seeded",
            "start": "2025-03-12T09:00:00Z",
            "end": "2025-03-12T10:00:00Z",
            "show_as": "oof",
        },
    )
    assert created.status_code == 201
    httpx.post(
        f"{emulator.url}/_emulator/faults", json={"status": 503, "path_contains": "calendarView", "count": 1}
    )
    assert adapter.busy(start=utc(2025, 3, 12), end=utc(2025, 3, 13)) == [
        BusyInterval(utc(2025, 3, 12, 9), utc(2025, 3, 12, 10), "oof")
    ]
    listed = httpx.get(f"{emulator.url}/_emulator/events").json()["value"]
    assert [e["subject"] for e in listed] == ["seeded"]


# --------------------------------------------------------------------------- subscriptions


class Receiver:
    """A notification endpoint: echoes validation tokens (unless told not to) and keeps POSTs."""

    def __init__(self, *, echo: bool = True) -> None:
        self.echo = echo
        self.received: list[bytes] = []
        self.arrived = threading.Event()
        self.server = ServerThread(self).start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        token = validation_token(request.args)
        if token is not None:
            response = Response(token if self.echo else "nope", content_type="text/plain")
        else:
            self.received.append(request.get_data())
            self.arrived.set()
            response = Response("", status=202)
        return response(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.stop()


def test_subscription_lifecycle(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator, receiver: Receiver
) -> None:
    url = f"{receiver.server.url}/hooks/microsoft"
    sub = adapter.create_subscription(
        notification_url=url, client_state="s3cret", expiration=datetime.now(tz=UTC) + timedelta(days=30)
    )
    assert sub.id in emulator.subscriptions
    assert sub.expiration <= max_subscription_expiration() + timedelta(minutes=1)

    event_id = emulator.add_event(start=utc(2025, 3, 12, 9), end=utc(2025, 3, 12, 10))
    assert receiver.arrived.wait(5)
    notes = validate_notification(body=receiver.received[0], client_state="s3cret")
    assert [(n.subscription_id, n.change_type, n.event_id) for n in notes] == [(sub.id, "created", event_id)]
    with pytest.raises(InvalidNotification):
        validate_notification(body=receiver.received[0], client_state="other")

    later = datetime.now(tz=UTC) + timedelta(days=3)
    renewed = adapter.renew_subscription(subscription_id=sub.id, expiration=later)
    assert abs((renewed.expiration - later).total_seconds()) < 1
    adapter.delete_subscription(subscription_id=sub.id)
    assert sub.id not in emulator.subscriptions
    adapter.delete_subscription(subscription_id=sub.id)  # already gone


def test_lifecycle_notification(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator, receiver: Receiver
) -> None:
    sub = adapter.create_subscription(
        notification_url=f"{receiver.server.url}/hooks",
        lifecycle_notification_url=f"{receiver.server.url}/lifecycle",
        client_state="s3cret",
        expiration=datetime.now(tz=UTC) + timedelta(days=2),
    )
    emulator.fire_lifecycle(sub.id, "reauthorizationRequired")
    assert receiver.arrived.wait(5)
    [note] = validate_notification(body=receiver.received[0], client_state="s3cret")
    assert note.lifecycle_event == "reauthorizationRequired" and note.event_id is None


def test_subscription_needs_the_validation_echo(
    adapter: MicrosoftCalendar, emulator: MicrosoftEmulator
) -> None:
    silent = Receiver(echo=False)
    try:
        with pytest.raises(GraphRequestError, match="notification address") as caught:
            adapter.create_subscription(
                notification_url=f"{silent.server.url}/hooks",
                client_state="s3cret",
                expiration=datetime.now(tz=UTC) + timedelta(days=1),
            )
        assert caught.value.code == "ValidationError"
        assert emulator.subscriptions == {}
    finally:
        silent.server.stop()


def test_validate_notification_rejects_garbage() -> None:
    for body in (b"not json", b"{}", b'{"value": []}', b'{"value": ["x"]}'):
        with pytest.raises(InvalidNotification):
            validate_notification(body=body, client_state="s")
    assert validation_token({"validationToken": "abc"}) == "abc"
    assert validation_token({}) is None
