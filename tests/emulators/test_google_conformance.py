"""Every JSON body the Google emulator answers conforms to the Calendar v3 discovery document.

The client is built the way the adapter builds it (googleapiclient from the bundled discovery
document, pointed at the emulator), and each raw response body is checked against the schema the
discovery document names as that method's response: unknown properties and wrong types are errors.
Error bodies are checked against Google's documented JSON error format instead (the discovery
document does not describe it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from tests.emulators.google import GoogleEmulator, start
from yoyaku.emulators.google import discovery_document

HOST = "host@example.com"
DAY = datetime(2030, 3, 11, tzinfo=UTC)
DISCOVERY = discovery_document()
SCHEMAS: dict[str, dict[str, Any]] = DISCOVERY["schemas"]

# Google's documented error envelope ("Handle API errors" in the Calendar guides), in the same dialect.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "domain": {"type": "string"},
                            "reason": {"type": "string"},
                            "message": {"type": "string"},
                            "location": {"type": "string"},
                            "locationType": {"type": "string"},
                        },
                    },
                },
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string"},
            },
        }
    },
}

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT64 = re.compile(r"^-?\d+$")


# -- the validator ------------------------------------------------------------------


def _check_format(value: str, fmt: str, path: str) -> list[str]:
    if fmt == "date-time":
        if not _DATE_TIME.match(value):
            return [f"{path}: {value!r} is not an RFC 3339 date-time"]
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return [f"{path}: {value!r} is not a valid date-time"]
    elif fmt == "date":
        if not _DATE.match(value):
            return [f"{path}: {value!r} is not a date"]
        try:
            date.fromisoformat(value)
        except ValueError:
            return [f"{path}: {value!r} is not a valid date"]
    elif fmt in ("int64", "uint64") and not _INT64.match(value):
        return [f"{path}: {value!r} is not a {fmt} string"]
    return []


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Problems of ``value`` against a discovery-document schema (empty when it conforms)."""
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        problems: list[str] = []
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                problems += validate(item, properties[key], f"{path}.{key}")
            elif extra is not None:
                problems += validate(item, extra, f"{path}[{key!r}]")
            else:
                problems.append(f"{path}: unknown property {key!r}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected an array, got {type(value).__name__}"]
        problems = []
        for index, item in enumerate(value):
            problems += validate(item, schema.get("items", {}), f"{path}[{index}]")
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {type(value).__name__}"]
        return _check_format(value, schema.get("format", ""), path)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer, got {type(value).__name__}"]
        return []
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: expected a number, got {type(value).__name__}"]
        return []
    if kind == "boolean":
        if not isinstance(value, bool):
            return [f"{path}: expected a boolean, got {type(value).__name__}"]
        return []
    if kind == "any" or kind is None:
        return []
    return [f"{path}: the validator does not know type {kind!r}"]


def response_schema(resource: str, method: str) -> dict[str, Any]:
    return dict(DISCOVERY["resources"][resource]["methods"][method]["response"])


def test_validator_finds_unknown_properties_wrong_types_and_bad_formats() -> None:
    good = {"kind": "calendar#event", "start": {"dateTime": "2030-03-11T09:00:00Z"}, "sequence": 0}
    assert validate(good, {"$ref": "Event"}) == []
    assert validate({**good, "colour": "red"}, {"$ref": "Event"}) == ["$: unknown property 'colour'"]
    assert validate({**good, "sequence": "0"}, {"$ref": "Event"}) == [
        "$.sequence: expected an integer, got str"
    ]
    assert validate({**good, "sequence": True}, {"$ref": "Event"}) == [
        "$.sequence: expected an integer, got bool"
    ]
    assert validate({"start": {"date": "2030-3-11"}}, {"$ref": "Event"}) == [
        "$.start.date: '2030-3-11' is not a date"
    ]
    assert validate({"start": {"dateTime": "2030-03-11 09:00"}}, {"$ref": "Event"}) == [
        "$.start.dateTime: '2030-03-11 09:00' is not an RFC 3339 date-time"
    ]
    assert validate({"attendees": [{"email": "a@b.c", "x": 1}]}, {"$ref": "Event"}) == [
        "$.attendees[0]: unknown property 'x'"
    ]
    assert validate({"expiration": 5}, {"$ref": "Channel"}) == ["$.expiration: expected a string, got int"]
    assert validate({"expiration": "soon"}, {"$ref": "Channel"}) == [
        "$.expiration: 'soon' is not a int64 string"
    ]
    assert validate({"private": {"k": 1}}, SCHEMAS["Event"]["properties"]["extendedProperties"]) == [
        "$.private['k']: expected a string, got int"
    ]
    assert validate({"items": {}}, {"$ref": "Events"}) == ["$.items: expected an array, got dict"]


