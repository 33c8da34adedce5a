"""The CalDAV adapter against two independent real servers, Radicale and Xandikos.

Where a behaviour needs a server neither of them is (RFC 6638 implicit
scheduling, a given 403 or 412, no sync-collection), a proxy in front of the
real server answers those requests itself; the adapter still talks to a real
server for everything else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import icalendar
import pytest

from tests.emulators.dav_proxy import DavProxy, Seen
from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.xandikos_server import XandikosServer
from yoyaku.calendars.base import (
    Attendee,
    BusyInterval,
    CalendarAuthError,
    CalendarError,
    EventDraft,
    EventGone,
)
from yoyaku.calendars.caldav import ETAG_TOKEN_PREFIX, CalDAVAdapter, connect_caldav

Server = RadicaleServer | XandikosServer
LOOPBACK = ["127.0.0.0/8"]
HOST_ZONE = "Europe/Berlin"
START = datetime(2025, 3, 21, 12, 0, tzinfo=UTC)


def make_adapter(server: Server, *, url: str | None = None, calendar_url: str | None = None) -> CalDAVAdapter:
    return CalDAVAdapter(
        url=url or server.url,
        username=server.username,
        password=server.password,
        time_zone=HOST_ZONE,
        owner_email="alice@example.com",
        calendar_url=calendar_url,
        allowed_networks=LOOPBACK,
    )


def via(proxy: DavProxy, url: str) -> str:
    """``url`` on the real server, as reached through the proxy."""
    parts = urlsplit(url)
    return proxy.url + parts.path


def draft(uid: str | None = None, **changes: Any) -> EventDraft:
    values: dict[str, Any] = {
        "uid": uid or f"{uuid.uuid4()}@yoyaku.test",
        "title": "Intro call",
        "start": START,
        "end": START + timedelta(minutes=30),
        "time_zone": HOST_ZONE,
        "organizer_email": "alice@example.com",
        "organizer_name": "Alice Host",
        "attendees": (
            Attendee(email="guest@example.org", name="Gita Guest"),
            Attendee(email="cohost@example.com", name="Chika Cohost"),
        ),
    }
    values.update(changes)
    return EventDraft(**values)


def plain_event(uid: str, *, organizer: bool = True) -> bytes:
    """An event as another client writes it: attendees with no SCHEDULE-AGENT."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Other client//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        "DTSTART:20250321T120000Z",
        "DTEND:20250321T123000Z",
        "SUMMARY:Written elsewhere",
    ]
    if organizer:
        lines += ["ORGANIZER:mailto:alice@example.com", "ATTENDEE;CN=Gita Guest:mailto:guest@example.org"]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def put(server: Server, url: str, data: bytes) -> None:
    response = httpx.put(
        url,
        content=data,
        headers={"Content-Type": "text/calendar; charset=utf-8"},
        auth=(server.username, server.password),
    )
    assert response.status_code in (201, 204), response.text


def stored(server: Server, href: str) -> icalendar.Calendar:
    response = httpx.get(href, auth=(server.username, server.password))
    assert response.status_code == 200
    return icalendar.Calendar.from_ical(response.content)


def is_put(request: Seen) -> bool:
    return request.method == "PUT"


def is_sync_report(request: Seen) -> bool:
    return request.method == "REPORT" and b"sync-collection" in request.body


def dav_error(namespace: str, name: str, inner: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><d:error xmlns:d="DAV:">'
        f'<x:{name} xmlns:x="{namespace}">{inner}</x:{name}></d:error>'
    ).encode()


# -- the basics, on both servers ---------------------------------------------------------


def test_create_update_cancel_on_both_servers(dav_server: Server, dav_calendar: str) -> None:
    event = draft()
    with make_adapter(dav_server, calendar_url=dav_calendar) as adapter:
        event_id = adapter.create_event(draft=event)
        assert adapter.busy(start=event.start, end=event.end, calendar_ids=[dav_calendar]) == [
            BusyInterval(event.start, event.end, "busy")
        ]
        later = draft(event.uid, start=event.start + timedelta(hours=2), end=event.end + timedelta(hours=2))
        adapter.update_event(event_id=event_id, draft=later)
        assert adapter.busy(start=event.start, end=later.end, calendar_ids=[dav_calendar]) == [
            BusyInterval(later.start, later.end, "busy")
        ]
        adapter.cancel_event(event_id=event_id)
        adapter.cancel_event(event_id=event_id)
        assert adapter.busy(start=event.start, end=later.end, calendar_ids=[dav_calendar]) == []
    vevent = stored(dav_server, event_id).walk("VEVENT")[0]
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert int(vevent["SEQUENCE"]) == 2


