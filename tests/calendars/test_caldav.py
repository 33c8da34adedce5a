"""The CalDAV adapter against a real Radicale server on loopback."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from tests.emulators import radicale_server as demo
from tests.emulators.base import serving
from tests.emulators.radicale_server import RadicaleServer, demo_calendar_events
from yoyaku.calendars.base import (
    Attendee,
    BusyInterval,
    CalendarAdapter,
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    EventDraft,
)
from yoyaku.calendars.caldav import AUTH_MESSAGE, CalDAVAdapter, connect_caldav

LOOPBACK = ["127.0.0.0/8"]
HOST_ZONE = "Europe/Berlin"
# A Thursday; the demo's day +10 falls on the day Berlin switches to summer time.
TODAY = date(2025, 3, 20)


def make_adapter(server: RadicaleServer, *, calendar_url: str | None = None, **kwargs: Any) -> CalDAVAdapter:
    options: dict[str, Any] = {
        "url": server.url,
        "username": server.username,
        "password": server.password,
        "time_zone": HOST_ZONE,
        "owner_email": "alice@example.com",
        "calendar_url": calendar_url,
        "allowed_networks": LOOPBACK,
    }
    options.update(kwargs)
    return CalDAVAdapter(**options)


@pytest.fixture
def adapter(radicale: RadicaleServer, caldav_calendar: str) -> Iterator[CalDAVAdapter]:
    with make_adapter(radicale, calendar_url=caldav_calendar) as client:
        yield client


def local(zone: str, day: int, hour: int, minute: int = 0) -> datetime:
    d = TODAY + timedelta(days=day)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def overlapping(busy: list[BusyInterval], start: datetime, end: datetime) -> list[BusyInterval]:
    return [i for i in busy if i.start < end and i.end > start]


def draft(uid: str | None = None, **changes: Any) -> EventDraft:
    values: dict[str, Any] = {
        "uid": uid or f"{uuid.uuid4()}@yoyaku.test",
        "title": "Intro call",
        "start": datetime(2025, 3, 21, 12, 0, tzinfo=UTC),
        "end": datetime(2025, 3, 21, 12, 30, tzinfo=UTC),
        "time_zone": HOST_ZONE,
        "description": "Booked through Yoyaku",
        "location": "Phone",
        "organizer_email": "alice@example.com",
        "organizer_name": "Alice Host",
        "attendees": (Attendee(email="guest@example.org", name="Gita Guest"),),
    }
    values.update(changes)
    return EventDraft(**values)


def stored(server: RadicaleServer, href: str) -> icalendar.Calendar:
    response = httpx.get(href, auth=(server.username, server.password))
    assert response.status_code == 200
    return icalendar.Calendar.from_ical(response.content)


def test_adapter_satisfies_the_protocol(adapter: CalDAVAdapter) -> None:
    typed: CalendarAdapter = adapter
    assert typed.provider == "caldav"


# -- discovery -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", ".well-known/caldav", "bob/"])
def test_discovery_finds_event_calendars(radicale: RadicaleServer, path: str) -> None:
    bob = radicale.users["bob"]
    work = radicale.ensure_calendar("work", username="bob")
    home = radicale.ensure_calendar("home", username="bob")
    radicale.ensure_calendar("tasks", username="bob", components=("VTODO",))

    adapter, calendars = connect_caldav(
        url=radicale.url + path,
        username="bob",
        password=bob,
        time_zone=HOST_ZONE,
        owner_email="bob@example.com",
        allowed_networks=LOOPBACK,
    )
    with adapter:
        assert {c.id for c in calendars} == {work, home}
        assert {c.name for c in calendars} == {"work", "home"}
        assert sum(c.primary for c in calendars) == 1
        assert all(c.writable for c in calendars)
        assert adapter.list_calendars() == calendars


def test_connect_with_wrong_password_is_an_auth_error(radicale: RadicaleServer) -> None:
    with pytest.raises(CalendarAuthError) as caught:
        connect_caldav(
            url=radicale.url,
            username=radicale.username,
            password="wrong",
            time_zone=HOST_ZONE,
            owner_email="",
            allowed_networks=LOOPBACK,
        )
    assert str(caught.value) == AUTH_MESSAGE


def test_connect_to_a_server_without_caldav_says_so() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<html>hello</html>"]

    with serving(app) as server, pytest.raises(CalendarError) as caught:
        connect_caldav(
            url=server.url + "/",
            username="a",
            password="b",
            time_zone=HOST_ZONE,
            owner_email="",
            allowed_networks=LOOPBACK,
        )
    assert "No CalDAV calendar was found at" in str(caught.value)


# -- busy ------------------------------------------------------------------------


@pytest.mark.parametrize("zone", [HOST_ZONE, "Asia/Kolkata", "Australia/Lord_Howe"])
def test_busy_reads_the_demo_calendar(radicale: RadicaleServer, caldav_calendar: str, zone: str) -> None:
    radicale.seed(caldav_calendar, demo_calendar_events(time_zone=zone, today=TODAY))
    with make_adapter(radicale, calendar_url=caldav_calendar, time_zone=zone) as client:
        busy = client.busy(start=local(zone, 0, 0), end=local(zone, 14, 0), calendar_ids=[caldav_calendar])

    hour = demo.DEMO_WEEKLY_HOUR
    for day in (1, 10):  # plain weekly instances, day +10 after a DST change in Berlin
        found = overlapping(busy, local(zone, day, hour), local(zone, day, hour + 1))
        assert [(i.start, i.end, i.status) for i in found] == [
            (local(zone, day, hour), local(zone, day, hour + 1), "busy")
        ]
    # Moved by RECURRENCE-ID: free at the old time, busy at the new one.
    assert overlapping(busy, local(zone, demo.DEMO_MOVED_FROM_DAY, hour), local(zone, 3, hour + 1)) == []
    moved_day, moved_hour = demo.DEMO_MOVED_TO
    assert [
        (i.start, i.end)
        for i in overlapping(busy, local(zone, moved_day, moved_hour), local(zone, moved_day, moved_hour + 1))
    ] == [(local(zone, moved_day, moved_hour), local(zone, moved_day, moved_hour + 1))]
    # Cancelled by EXDATE.
    assert overlapping(busy, local(zone, demo.DEMO_EXDATE_DAY, hour), local(zone, 8, hour + 1)) == []
    # All day: midnight to midnight in the host's zone.
    all_day = demo.DEMO_ALL_DAY_DAY
    assert BusyInterval(local(zone, all_day, 0), local(zone, all_day + 1, 0), "busy") in busy
    # Tentative stays visible but marked.
    day, tentative_hour = demo.DEMO_TENTATIVE
    assert [
        i.status
        for i in overlapping(busy, local(zone, day, tentative_hour), local(zone, day, tentative_hour + 1))
    ] == ["tentative"]
    # Transparent ("show as free") blocks nothing.
    day, free_hour = demo.DEMO_FREE
    assert overlapping(busy, local(zone, day, free_hour), local(zone, day, free_hour, 30)) == []
    assert len(busy) == 5  # two weekly instances, the moved one, all-day, tentative


def test_busy_sees_an_override_moved_into_the_window(
    adapter: CalDAVAdapter, radicale: RadicaleServer, caldav_calendar: str
) -> None:
    radicale.seed(caldav_calendar, demo_calendar_events(time_zone=HOST_ZONE, today=TODAY))
    moved_day, moved_hour = demo.DEMO_MOVED_TO
    # The master starts before this window; only the moved instance falls inside.
    busy = adapter.busy(
        start=local(HOST_ZONE, moved_day, 0),
        end=local(HOST_ZONE, moved_day + 1, 0),
        calendar_ids=[caldav_calendar],
    )
    assert busy == [
        BusyInterval(local(HOST_ZONE, moved_day, moved_hour), local(HOST_ZONE, moved_day, moved_hour + 1))
    ]
    # And the day it moved away from is empty.
    assert (
        adapter.busy(start=local(HOST_ZONE, 3, 0), end=local(HOST_ZONE, 4, 0), calendar_ids=[caldav_calendar])
        == []
    )


def test_busy_defaults_to_every_event_calendar(radicale: RadicaleServer) -> None:
    users = {"carol": "carol-secret"}
    with RadicaleServer(users=users) as server:
        first = server.ensure_calendar("first")
        second = server.ensure_calendar("second")
        server.seed(first, demo_calendar_events(time_zone=HOST_ZONE, today=TODAY)[1:2])  # all-day
        server.seed(second, demo_calendar_events(time_zone=HOST_ZONE, today=TODAY)[2:3])  # tentative
        with make_adapter(server) as client:
            busy = client.busy(start=local(HOST_ZONE, 0, 0), end=local(HOST_ZONE, 14, 0))
    assert sorted(i.status for i in busy) == ["busy", "tentative"]


# -- writes ----------------------------------------------------------------------


def test_create_event_is_busy_and_invites_the_attendee(
    adapter: CalDAVAdapter, radicale: RadicaleServer, caldav_calendar: str
) -> None:
    event = draft()
    event_id = adapter.create_event(draft=event)
    assert event_id.startswith(caldav_calendar)

    busy = adapter.busy(
        start=event.start - timedelta(hours=2),
        end=event.end + timedelta(hours=2),
        calendar_ids=[caldav_calendar],
    )
    assert busy == [BusyInterval(event.start, event.end, "busy")]

    vevent = stored(radicale, event_id).walk("VEVENT")[0]
    assert str(vevent["UID"]) == event.uid
    assert "METHOD" not in stored(radicale, event_id)  # RFC 4791 §4.1
    attendee = vevent["ATTENDEE"]
    assert str(attendee) == "mailto:guest@example.org"
    assert attendee.params["CN"] == "Gita Guest"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["RSVP"] == "TRUE"
    assert str(vevent["ORGANIZER"]) == "mailto:alice@example.com"


def test_create_event_twice_with_one_uid_makes_one_object(
    adapter: CalDAVAdapter, caldav_calendar: str
) -> None:
    event = draft()
    first = adapter.create_event(draft=event)
    second = adapter.create_event(draft=event)
    assert first == second
    listing = adapter.sync(token=None, calendar_id=caldav_calendar)
    assert [e.uid for e in listing.changed] == [event.uid]
    assert [e.id for e in listing.changed] == [first]


def test_update_event_moves_it_and_bumps_sequence(
    adapter: CalDAVAdapter, radicale: RadicaleServer, caldav_calendar: str
) -> None:
    event = draft()
    event_id = adapter.create_event(draft=event)
    later = draft(
        event.uid,
        title="Intro call (moved)",
        start=event.start + timedelta(hours=3),
        end=event.end + timedelta(hours=3),
    )
    adapter.update_event(event_id=event_id, draft=later)

    busy = adapter.busy(
        start=event.start - timedelta(hours=1),
        end=later.end + timedelta(hours=1),
        calendar_ids=[caldav_calendar],
    )
    assert busy == [BusyInterval(later.start, later.end, "busy")]
    vevent = stored(radicale, event_id).walk("VEVENT")[0]
    assert str(vevent["SUMMARY"]) == "Intro call (moved)"
    assert int(vevent["SEQUENCE"]) == 1


def test_cancel_event_frees_the_time_and_tells_clients(
    adapter: CalDAVAdapter, radicale: RadicaleServer, caldav_calendar: str
) -> None:
    event = draft()
    event_id = adapter.create_event(draft=event)
    adapter.cancel_event(event_id=event_id)
    adapter.cancel_event(event_id=event_id)  # a retried cancel is harmless

    assert adapter.busy(start=event.start, end=event.end, calendar_ids=[caldav_calendar]) == []
    vevent = stored(radicale, event_id).walk("VEVENT")[0]
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert int(vevent["SEQUENCE"]) == 1
    listing = adapter.sync(token=None, calendar_id=caldav_calendar)
    assert [(e.id, e.cancelled) for e in listing.changed] == [(event_id, True)]


def test_cancel_of_a_deleted_event_is_a_no_op(adapter: CalDAVAdapter, radicale: RadicaleServer) -> None:
    event_id = adapter.create_event(draft=draft())
    radicale.delete(event_id)
    adapter.cancel_event(event_id=event_id)
    assert httpx.get(event_id, auth=(radicale.username, radicale.password)).status_code == 404


# -- sync ------------------------------------------------------------------------


def test_sync_initial_incremental_deletion_and_invalid_token(
    adapter: CalDAVAdapter, radicale: RadicaleServer, caldav_calendar: str
) -> None:
    radicale.seed(caldav_calendar, demo_calendar_events(time_zone=HOST_ZONE, today=TODAY))
    initial = adapter.sync(token=None, calendar_id=caldav_calendar)
    assert initial.full
    assert initial.token
    assert len(initial.changed) == 4
    weekly = next(e for e in initial.changed if e.uid == "yoyaku-demo-weekly@example.invalid")
    assert weekly.title == demo.DEMO_WEEKLY_TITLE
    assert weekly.start == local(HOST_ZONE, 1, demo.DEMO_WEEKLY_HOUR)
    all_day = next(e for e in initial.changed if e.uid == "yoyaku-demo-all-day@example.invalid")
    assert all_day.all_day
    assert all_day.start == local(HOST_ZONE, demo.DEMO_ALL_DAY_DAY, 0)

    unchanged = adapter.sync(token=initial.token, calendar_id=caldav_calendar)
    assert (unchanged.changed, unchanged.removed, unchanged.full) == ([], [], False)

    event = draft()
    event_id = adapter.create_event(draft=event)
    incremental = adapter.sync(token=unchanged.token, calendar_id=caldav_calendar)
    assert not incremental.full
    assert [(e.id, e.uid, e.title, e.start, e.end) for e in incremental.changed] == [
        (event_id, event.uid, event.title, event.start, event.end)
    ]
    guest = Attendee("guest@example.org", "Gita Guest", response="needs_action")
    assert incremental.changed[0].attendees == (guest,)
    assert incremental.removed == []

    radicale.delete(event_id)
    deletion = adapter.sync(token=incremental.token, calendar_id=caldav_calendar)
    assert deletion.changed == []
    assert deletion.removed == [event_id]

    recovered = adapter.sync(token="http://radicale.org/ns/sync/not-a-token", calendar_id=caldav_calendar)
    assert recovered.full
    assert len(recovered.changed) == 4
    assert recovered.token and recovered.token != "http://radicale.org/ns/sync/not-a-token"


def test_sync_defaults_to_the_configured_calendar(adapter: CalDAVAdapter) -> None:
    event_id = adapter.create_event(draft=draft())
    assert [e.id for e in adapter.sync(token=None).changed] == [event_id]


# -- failures --------------------------------------------------------------------


def test_stopped_server_is_unavailable() -> None:
    server = RadicaleServer(users={"dave": "dave-secret"}).start()
    try:
        calendar = server.ensure_calendar("work")
        client = make_adapter(server, calendar_url=calendar)
        server.stop()
        with pytest.raises(CalendarUnavailable):
            client.busy(start=local(HOST_ZONE, 0, 0), end=local(HOST_ZONE, 1, 0), calendar_ids=[calendar])
        with pytest.raises(CalendarUnavailable):
            client.list_calendars()
        with pytest.raises(CalendarUnavailable):
            client.create_event(draft=draft())
    finally:
        server.close()


def test_silent_server_times_out_as_unavailable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts connections into the backlog, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        client = CalDAVAdapter(
            url=url, username="a", password="b", time_zone=HOST_ZONE, timeout=0.3, allowed_networks=LOOPBACK
        )
        with pytest.raises(CalendarUnavailable) as caught:
            client.list_calendars()
    assert "did not answer in time" in str(caught.value)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_unavailable(status: int) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(f"{status} Oops", [("Content-Type", "text/plain")])
        return [b"down"]

    with serving(app) as server:
        client = CalDAVAdapter(
            url=server.url + "/", username="a", password="b", time_zone=HOST_ZONE, allowed_networks=LOOPBACK
        )
        with pytest.raises(CalendarUnavailable):
            client.busy(
                start=local(HOST_ZONE, 0, 0), end=local(HOST_ZONE, 1, 0), calendar_ids=[server.url + "/cal/"]
            )


def test_other_users_calendar_is_refused_without_asking_for_a_reconnect(radicale: RadicaleServer) -> None:
    # Radicale answers 403 for a calendar the account may not read: the password was
    # right, so reconnecting would not help (only a 401 means that).
    bobs = radicale.ensure_calendar("private", username="bob")
    with make_adapter(radicale) as client, pytest.raises(CalendarError) as caught:
        client.busy(start=local(HOST_ZONE, 0, 0), end=local(HOST_ZONE, 1, 0), calendar_ids=[bobs])
    assert not isinstance(caught.value, CalendarAuthError)
    assert "403 Forbidden" in str(caught.value)


# -- SSRF ------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_address_is_refused_unless_allowed(radicale: RadicaleServer, host: str) -> None:
    url = radicale.url.replace("127.0.0.1", host)
    with pytest.raises(CalendarError) as caught:
        connect_caldav(
            url=url,
            username=radicale.username,
            password=radicale.password,
            time_zone=HOST_ZONE,
            owner_email="",
        )
    assert "private or reserved address" in str(caught.value)
    assert not isinstance(caught.value, (CalendarAuthError, CalendarUnavailable))

    adapter, calendars = connect_caldav(
        url=url,
        username=radicale.username,
        password=radicale.password,
        time_zone=HOST_ZONE,
        owner_email="",
        allowed_networks=["127.0.0.1/32", "::1/128"],
    )
    adapter.close()
    assert calendars


def test_redirect_to_a_private_address_is_refused() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("301 Moved", [("Location", "http://169.254.169.254/latest/meta-data/")])
        return [b""]

    with serving(app) as server, pytest.raises(CalendarError) as caught:
        connect_caldav(
            url=server.url + "/.well-known/caldav",
            username="a",
            password="b",
            time_zone=HOST_ZONE,
            owner_email="",
            allowed_networks=["127.0.0.1/32"],
        )
    assert "private or reserved address" in str(caught.value)