# -- driving the emulator through googleapiclient -----------------------------------


class RecordingHttp(httplib2.Http):  # type: ignore[misc]
    """Keeps every raw response body, so what is checked is what went over the wire."""

    def __init__(self) -> None:
        super().__init__(timeout=10)
        self.bodies: list[tuple[int, bytes]] = []

    def request(self, *args: Any, **kwargs: Any) -> tuple[httplib2.Response, bytes]:
        response, content = super().request(*args, **kwargs)
        self.bodies.append((int(response.status), content))
        return response, content


class Client:
    def __init__(self, emu: GoogleEmulator) -> None:
        issued = emu.issue_tokens(HOST)
        credentials = Credentials(  # type: ignore[no-untyped-call]
            token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            token_uri=emu.endpoints().token_url,
            client_id=emu.client_id,
            client_secret=emu.client_secret,
        )
        self.http = RecordingHttp()
        self.service = build(
            "calendar",
            "v3",
            http=google_auth_httplib2.AuthorizedHttp(credentials, http=self.http),
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": emu.endpoints().calendar_api},
        )

    def call(self, request: HttpRequest, resource: str, method: str) -> dict[str, Any]:
        """Execute, then check the raw body against the method's response schema."""
        before = len(self.http.bodies)
        result: dict[str, Any] = request.execute()
        status, raw = self.http.bodies[-1]
        assert len(self.http.bodies) == before + 1 and status == 200
        body = json.loads(raw)
        assert validate(body, response_schema(resource, method)) == []
        return result

    def error(self, request: HttpRequest) -> tuple[int, dict[str, Any]]:
        with pytest.raises(HttpError) as caught:
            request.execute()
        body = json.loads(caught.value.content)
        assert validate(body, ERROR_SCHEMA) == []
        return caught.value.status_code, body


@pytest.fixture
def emulator() -> Iterator[GoogleEmulator]:
    emu = start(accounts=(HOST, "colleague@example.com"), time_zone="Europe/Berlin")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def client(emulator: GoogleEmulator) -> Iterator[Client]:
    made = Client(emulator)
    try:
        yield made
    finally:
        made.service.close()


def timed(start: datetime, minutes: int = 60, **extra: Any) -> dict[str, Any]:
    return {
        "summary": "Meeting",
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(minutes=minutes)).isoformat()},
        **extra,
    }


def seed(emu: GoogleEmulator) -> dict[str, str]:
    """A calendar with the kinds of events the adapter meets: plain, all-day, recurring with an
    exception and a cancelled occurrence, with guests, transparent, deleted."""
    ids: dict[str, str] = {}
    ids["plain"] = emu.add_event(
        HOST,
        timed(
            DAY.replace(hour=9),
            attendees=[{"email": "guest@example.org", "displayName": "Guest"}],
            location="https://meet.example.com/abc",
            extendedProperties={"private": {"yoyakuUid": "booking-1"}},
        ),
    )["id"]
    ids["all_day"] = emu.add_event(
        HOST, {"summary": "Holiday", "start": {"date": "2030-03-12"}, "end": {"date": "2030-03-13"}}
    )["id"]
    ids["free"] = emu.add_event(HOST, timed(DAY.replace(hour=13), transparency="transparent"))["id"]
    series = emu.add_event(
        HOST,
        {
            "summary": "Standup",
            "start": {"dateTime": "2030-03-11T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2030-03-11T10:15:00+01:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"],
        },
    )
    ids["series"] = series["id"]
    emu.update_event(HOST, f"{series['id']}_20300312T090000Z", {"summary": "Standup (moved)"})
    emu.update_event(HOST, f"{series['id']}_20300313T090000Z", {"status": "cancelled"})
    ids["deleted"] = emu.add_event(HOST, timed(DAY.replace(hour=15)))["id"]
    emu.delete_event(HOST, ids["deleted"])
    return ids


# -- success bodies --------------------------------------------------------------------