# -- RFC 6638: invitations are Yoyaku's, never the server's too ------------------------


def test_stored_event_tells_the_server_yoyaku_schedules(dav_server: Server, dav_calendar: str) -> None:
    with make_adapter(dav_server, calendar_url=dav_calendar) as adapter:
        event_id = adapter.create_event(draft=draft())
    vevent = stored(dav_server, event_id).walk("VEVENT")[0]
    # RFC 6638 §7.1: the server keeps the parameter, so it does no scheduling for them.
    assert [a.params["SCHEDULE-AGENT"] for a in vevent["ATTENDEE"]] == ["CLIENT", "CLIENT"]
    assert vevent["ORGANIZER"].params["SCHEDULE-AGENT"] == "CLIENT"


def test_an_auto_scheduling_server_sends_nothing_on_create_update_and_cancel(
    dav_server: Server, dav_calendar: str
) -> None:
    older = f"{uuid.uuid4()}@yoyaku.test"
    put(dav_server, urljoin(dav_calendar, f"{older}.ics"), plain_event(older))
    with DavProxy(target=dav_server.url, auto_schedule=True) as proxy:
        calendar = via(proxy, dav_calendar)
        with make_adapter(dav_server, url=proxy.url + "/", calendar_url=calendar) as adapter:
            event = draft()
            event_id = adapter.create_event(draft=event)
            adapter.update_event(
                event_id=event_id,
                draft=draft(
                    event.uid,
                    title="Moved",
                    start=START + timedelta(hours=1),
                    end=event.end + timedelta(hours=1),
                ),
            )
            adapter.cancel_event(event_id=event_id)
            # An event written before Yoyaku marked its attendees: its cancellation is marked too.
            adapter.cancel_event(event_id=urljoin(calendar, f"{older}.ics"))
        assert [r.method for r in proxy.seen].count("PUT") == 4
        assert proxy.scheduled == []


# -- create: a 412 or a UID conflict is success only when the event is there ---------------


def test_create_finds_the_event_that_holds_its_uid_under_another_name(
    dav_server: Server, dav_calendar: str
) -> None:
    # Radicale answers 409 no-uid-conflict without an href, Xandikos 412 no-uid-conflict.
    uid = f"{uuid.uuid4()}@yoyaku.test"
    elsewhere = urljoin(dav_calendar, "written-by-an-earlier-try.ics")
    put(dav_server, elsewhere, plain_event(uid, organizer=False))
    with make_adapter(dav_server, calendar_url=dav_calendar) as adapter:
        event_id = adapter.create_event(draft=draft(uid))
        assert event_id == elsewhere
        adapter.cancel_event(event_id=event_id)
    assert str(stored(dav_server, elsewhere).walk("VEVENT")[0]["STATUS"]) == "CANCELLED"


def test_a_412_without_the_event_is_an_error_not_success(dav_server: Server, dav_calendar: str) -> None:
    with DavProxy(target=dav_server.url) as proxy:
        proxy.answer(is_put, status=412)
        calendar = via(proxy, dav_calendar)
        with (
            make_adapter(dav_server, url=proxy.url + "/", calendar_url=calendar) as adapter,
            pytest.raises(CalendarError) as caught,
        ):
            adapter.create_event(draft=draft())
    assert not isinstance(caught.value, CalendarAuthError)
    assert "not in the calendar" in str(caught.value)
    with make_adapter(dav_server, calendar_url=dav_calendar) as adapter:
        assert adapter.sync(token=None, calendar_id=dav_calendar).changed == []


@pytest.mark.parametrize("status", [403, 409])
def test_unique_scheduling_object_resource_names_the_existing_event(
    dav_server: Server, dav_calendar: str, status: int
) -> None:
    uid = f"{uuid.uuid4()}@yoyaku.test"
    elsewhere = urljoin(dav_calendar, "held-by-the-server.ics")
    put(dav_server, elsewhere, plain_event(uid, organizer=False))
    body = dav_error(
        "urn:ietf:params:xml:ns:caldav",
        "unique-scheduling-object-resource",
        f"<d:href>{urlsplit(elsewhere).path}</d:href>",
    )
    with DavProxy(target=dav_server.url) as proxy:
        proxy.answer(is_put, status=status, body=body, times=1)
        calendar = via(proxy, dav_calendar)
        with make_adapter(dav_server, url=proxy.url + "/", calendar_url=calendar) as adapter:
            assert adapter.create_event(draft=draft(uid)) == via(proxy, elsewhere)


