"""The Google adapter against the local Google emulator (OAuth + Calendar v3)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.wrappers import Request, Response

from tests.emulators.base import ServerThread
from tests.emulators.google import GoogleEmulator, start
from yoyaku.calendars.base import (
    Attendee,
    CalendarAuthError,
    CalendarUnavailable,
    EventDraft,
    blocking_intervals,
)
from yoyaku.calendars.google import (
    GOOGLE_SCOPES,
    GoogleCalendarAdapter,
    busy_status,
    google_authorization_url,
    google_event_id,
    google_exchange_code,
    google_revoke,
    google_verify_connection,
    parse_notification,
)
from yoyaku.calendars.oauth import GrantRevoked, OAuthError, OAuthTokens, new_pkce_pair, new_state

HOST = "host@example.com"
REDIRECT = "http://127.0.0.1:9/oauth/google/callback"
DAY = datetime(2030, 3, 11, tzinfo=UTC)  # a Monday


@pytest.fixture
def emulator() -> Iterator[GoogleEmulator]:
    emu = start(accounts=(HOST, "other@example.com"))
    try:
        yield emu
    finally:
        emu.stop()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def tokens_for(emu: GoogleEmulator, *, expired: bool = False, **kwargs: Any) -> OAuthTokens:
    issued = emu.issue_tokens(HOST, **kwargs)
    expires_at = datetime.now(tz=UTC) + (timedelta(hours=-1) if expired else timedelta(hours=1))
    return OAuthTokens(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=expires_at,
        account_email=HOST,
    )


def adapter_for(
    emu: GoogleEmulator, *, tokens: OAuthTokens | None = None, **kwargs: Any
) -> GoogleCalendarAdapter:
    kwargs.setdefault("sleep", Sleeps())
    return GoogleCalendarAdapter(
        tokens=tokens or tokens_for(emu),
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        endpoints=emu.endpoints(),
        **kwargs,
    )


def timed(start: datetime, minutes: int = 60, **extra: Any) -> dict[str, Any]:
    return {
        "summary": extra.pop("summary", "Meeting"),
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(minutes=minutes)).isoformat()},
        **extra,
    }


def draft(uid: str = "booking-1", **extra: Any) -> EventDraft:
    fields: dict[str, Any] = {
        "uid": uid,
        "title": "Intro call",
        "start": DAY.replace(hour=9),
        "end": DAY.replace(hour=9, minute=30),
        "time_zone": "Europe/Berlin",
        "description": "Booked with Yoyaku",
        "attendees": (Attendee(email="contact@example.org", name="Casey Contact"),),
    }
    fields.update(extra)
    return EventDraft(**fields)


# -- OAuth -------------------------------------------------------------------


def _authorize(emu: GoogleEmulator, **extra: str) -> tuple[str, str, Any]:
    pkce = new_pkce_pair()
    state = new_state()
    url = google_authorization_url(
        client_id=emu.client_id,
        redirect_uri=REDIRECT,
        state=state,
        code_challenge=pkce.challenge,
        endpoints=emu.endpoints(),
        login_hint=HOST,
    )
    return url, state, pkce


def test_authorization_url_asks_for_offline_access_with_pkce(emulator: GoogleEmulator) -> None:
    url, state, pkce = _authorize(emulator)
    query = parse_qs(urlsplit(url).query)
    assert query["response_type"] == ["code"]
    assert query["access_type"] == ["offline"]
    assert query["prompt"] == ["consent"]
    assert query["include_granted_scopes"] == ["true"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == [pkce.challenge]
    assert query["state"] == [state]
    assert query["login_hint"] == [HOST]
    assert query["scope"][0].split() == list(GOOGLE_SCOPES)


def test_code_flow_through_the_consent_page(emulator: GoogleEmulator) -> None:
    url, state, pkce = _authorize(emulator)
    page = requests.get(url, timeout=5)
    assert page.status_code == 200
    assert 'id="allow"' in page.text
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    form = {k: v.replace("&amp;", "&") for k, v in form.items()}
    form.update(email=HOST, decision="allow")
    answer = requests.post(
        f"{emulator.url}/o/oauth2/v2/auth/approve", data=form, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/oauth/google/callback"
    returned = parse_qs(location.query)
    assert returned["state"] == [state]

    tokens = google_exchange_code(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        redirect_uri=REDIRECT,
        code=returned["code"][0],
        code_verifier=pkce.verifier,
        endpoints=emulator.endpoints(),
    )
    assert tokens.account_email == HOST
    assert tokens.refresh_token and tokens.access_token
    assert "https://www.googleapis.com/auth/calendar.events" in tokens.scope.split()
    assert adapter_for(emulator, tokens=tokens).list_calendars()[0].id == HOST


def _auto_code(emu: GoogleEmulator) -> tuple[str, Any]:
    emu.auto_approve = True
    url, state, pkce = _authorize(emu)
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    returned = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert returned["state"] == [state]
    return returned["code"][0], pkce


def test_wrong_code_verifier_is_rejected(emulator: GoogleEmulator) -> None:
    code, _ = _auto_code(emulator)
    with pytest.raises(OAuthError) as error:
        google_exchange_code(
            client_id=emulator.client_id,
            client_secret=emulator.client_secret,
            redirect_uri=REDIRECT,
            code=code,
            code_verifier=new_pkce_pair().verifier,
            endpoints=emulator.endpoints(),
        )
    assert "connect again" in str(error.value)


def test_a_code_works_once(emulator: GoogleEmulator) -> None:
    code, pkce = _auto_code(emulator)
    params = {
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "redirect_uri": REDIRECT,
        "code": code,
        "code_verifier": pkce.verifier,
        "endpoints": emulator.endpoints(),
    }
    assert google_exchange_code(**params).account_email == HOST
    with pytest.raises(OAuthError):
        google_exchange_code(**params)


def test_wrong_client_secret_is_reported(emulator: GoogleEmulator) -> None:
    code, pkce = _auto_code(emulator)
    with pytest.raises(OAuthError, match="OAuth client"):
        google_exchange_code(
            client_id=emulator.client_id,
            client_secret="wrong",
            redirect_uri=REDIRECT,
            code=code,
            code_verifier=pkce.verifier,
            endpoints=emulator.endpoints(),
        )


def test_denied_consent_returns_access_denied(emulator: GoogleEmulator) -> None:
    url, state, _ = _authorize(emulator)
    page = requests.get(url, timeout=5)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    form.update(decision="deny")
    answer = requests.post(
        f"{emulator.url}/o/oauth2/v2/auth/approve", data=form, allow_redirects=False, timeout=5
    )
    returned = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert returned["error"] == ["access_denied"]
    assert returned["state"] == [state]


def test_expired_access_token_is_refreshed_and_handed_back(emulator: GoogleEmulator) -> None:
    old = tokens_for(emulator, expired=True)
    saved: list[OAuthTokens] = []
    adapter = adapter_for(emulator, tokens=old, on_tokens=saved.append)
    assert adapter.busy(start=DAY, end=DAY + timedelta(days=1)) == []
    assert len(saved) == 1
    assert saved[0].access_token != old.access_token
    assert saved[0].refresh_token == old.refresh_token
    assert saved[0].expires_at > datetime.now(tz=UTC)


def test_access_token_rejected_by_the_server_is_refreshed(emulator: GoogleEmulator) -> None:
    saved: list[OAuthTokens] = []
    adapter = adapter_for(emulator, on_tokens=saved.append)
    emulator.expire_access_tokens()
    assert [c.id for c in adapter.list_calendars()] == [HOST]
    assert len(saved) == 1


def test_revoked_grant_raises_grant_revoked(emulator: GoogleEmulator) -> None:
    adapter = adapter_for(emulator, tokens=tokens_for(emulator, expired=True))
    emulator.revoke(HOST)
    with pytest.raises(GrantRevoked) as error:
        adapter.busy(start=DAY, end=DAY + timedelta(days=1))
    assert isinstance(error.value, CalendarAuthError)
    assert "reconnect" in str(error.value).lower()


def test_revoked_grant_noticed_on_a_live_access_token(emulator: GoogleEmulator) -> None:
    adapter = adapter_for(emulator)
    emulator.revoke(HOST)
    with pytest.raises(GrantRevoked):
        adapter.list_calendars()


def test_disconnect_revokes_the_grant(emulator: GoogleEmulator) -> None:
    tokens = tokens_for(emulator)
    assert google_revoke(token=tokens.refresh_token, endpoints=emulator.endpoints()) is True
    assert google_revoke(token=tokens.refresh_token, endpoints=emulator.endpoints()) is False
    with pytest.raises(GrantRevoked):
        adapter_for(emulator, tokens=tokens).list_calendars()


def test_verify_connection_gives_email_and_calendars(emulator: GoogleEmulator) -> None:
    emulator.add_calendar(
        calendar_id="team@group.calendar.google.com",
        owner="other@example.com",
        summary="Team",
        shared_with={HOST: "reader"},
    )
    connection = google_verify_connection(
        tokens=tokens_for(emulator),
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        endpoints=emulator.endpoints(),
    )
    assert connection.account_email == HOST
    by_id = {c.id: c for c in connection.calendars}
    assert by_id[HOST].primary and by_id[HOST].writable
    assert by_id["team@group.calendar.google.com"].name == "Team"
    assert not by_id["team@group.calendar.google.com"].writable


def test_missing_scope_is_an_auth_error(emulator: GoogleEmulator) -> None:
    tokens = tokens_for(
        emulator, scopes=["openid", "email", "https://www.googleapis.com/auth/calendar.events"]
    )
    with pytest.raises(CalendarAuthError, match="permission"):
        adapter_for(emulator, tokens=tokens).list_calendars()


# -- busy time -----------------------------------------------------------------


def test_busy_semantics(emulator: GoogleEmulator) -> None:
    at = DAY.replace(hour=8)
    seeds = {
        "busy": timed(at),
        "free": timed(at + timedelta(hours=1), transparency="transparent"),
        "location": timed(
            at + timedelta(hours=2),
            eventType="workingLocation",
            transparency="transparent",
            workingLocationProperties={"type": "homeOffice", "homeOffice": {}},
        ),
        "oof": timed(at + timedelta(hours=3), eventType="outOfOffice", outOfOfficeProperties={}),
        "tentative": timed(
            at + timedelta(hours=4),
            attendees=[{"email": HOST, "responseStatus": "tentative"}, {"email": "x@example.org"}],
        ),
        "declined": timed(
            at + timedelta(hours=5),
            attendees=[{"email": HOST, "responseStatus": "declined"}, {"email": "x@example.org"}],
        ),
        "unanswered": timed(
            at + timedelta(hours=6),
            attendees=[{"email": HOST, "responseStatus": "needsAction"}, {"email": "x@example.org"}],
        ),
        "organizer-tentative": timed(at + timedelta(hours=7), status="tentative"),
        "focus": timed(at + timedelta(hours=8), eventType="focusTime", focusTimeProperties={}),
    }
    created = {name: emulator.add_event(HOST, body) for name, body in seeds.items()}
    cancelled = emulator.add_event(HOST, timed(at + timedelta(hours=9)))
    emulator.delete_event(HOST, cancelled["id"])

    busy = adapter_for(emulator).busy(start=DAY, end=DAY + timedelta(days=1))
    found = {(i.start.hour, i.status) for i in busy}
    assert found == {
        (8, "busy"),
        (11, "oof"),
        (12, "tentative"),
        (14, "tentative"),  # unanswered: tentative on every provider (calendars/busy_rules.py)
        (15, "tentative"),
        (16, "busy"),
    }
    assert all(i.start.tzinfo is not None and i.end - i.start == timedelta(hours=1) for i in busy)
    assert created["busy"]["id"]
    # The host's "tentative blocks time" setting then decides.
    assert len(blocking_intervals(busy, tentative_blocks=False)) == 3
    assert len(blocking_intervals(busy, tentative_blocks=True)) == 6


def test_busy_status_reads_the_hosts_own_answer() -> None:
    event = {
        "attendees": [
            {"email": "a@x", "responseStatus": "declined"},
            {"email": "h@x", "self": True, "responseStatus": "accepted"},
        ]
    }
    assert busy_status(event) == "busy"
    assert busy_status({"transparency": "transparent", "eventType": "outOfOffice"}) == "oof"
    assert busy_status({"status": "cancelled"}) is None


def test_all_day_events_are_days_in_the_calendars_zone(emulator: GoogleEmulator) -> None:
    emulator.add_account("kolkata@example.com", time_zone="Asia/Kolkata")
    emulator.add_calendar(
        calendar_id="kolkata@example.com",
        owner="kolkata@example.com",
        time_zone="Asia/Kolkata",
        shared_with={HOST: "reader"},
    )
    emulator.add_event(
        "kolkata@example.com",
        {"summary": "Holiday", "start": {"date": "2030-03-11"}, "end": {"date": "2030-03-12"}},
    )
    window = (DAY - timedelta(days=1), DAY + timedelta(days=2))
    busy = adapter_for(emulator).busy(start=window[0], end=window[1], calendar_ids=["kolkata@example.com"])
    assert [(i.start, i.end) for i in busy] == [
        (datetime(2030, 3, 10, 18, 30, tzinfo=UTC), datetime(2030, 3, 11, 18, 30, tzinfo=UTC))
    ]
    # The calendar's own zone wins over the host's: the day is the calendar's day.
    busy = adapter_for(emulator, time_zone="Pacific/Chatham").busy(
        start=window[0], end=window[1], calendar_ids=["kolkata@example.com"]
    )
    assert busy[0].start == datetime(2030, 3, 10, 18, 30, tzinfo=UTC)


def test_recurring_events_with_exceptions(emulator: GoogleEmulator) -> None:
    berlin = {"timeZone": "Europe/Berlin"}
    master = emulator.add_event(
        HOST,
        {
            "summary": "Daily standup",
            "start": {"dateTime": "2030-03-01T09:00:00", **berlin},
            "end": {"dateTime": "2030-03-01T09:15:00", **berlin},
            # 31 March 2030 is the switch to summer time: still 09:00 in Berlin.
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=60", "EXDATE;TZID=Europe/Berlin:20300312T090000"],
        },
    )
    # One occurrence moved from before the window into it, one cancelled.
    emulator.add_event(
        HOST,
        {
            "id": f"{master['id']}_20300305T080000Z",
            "recurringEventId": master["id"],
            "originalStartTime": {"dateTime": "2030-03-05T09:00:00+01:00", **berlin},
            "summary": "Daily standup (moved)",
            "start": {"dateTime": "2030-03-13T15:00:00+01:00", **berlin},
            "end": {"dateTime": "2030-03-13T15:15:00+01:00", **berlin},
        },
    )
    emulator.update_event(HOST, f"{master['id']}_20300313T080000Z", {"status": "cancelled"})

    adapter = adapter_for(emulator)
    busy = adapter.busy(start=DAY, end=DAY + timedelta(days=3))
    starts = [i.start for i in busy]
    assert starts == [
        datetime(2030, 3, 11, 8, 0, tzinfo=UTC),
        datetime(2030, 3, 13, 14, 0, tzinfo=UTC),  # the moved one; 12th excluded, 13th cancelled
    ]
    after_dst = adapter.busy(start=datetime(2030, 4, 1, tzinfo=UTC), end=datetime(2030, 4, 2, tzinfo=UTC))
    assert [i.start for i in after_dst] == [datetime(2030, 4, 1, 7, 0, tzinfo=UTC)]


def test_free_busy_only_calendar_falls_back_to_free_busy(emulator: GoogleEmulator) -> None:
    emulator.add_calendar(
        calendar_id="boss@example.com", owner="boss@example.com", shared_with={HOST: "freeBusyReader"}
    )
    emulator.add_event("boss@example.com", timed(DAY.replace(hour=10)))
    emulator.add_event("boss@example.com", timed(DAY.replace(hour=10, minute=30)))
    emulator.add_event(HOST, timed(DAY.replace(hour=13)))
    busy = adapter_for(emulator).busy(
        start=DAY, end=DAY + timedelta(days=1), calendar_ids=["primary", "boss@example.com"]
    )
    assert [(i.start.hour, i.start.minute, i.end.hour, i.end.minute) for i in busy] == [
        (10, 0, 11, 30),
        (13, 0, 14, 0),
    ]


def test_unreadable_calendar_fails_closed(emulator: GoogleEmulator) -> None:
    with pytest.raises(CalendarUnavailable, match=r"nobody@example\.com"):
        adapter_for(emulator).busy(
            start=DAY, end=DAY + timedelta(days=1), calendar_ids=["nobody@example.com"]
        )


def test_busy_reads_every_page(emulator: GoogleEmulator) -> None:
    for hour in range(7):
        emulator.add_event(HOST, timed(DAY.replace(hour=hour), minutes=30))
    busy = adapter_for(emulator, page_size=3).busy(start=DAY, end=DAY + timedelta(days=1))
    assert len(busy) == 7


# -- writes ------------------------------------------------------------------


def test_create_event_invites_the_contact(emulator: GoogleEmulator) -> None:
    event_id = adapter_for(emulator).create_event(draft=draft())
    assert event_id == google_event_id("booking-1")
    stored = emulator.event(HOST, event_id)
    assert stored is not None
    assert stored["summary"] == "Intro call"
    assert {a["email"] for a in stored["attendees"]} == {HOST, "contact@example.org"}
    assert stored["start"] == {"dateTime": "2030-03-11T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert emulator.sent_updates[-1]["send_updates"] == "all"
    assert emulator.sent_updates[-1]["action"] == "insert"


def test_create_event_is_idempotent(emulator: GoogleEmulator) -> None:
    adapter = adapter_for(emulator)
    first = adapter.create_event(draft=draft())
    second = adapter.create_event(draft=draft())
    assert first == second
    assert len(emulator.events(HOST)) == 1


def test_create_event_survives_a_lost_answer(emulator: GoogleEmulator) -> None:
    # The insert reaches the server but the answer comes after the client gave up.
    emulator.add_fault(delay=1.5, path_contains="/events", method="POST")
    adapter = adapter_for(emulator, timeout=0.5)
    event_id = adapter.create_event(draft=draft())
    assert event_id == google_event_id("booking-1")
    assert [e["id"] for e in emulator.events(HOST)] == [event_id]


def test_event_ids_use_googles_alphabet() -> None:
    ids = {google_event_id(f"uid-{n}@yoyaku") for n in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[a-v0-9]{5,1024}", i) for i in ids)


def test_update_event(emulator: GoogleEmulator) -> None:
    adapter = adapter_for(emulator)
    event_id = adapter.create_event(draft=draft())
    adapter.update_event(
        event_id=event_id,
        draft=draft(title="Intro call (moved)", start=DAY.replace(hour=11), end=DAY.replace(hour=12)),
    )
    stored = emulator.event(HOST, event_id)
    assert stored is not None
    assert stored["summary"] == "Intro call (moved)"
    assert stored["start"]["dateTime"] == "2030-03-11T12:00:00+01:00"
    assert stored["sequence"] == 1
    assert emulator.sent_updates[-1] == {
        "action": "patch",
        "calendar_id": HOST,
        "event_id": event_id,
        "send_updates": "all",
        "attendees": [HOST, "contact@example.org"],
    }


def test_cancel_event(emulator: GoogleEmulator) -> None:
    adapter = adapter_for(emulator)
    event_id = adapter.create_event(draft=draft())
    adapter.cancel_event(event_id=event_id)
    assert emulator.events(HOST) == []
    assert emulator.sent_updates[-1]["action"] == "delete"
    assert emulator.sent_updates[-1]["send_updates"] == "all"
    adapter.cancel_event(event_id=event_id)  # already gone: still done
    adapter.cancel_event(event_id="neverexisted0")


def test_writing_to_a_read_only_calendar_is_a_clear_error(emulator: GoogleEmulator) -> None:
    emulator.add_calendar(calendar_id="ro@example.com", owner="ro@example.com", shared_with={HOST: "reader"})
    with pytest.raises(Exception, match="writer access") as error:
        adapter_for(emulator).create_event(draft=draft(), calendar_id="ro@example.com")
    assert not isinstance(error.value, CalendarUnavailable)


# -- sync ----------------------------------------------------------------------


def test_incremental_sync(emulator: GoogleEmulator) -> None:
    adapter = adapter_for(emulator, page_size=2)
    keep = emulator.add_event(HOST, timed(DAY.replace(hour=8)))
    gone = emulator.add_event(HOST, timed(DAY.replace(hour=9)))
    for hour in (10, 11, 12):
        emulator.add_event(HOST, timed(DAY.replace(hour=hour)))

    first = adapter.sync(token=None)
    assert first.full
    assert len(first.changed) == 5 and first.removed == []
    assert first.token

    ours = adapter.create_event(draft=draft())
    emulator.update_event(HOST, keep["id"], {"summary": "Renamed"})
    emulator.delete_event(HOST, gone["id"])
    second = adapter.sync(token=first.token)
    assert not second.full
    assert {e.id: e.title for e in second.changed} == {ours: "Intro call", keep["id"]: "Renamed"}
    mine = next(e for e in second.changed if e.id == ours)
    assert mine.uid == "booking-1"
    assert mine.start == DAY.replace(hour=9)
    assert {a.email for a in mine.attendees} == {HOST, "contact@example.org"}
    assert second.removed == [gone["id"]]

    third = adapter.sync(token=second.token)
    assert third.changed == [] and third.removed == [] and third.token


def test_expired_sync_token_means_full_resync(emulator: GoogleEmulator) -> None:
    adapter = adapter_for(emulator)
    emulator.add_event(HOST, timed(DAY))
    token = adapter.sync(token=None).token
    emulator.add_event(HOST, timed(DAY + timedelta(hours=2)))
    emulator.expire_sync_tokens()
    result = adapter.sync(token=token)
    assert result.full
    assert len(result.changed) == 2
    assert result.token and result.token != token
    assert adapter.sync(token=result.token).changed == []


def test_sync_reports_all_day_and_recurring_instances(emulator: GoogleEmulator) -> None:
    emulator.add_event(
        HOST, {"summary": "Offsite", "start": {"date": "2030-03-11"}, "end": {"date": "2030-03-13"}}
    )
    emulator.add_event(
        HOST,
        {
            "summary": "Weekly",
            "start": {"dateTime": "2030-03-11T09:00:00+00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-03-11T10:00:00+00:00", "timeZone": "UTC"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
        },
    )
    result = adapter_for(emulator).sync(token=None)
    offsite = next(e for e in result.changed if e.title == "Offsite")
    assert offsite.all_day and offsite.end - offsite.start == timedelta(days=2)
    assert len([e for e in result.changed if e.title == "Weekly"]) == 3


# -- faults --------------------------------------------------------------------


def test_429_with_retry_after_is_retried(emulator: GoogleEmulator) -> None:
    emulator.add_event(HOST, timed(DAY.replace(hour=9)))
    emulator.add_fault(status=429, retry_after=2, path_contains="/events")
    sleeps = Sleeps()
    busy = adapter_for(emulator, sleep=sleeps).busy(start=DAY, end=DAY + timedelta(days=1))
    assert len(busy) == 1
    assert sleeps == [2.0]


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_403_rate_limit_is_retried(emulator: GoogleEmulator, reason: str) -> None:
    emulator.add_event(HOST, timed(DAY.replace(hour=9)))
    emulator.add_fault(status=403, reason=reason, count=2, path_contains="/events")
    sleeps = Sleeps()
    assert len(adapter_for(emulator, sleep=sleeps).busy(start=DAY, end=DAY + timedelta(days=1))) == 1
    assert len(sleeps) == 2


def test_5xx_is_retried(emulator: GoogleEmulator) -> None:
    emulator.add_fault(status=503, count=2)
    assert adapter_for(emulator).list_calendars()[0].id == HOST


def test_persistent_5xx_fails_closed(emulator: GoogleEmulator) -> None:
    emulator.add_event(HOST, timed(DAY.replace(hour=9)))
    emulator.add_fault(status=500, count=100, path_contains="/events")
    sleeps = Sleeps()
    with pytest.raises(CalendarUnavailable):
        adapter_for(emulator, sleep=sleeps, max_attempts=3).busy(start=DAY, end=DAY + timedelta(days=1))
    assert len(sleeps) == 2


def test_retry_after_beyond_the_cap_is_not_waited_for(emulator: GoogleEmulator) -> None:
    emulator.add_fault(status=429, retry_after=3600)
    sleeps = Sleeps()
    with pytest.raises(CalendarUnavailable, match="3600 seconds"):
        adapter_for(emulator, sleep=sleeps).list_calendars()
    assert sleeps == []


def test_slow_answer_is_retried(emulator: GoogleEmulator) -> None:
    emulator.add_event(HOST, timed(DAY.replace(hour=9)))
    emulator.add_fault(delay=1.5, path_contains="/events")
    busy = adapter_for(emulator, timeout=0.5).busy(start=DAY, end=DAY + timedelta(days=1))
    assert len(busy) == 1


def test_server_that_never_answers_in_time_fails_closed(emulator: GoogleEmulator) -> None:
    emulator.add_fault(delay=1.0, count=2, path_contains="/events")
    with pytest.raises(CalendarUnavailable, match="did not answer"):
        adapter_for(emulator, timeout=0.3, max_attempts=2).busy(start=DAY, end=DAY + timedelta(days=1))


def test_token_endpoint_hiccup_during_refresh(emulator: GoogleEmulator) -> None:
    emulator.add_fault(status=503, path_contains="/token")
    adapter = adapter_for(emulator, tokens=tokens_for(emulator, expired=True))
    assert adapter.list_calendars()[0].id == HOST


# -- push ----------------------------------------------------------------------


def test_watch_delivers_notifications_and_stop_ends_them(emulator: GoogleEmulator) -> None:
    received: list[dict[str, str]] = []
    arrived = threading.Event()

    def receiver(environ: dict[str, Any], start_response: Any) -> Any:
        received.append(dict(Request(environ).headers))
        arrived.set()
        return Response(b"", status=200)(environ, start_response)

    hook = ServerThread(receiver).start()
    try:
        adapter = adapter_for(emulator)
        channel = adapter.watch(channel_id="chan-1", address=f"{hook.url}/hooks/google", token="secret-1")
        assert channel.resource_id
        assert channel.expiration is not None and channel.expiration > datetime.now(tz=UTC)
        assert arrived.wait(5)
        opened = parse_notification(received[0])
        assert opened is not None and opened.state == "sync" and opened.token == "secret-1"

        arrived.clear()
        emulator.add_event(HOST, timed(DAY))
        assert arrived.wait(5)
        changed = parse_notification(received[-1])
        assert changed is not None
        assert (changed.channel_id, changed.state, changed.message_number) == ("chan-1", "exists", 2)

        adapter.stop_channel(channel_id=channel.id, resource_id=channel.resource_id)
        assert emulator.channels["chan-1"].stopped
        adapter.stop_channel(channel_id=channel.id, resource_id=channel.resource_id)  # already stopped
    finally:
        hook.stop()


def test_parse_notification_ignores_other_requests() -> None:
    assert parse_notification({"Content-Type": "text/plain"}) is None