def test_calendar_list_pages(emulator: GoogleEmulator, client: Client) -> None:
    emulator.add_calendar(
        calendar_id="team@group.calendar.google.com",
        owner="colleague@example.com",
        summary="Team",
        shared_with={HOST: "reader"},
    )
    emulator.add_calendar(
        calendar_id="rooms@group.calendar.google.com",
        owner="colleague@example.com",
        shared_with={HOST: "freeBusyReader"},
    )
    first = client.call(client.service.calendarList().list(maxResults=2), "calendarList", "list")
    assert len(first["items"]) == 2 and "nextPageToken" in first
    rest = client.call(
        client.service.calendarList().list(maxResults=2, pageToken=first["nextPageToken"]),
        "calendarList",
        "list",
    )
    assert len(rest["items"]) == 1 and "nextSyncToken" in rest
    entry = client.call(
        client.service.calendarList().get(calendarId="team@group.calendar.google.com"), "calendarList", "get"
    )
    assert entry["accessRole"] == "reader"


@pytest.mark.parametrize("single_events", [False, True])
def test_events_list(emulator: GoogleEmulator, client: Client, single_events: bool) -> None:
    ids = seed(emulator)
    listing = client.call(
        client.service.events().list(
            calendarId="primary",
            singleEvents=single_events,
            timeMin=DAY.isoformat(),
            timeMax=(DAY + timedelta(days=7)).isoformat(),
            showDeleted=True,
        ),
        "events",
        "list",
    )
    listed = {item["id"] for item in listing["items"]}
    assert ids["plain"] in listed and ids["all_day"] in listed
    # Expanded or not, the series is there in the form asked for.
    assert (ids["series"] in listed) is not single_events
    assert any(item.get("recurringEventId") == ids["series"] for item in listing["items"])


def test_events_list_sync_token_pages(emulator: GoogleEmulator, client: Client) -> None:
    ids = seed(emulator)
    token = None
    page_token = None
    pages = 0
    while token is None:
        page = client.call(
            client.service.events().list(calendarId="primary", maxResults=2, pageToken=page_token),
            "events",
            "list",
        )
        pages += 1
        page_token = page.get("nextPageToken")
        token = page.get("nextSyncToken")
    assert pages > 1
    emulator.update_event(HOST, ids["plain"], {"summary": "Renamed"})
    emulator.delete_event(HOST, ids["all_day"])
    emulator.delete_event(HOST, ids["series"])
    emulator.add_event(HOST, timed(DAY.replace(hour=17)))
    changed: list[dict[str, Any]] = []
    page_token = None
    while True:
        page = client.call(
            client.service.events().list(
                calendarId="primary", syncToken=token, maxResults=2, pageToken=page_token
            ),
            "events",
            "list",
        )
        changed += page["items"]
        page_token = page.get("nextPageToken")
        if page_token is None:
            assert "nextSyncToken" in page
            break
        assert "nextSyncToken" not in page
    statuses = {item["id"]: item["status"] for item in changed}
    assert statuses[ids["all_day"]] == "cancelled" and statuses[ids["plain"]] == "confirmed"


def test_event_get_insert_patch(emulator: GoogleEmulator, client: Client) -> None:
    ids = seed(emulator)
    events = client.service.events()
    inserted = client.call(
        events.insert(
            calendarId="primary",
            sendUpdates="all",
            body={
                "id": "booking0001",
                "summary": "Intro call",
                "description": "Booked with Yoyaku",
                "location": "Room 4",
                "start": {"dateTime": "2030-03-14T09:00:00+01:00", "timeZone": "Europe/Berlin"},
                "end": {"dateTime": "2030-03-14T09:30:00+01:00", "timeZone": "Europe/Berlin"},
                "attendees": [{"email": "contact@example.org", "displayName": "Casey Contact"}],
                "extendedProperties": {"private": {"yoyakuUid": "booking-2"}},
                "reminders": {"useDefault": False, "overrides": [{"method": "email", "minutes": 30}]},
            },
        ),
        "events",
        "insert",
    )
    assert inserted["id"] == "booking0001"
    client.call(events.get(calendarId="primary", eventId=inserted["id"]), "events", "get")
    client.call(events.get(calendarId="primary", eventId=ids["all_day"]), "events", "get")
    instance = f"{ids['series']}_20300314T090000Z"
    client.call(events.get(calendarId="primary", eventId=instance), "events", "get")
    patched = client.call(
        events.patch(
            calendarId="primary",
            eventId=inserted["id"],
            sendUpdates="all",
            body={"end": {"dateTime": "2030-03-14T10:00:00+01:00", "timeZone": "Europe/Berlin"}},
        ),
        "events",
        "patch",
    )
    assert patched["sequence"] == 1
    client.call(
        events.patch(calendarId="primary", eventId=instance, body={"summary": "Standup (Thursday)"}),
        "events",
        "patch",
    )
    client.call(
        events.patch(calendarId="primary", eventId=ids["plain"], body={"status": "cancelled"}),
        "events",
        "patch",
    )