def test_a_uid_conflict_with_no_event_to_find_is_not_a_sign_in_problem(
    dav_server: Server, dav_calendar: str
) -> None:
    body = dav_error("urn:ietf:params:xml:ns:caldav", "unique-scheduling-object-resource")
    with DavProxy(target=dav_server.url) as proxy:
        proxy.answer(is_put, status=403, body=body)
        calendar = via(proxy, dav_calendar)
        with (
            make_adapter(dav_server, url=proxy.url + "/", calendar_url=calendar) as adapter,
            pytest.raises(CalendarError) as caught,
        ):
            adapter.create_event(draft=draft())
    assert not isinstance(caught.value, CalendarAuthError)
    assert "UID is already used" in str(caught.value)


# -- a 403 says what was refused; only a 401 asks for a reconnect -------------------------


@pytest.mark.parametrize(
    ("method", "body", "words"),
    [
        ("REPORT", dav_error("DAV:", "need-privileges"), "lacks the permission"),
        ("REPORT", dav_error("DAV:", "supported-report"), "not a calendar"),
        ("PUT", dav_error("DAV:", "need-privileges"), "lacks the permission"),
        ("PUT", b"", "403 Forbidden"),
    ],
)
def test_a_403_is_not_a_rejected_password(
    dav_server: Server, dav_calendar: str, method: str, body: bytes, words: str
) -> None:
    with DavProxy(target=dav_server.url) as proxy:
        proxy.answer(lambda r: r.method == method, status=403, body=body)
        calendar = via(proxy, dav_calendar)
        with (
            make_adapter(dav_server, url=proxy.url + "/", calendar_url=calendar) as adapter,
            pytest.raises(CalendarError) as caught,
        ):
            if method == "PUT":
                adapter.create_event(draft=draft())
            else:
                adapter.busy(start=START, end=START + timedelta(hours=1), calendar_ids=[calendar])
    assert not isinstance(caught.value, CalendarAuthError)
    assert words in str(caught.value)


def test_a_401_asks_for_a_reconnect(dav_server: Server, dav_calendar: str) -> None:
    with DavProxy(target=dav_server.url) as proxy:
        proxy.answer(lambda r: True, status=401)
        calendar = via(proxy, dav_calendar)
        with (
            make_adapter(dav_server, url=proxy.url + "/", calendar_url=calendar) as adapter,
            pytest.raises(CalendarAuthError),
        ):
            adapter.busy(start=START, end=START + timedelta(hours=1), calendar_ids=[calendar])


# -- an event deleted on the server ---------------------------------------------------------


def test_updating_a_deleted_event_is_event_gone_and_cancelling_it_succeeds(
    dav_server: Server, dav_calendar: str
) -> None:
    event = draft()
    with make_adapter(dav_server, calendar_url=dav_calendar) as adapter:
        event_id = adapter.create_event(draft=event)
        dav_server.delete(event_id)
        with pytest.raises(EventGone) as caught:
            adapter.update_event(event_id=event_id, draft=event)
        assert isinstance(caught.value, CalendarError)
        assert adapter.event_sequence(event_id=event_id) == 0
        adapter.cancel_event(event_id=event_id)


# -- sync: an invalid token means a full sync; no sync-collection means ETags ---------------


def test_an_invalid_sync_token_gives_a_full_sync(dav_server: Server, dav_calendar: str) -> None:
    # Radicale answers 403 valid-sync-token, Xandikos 412.
    with make_adapter(dav_server, calendar_url=dav_calendar) as adapter:
        event_id = adapter.create_event(draft=draft())
        bad = urljoin(dav_server.url, "sync/not-a-token-of-this-server")
        result = adapter.sync(token=bad, calendar_id=dav_calendar)
    assert result.full
    assert [e.id for e in result.changed] == [event_id]
    assert result.token and result.token != bad


@pytest.mark.parametrize("status", [403, 409, 412])
def test_every_invalid_token_answer_gives_a_full_sync(
    dav_server: Server, dav_calendar: str, status: int
) -> None:
    with DavProxy(target=dav_server.url) as proxy:
        calendar = via(proxy, dav_calendar)
        with make_adapter(dav_server, url=proxy.url + "/", calendar_url=calendar) as adapter:
            event_id = adapter.create_event(draft=draft())
            first = adapter.sync(token=None, calendar_id=calendar)
            body = b"" if status == 412 else dav_error("DAV:", "valid-sync-token")
            proxy.answer(
                lambda r: is_sync_report(r) and first.token.encode() in r.body,
                status=status,
                body=body,
                times=1,
            )
            again = adapter.sync(token=first.token, calendar_id=calendar)
    assert again.full
    assert [e.id for e in again.changed] == [event_id]


