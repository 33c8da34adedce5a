"""The Graph emulator refuses what Graph refuses, with Graph's error body, so the adapter cannot lean on
anything the real service would reject."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.microsoft import start as start_microsoft

GOOD = {
    "subject": "Intro call",
    "start": {"dateTime": "2030-03-11T09:00:00", "timeZone": "UTC"},
    "end": {"dateTime": "2030-03-11T09:30:00", "timeZone": "UTC"},
    "showAs": "busy",
    "attendees": [{"emailAddress": {"address": "a@example.org", "name": "A"}, "type": "required"}],
}


@pytest.fixture
def emulator() -> Iterator[MicrosoftEmulator]:
    emu = start_microsoft()
    yield emu
    emu.stop()


def call(emu: MicrosoftEmulator, method: str, path: str, body: dict[str, Any]) -> requests.Response:
    token = emu.issue_tokens()["access_token"]
    return requests.request(
        method, f"{emu.graph_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def graph_error(response: requests.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "innerError"}
    return response.status_code, error["code"], error["message"]


@pytest.mark.parametrize(
    ("change", "code", "says"),
    [
        (
            {"colour": "red"},
            "RequestBodyRead",
            "The property 'colour' does not exist on type 'microsoft.graph.event'",
        ),
        (
            {"start": {"dateTime": "2030-03-11T09:00:00", "timeZone": "UTC", "zone": "x"}},
            "RequestBodyRead",
            "'zone' does not exist on type 'microsoft.graph.dateTimeTimeZone'",
        ),
        ({"showAs": "maybe"}, "RequestBodyRead", "Cannot convert the literal 'maybe'"),
        ({"importance": "urgent"}, "RequestBodyRead", "'microsoft.graph.importance'"),
        (
            {"attendees": [{"emailAddress": {"address": "a@example.org"}, "type": "vip"}]},
            "RequestBodyRead",
            "'microsoft.graph.attendeeType'",
        ),
        (
            {"end": {"dateTime": "2030-03-11T08:00:00", "timeZone": "UTC"}},
            "ErrorPropertyValidationFailure",
            "At least one property failed validation.",
        ),
    ],
)
def test_create_refuses_what_graph_refuses(
    emulator: MicrosoftEmulator, change: dict[str, Any], code: str, says: str
) -> None:
    response = call(emulator, "POST", "/me/events", {**GOOD, **change})
    status, got_code, message = graph_error(response)
    assert (status, got_code) == (400, code)
    assert says in message
    assert emulator.account().default_calendar.events == {}


def test_a_patch_that_puts_the_end_before_the_start_is_refused(emulator: MicrosoftEmulator) -> None:
    created = call(emulator, "POST", "/me/events", GOOD)
    assert created.status_code == 201
    event_id = created.json()["id"]
    response = call(
        emulator,
        "PATCH",
        f"/me/events/{event_id}",
        {"start": {"dateTime": "2030-03-11T10:00:00", "timeZone": "UTC"}},
    )
    assert graph_error(response)[:2] == (400, "ErrorPropertyValidationFailure")
    assert call(emulator, "PATCH", f"/me/events/{event_id}", {"showAs": "Tentative"}).status_code == 200


def test_a_delta_round_carries_only_what_changed_in_an_updated_event(emulator: MicrosoftEmulator) -> None:
    event_id = call(emulator, "POST", "/me/events", GOOD).json()["id"]
    token = emulator.issue_tokens()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    window = "startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-04-01T00:00:00Z"
    first = requests.get(
        f"{emulator.graph_url}/me/calendarView/delta?{window}", headers=headers, timeout=5
    ).json()
    assert first["value"][0]["subject"] == "Intro call"

    emulator.update_event(event_id, subject="Renamed")
    second = requests.get(first["@odata.deltaLink"], headers=headers, timeout=5).json()

    [item] = second["value"]
    assert item["id"] == event_id and item["subject"] == "Renamed"
    assert "start" not in item and "attendees" not in item


def test_an_incremental_delta_returns_only_the_events_changed_since_its_token(
    emulator: MicrosoftEmulator,
) -> None:
    day = datetime(2030, 3, 4, 9, tzinfo=UTC)
    quiet = [
        emulator.add_event(start=day + timedelta(days=n), end=day + timedelta(days=n, hours=1))
        for n in range(5)
    ]
    series = emulator.add_event(
        start=day,
        end=day + timedelta(minutes=30),
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2030-03-04", "numberOfOccurrences": 5},
        },
    )
    headers = {
        "Authorization": f"Bearer {emulator.issue_tokens()['access_token']}",
        "Prefer": "odata.maxpagesize=50",
    }
    window = "startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-04-01T00:00:00Z"
    first = requests.get(
        f"{emulator.graph_url}/me/calendarView/delta?{window}", headers=headers, timeout=5
    ).json()
    assert len(first["value"]) == 10

    emulator.update_event(quiet[2], subject="Moved on")
    second = requests.get(first["@odata.deltaLink"], headers=headers, timeout=5).json()
    assert [(item["id"], item["subject"]) for item in second["value"]] == [(quiet[2], "Moved on")]

    emulator.delete_occurrence(series, day + timedelta(days=1))
    emulator.delete_event(quiet[0])
    third = requests.get(second["@odata.deltaLink"], headers=headers, timeout=5).json()
    removed = {item["id"] for item in third["value"] if item.get("@removed") == {"reason": "deleted"}}
    assert removed == {f"{series}_OCC_20300305T090000Z", quiet[0]}
    # The series' other occurrences come again (their change keys follow the master's), nothing else.
    others = {item["id"].split("_OCC_")[0] for item in third["value"] if "@removed" not in item}
    assert others == {series}

    nothing = requests.get(third["@odata.deltaLink"], headers=headers, timeout=5).json()
    assert nothing["value"] == []


def test_a_delta_token_the_server_no_longer_holds_gets_sync_state_not_found(
    emulator: MicrosoftEmulator,
) -> None:
    headers = {"Authorization": f"Bearer {emulator.issue_tokens()['access_token']}"}
    window = "startDateTime=2030-03-01T00:00:00Z&endDateTime=2030-04-01T00:00:00Z"
    first = requests.get(
        f"{emulator.graph_url}/me/calendarView/delta?{window}", headers=headers, timeout=5
    ).json()
    emulator.expire_delta_tokens()

    response = requests.get(first["@odata.deltaLink"], headers=headers, timeout=5)
    assert graph_error(response)[:2] == (410, "SyncStateNotFound")


def test_bodies_come_in_the_type_the_request_prefers(emulator: MicrosoftEmulator) -> None:
    """Graph converts a body when asked with ``Prefer: outlook.body-content-type``; else as stored."""
    html_body = {
        "contentType": "html",
        "content": "<html><body><p>Agenda</p><p>Q3 &amp; slides</p></body></html>",
    }
    created = call(emulator, "POST", "/me/events", {**GOOD, "body": html_body})
    assert created.status_code == 201, created.text
    token = emulator.issue_tokens()["access_token"]

    def body(prefer: str | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", **({"Prefer": prefer} if prefer else {})}
        response = requests.get(
            f"{emulator.graph_url}/me/events/{created.json()['id']}", headers=headers, timeout=5
        )
        assert response.status_code == 200, response.text
        return dict(response.json()["body"])

    assert body(None) == html_body
    assert body('outlook.body-content-type="text"') == {
        "contentType": "text",
        "content": "Agenda\nQ3 & slides",
    }
    assert created.json()["bodyPreview"] == "Agenda\nQ3 & slides"