def test_freebusy_query(emulator: GoogleEmulator, client: Client) -> None:
    seed(emulator)
    answer = client.call(
        client.service.freebusy().query(
            body={
                "timeMin": DAY.isoformat(),
                "timeMax": (DAY + timedelta(days=7)).isoformat(),
                "items": [{"id": "primary"}, {"id": HOST}, {"id": "nobody@example.com"}],
            }
        ),
        "freebusy",
        "query",
    )
    assert answer["calendars"][HOST]["busy"]
    assert answer["calendars"]["nobody@example.com"]["errors"][0]["reason"] == "notFound"


def test_events_watch(emulator: GoogleEmulator, client: Client) -> None:
    emulator.deliver_notifications = False
    channel = client.call(
        client.service.events().watch(
            calendarId="primary",
            body={
                "id": "channel-1",
                "type": "web_hook",
                "address": "https://yoyaku.example.com/hooks/google",
                "token": "secret-token",
                "params": {"ttl": "3600"},
            },
        ),
        "events",
        "watch",
    )
    assert channel["id"] == "channel-1" and channel["token"] == "secret-token"


# -- error bodies --------------------------------------------------------------------


def _only_error(body: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = body["error"]
    assert set(error) >= {"errors", "code", "message", "status"}
    assert len(error["errors"]) == 1 and set(error["errors"][0]) >= {"domain", "reason", "message"}
    return error


def test_not_found_error(client: Client) -> None:
    status, body = client.error(client.service.events().get(calendarId="primary", eventId="nosuchevent1"))
    error = _only_error(body)
    assert status == error["code"] == 404
    assert error["errors"][0] == {"domain": "global", "reason": "notFound", "message": "Not Found"}
    assert error["message"] == "Not Found" and error["status"] == "NOT_FOUND"


def test_full_sync_required_error(emulator: GoogleEmulator, client: Client) -> None:
    seed(emulator)
    token = client.call(client.service.events().list(calendarId="primary"), "events", "list")["nextSyncToken"]
    emulator.expire_sync_tokens()
    status, body = client.error(client.service.events().list(calendarId="primary", syncToken=token))
    error = _only_error(body)
    assert status == error["code"] == 410
    item = error["errors"][0]
    assert (item["domain"], item["reason"]) == ("calendar", "fullSyncRequired")
    assert item["message"] == error["message"] == "Sync token is no longer valid, a full sync is required."
    assert error["status"] == "GONE"


@pytest.mark.parametrize(("code", "status_text"), [(403, "PERMISSION_DENIED"), (429, "RESOURCE_EXHAUSTED")])
def test_rate_limit_errors(emulator: GoogleEmulator, client: Client, code: int, status_text: str) -> None:
    emulator.add_fault(status=code, reason="rateLimitExceeded", path_contains="/events")
    status, body = client.error(client.service.events().list(calendarId="primary"))
    error = _only_error(body)
    assert status == error["code"] == code
    assert error["errors"][0] == {
        "domain": "usageLimits",
        "reason": "rateLimitExceeded",
        "message": "Rate Limit Exceeded",
    }
    assert error["message"] == "Rate Limit Exceeded" and error["status"] == status_text


def test_user_rate_limit_error(emulator: GoogleEmulator, client: Client) -> None:
    emulator.add_fault(status=403, reason="userRateLimitExceeded", path_contains="/freeBusy")
    status, body = client.error(
        client.service.freebusy().query(
            body={"timeMin": DAY.isoformat(), "timeMax": (DAY + timedelta(hours=1)).isoformat(), "items": []}
        )
    )
    error = _only_error(body)
    assert status == 403
    assert error["errors"][0] == {
        "domain": "usageLimits",
        "reason": "userRateLimitExceeded",
        "message": "User Rate Limit Exceeded",
    }