@pytest.mark.parametrize(
    ("status", "body"),
    [(403, dav_error("DAV:", "supported-report")), (501, b""), (405, b"")],
)
def test_a_server_without_sync_collection_is_synced_by_etags(
    dav_server: Server, dav_calendar: str, status: int, body: bytes
) -> None:
    with DavProxy(target=dav_server.url) as proxy:
        proxy.answer(is_sync_report, status=status, body=body)
        calendar = via(proxy, dav_calendar)
        with make_adapter(dav_server, url=proxy.url + "/", calendar_url=calendar) as adapter:
            first = draft()
            kept = adapter.create_event(draft=first)
            initial = adapter.sync(token=None, calendar_id=calendar)
            assert initial.full and initial.token.startswith(ETAG_TOKEN_PREFIX)
            assert [e.id for e in initial.changed] == [kept]

            unchanged = adapter.sync(token=initial.token, calendar_id=calendar)
            assert (unchanged.changed, unchanged.removed, unchanged.full) == ([], [], False)

            event = draft()
            added = adapter.create_event(draft=event)
            adapter.update_event(event_id=kept, draft=draft(first.uid, title="Renamed"))
            changed = adapter.sync(token=unchanged.token, calendar_id=calendar)
            assert sorted((e.id, e.title) for e in changed.changed) == sorted(
                [(added, event.title), (kept, "Renamed")]
            )
            assert changed.removed == [] and not changed.full

            dav_server.delete(urljoin(dav_calendar, urlsplit(added).path.rsplit("/", 1)[-1]))
            deletion = adapter.sync(token=changed.token, calendar_id=calendar)
            assert (deletion.changed, deletion.removed) == ([], [added])

            unreadable = adapter.sync(token=ETAG_TOKEN_PREFIX + "not base64 zlib", calendar_id=calendar)
            assert unreadable.full and [e.id for e in unreadable.changed] == [kept]


# -- the calendar the user names ------------------------------------------------------------


def test_the_pasted_calendar_url_receives_the_bookings(dav_server: Server) -> None:
    dav_server.ensure_calendar(f"a-first-{uuid.uuid4().hex[:8]}")
    pasted = dav_server.ensure_calendar(f"z-pasted-{uuid.uuid4().hex[:8]}")
    adapter, calendars = connect_caldav(
        url=pasted,
        username=dav_server.username,
        password=dav_server.password,
        time_zone=HOST_ZONE,
        allowed_networks=LOOPBACK,
    )
    with adapter:
        assert [c.id for c in calendars if c.primary] == [pasted]
        event_id = adapter.create_event(draft=draft())
    assert event_id.startswith(pasted)


def test_a_pasted_server_url_keeps_the_first_writable_calendar(dav_server: Server) -> None:
    dav_server.ensure_calendar(f"some-{uuid.uuid4().hex[:8]}")
    adapter, calendars = connect_caldav(
        url=dav_server.url,
        username=dav_server.username,
        password=dav_server.password,
        time_zone=HOST_ZONE,
        allowed_networks=LOOPBACK,
    )
    adapter.close()
    assert [c.id for c in calendars if c.primary] == [next(c.id for c in calendars if c.writable)]


# -- busy time of something that is not a calendar fails closed ------------------------------


@pytest.mark.parametrize(
    "target",
    [
        lambda server, calendar: server.principal_url(),
        lambda server, calendar: urljoin(calendar, ".."),
    ],
    ids=["principal", "calendar home"],
)
def test_busy_and_sync_of_a_collection_that_is_not_a_calendar_fail_closed(
    dav_server: Server, dav_calendar: str, target: Callable[[Server, str], str]
) -> None:
    url = target(dav_server, dav_calendar)
    with make_adapter(dav_server, calendar_url=dav_calendar) as adapter:
        with pytest.raises(CalendarError) as caught:
            adapter.busy(start=START, end=START + timedelta(days=1), calendar_ids=[url])
        assert "is not a CalDAV calendar" in str(caught.value)
        with pytest.raises(CalendarError) as caught:
            adapter.sync(token=None, calendar_id=url)
        assert "is not a CalDAV calendar" in str(caught.value)
    assert not isinstance(caught.value, CalendarAuthError)
