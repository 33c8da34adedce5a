"""Google, Microsoft 365 and Exchange events whose times cannot be read are blocked and reported, never
dropped. The providers' own servers do not send such events on purpose, so the answers are made here."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from exchangelib import CalendarItem

from tests.calendars.test_google import adapter_for
from tests.emulators.google import GoogleEmulator, start
from yoyaku.calendars.base import UnreadableEvent
from yoyaku.calendars.exchange import ExchangeAdapter
from yoyaku.calendars.microsoft import MicrosoftCalendar
from yoyaku.calendars.microsoft_oauth import MicrosoftApp, MicrosoftEndpoints
from yoyaku.calendars.oauth import OAuthTokens

WINDOW = (datetime(2030, 3, 10, tzinfo=UTC), datetime(2030, 3, 14, tzinfo=UTC))


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    emu = start(accounts=("host@example.com",))
    yield emu
    emu.stop()


def test_google_event_with_an_unreadable_end_blocks_the_day_of_its_start(
    google: GoogleEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = adapter_for(google)
    page = {
        "timeZone": "Asia/Tokyo",
        "items": [
            {
                "id": "e1",
                "summary": "Board meeting",
                "status": "confirmed",
                "start": {"dateTime": "2030-03-11T10:00:00+09:00"},
                "end": {"dateTime": "2030-03-11T25:00:00+09:00"},
            }
        ],
    }
    monkeypatch.setattr(adapter, "_list_events", lambda **kwargs: iter([page]))
    problems: list[UnreadableEvent] = []
    with caplog.at_level(logging.WARNING):
        busy = adapter.busy(start=WINDOW[0], end=WINDOW[1], unreadable=problems)
    adapter.close()
    # The Tokyo day of 11 March.
    assert [(i.start, i.end) for i in busy] == [
        (datetime(2030, 3, 10, 15, tzinfo=UTC), datetime(2030, 3, 11, 15, tzinfo=UTC))
    ]
    assert [(p.event, p.reason) for p in problems] == [("Board meeting", "end")]
    assert "e1" in caplog.text


def graph_adapter(events: list[dict[str, Any]]) -> MicrosoftCalendar:
    def answer(request: httpx.Request) -> httpx.Response:
        if "calendarView" in request.url.path:
            return httpx.Response(200, json={"value": events})
        return httpx.Response(404, json={"error": {"code": "ErrorItemNotFound", "message": "no"}})

    app = MicrosoftApp(
        client_id="c",
        client_secret="s",
        redirect_uri="http://127.0.0.1:9/cb",
        endpoints=MicrosoftEndpoints(graph="http://graph.test/v1.0"),
    )
    tokens = OAuthTokens(
        access_token="a", refresh_token="r", expires_at=datetime.now(tz=UTC) + timedelta(hours=1)
    )
    return MicrosoftCalendar(app=app, tokens=tokens, transport=httpx.MockTransport(answer), time_zone="UTC")


def test_graph_event_with_an_unreadable_start_blocks_the_day_of_its_end() -> None:
    adapter = graph_adapter(
        [
            {
                "id": "g1",
                "subject": "Offsite",
                "showAs": "busy",
                "isAllDay": False,
                "start": {"dateTime": "not a time", "timeZone": "UTC"},
                "end": {"dateTime": "2030-03-12T11:00:00.0000000", "timeZone": "UTC"},
            },
            {
                "id": "g2",
                "subject": "Backwards",
                "showAs": "busy",
                "isAllDay": False,
                "start": {"dateTime": "2030-03-13T11:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2030-03-13T10:00:00.0000000", "timeZone": "UTC"},
            },
        ]
    )
    problems: list[UnreadableEvent] = []
    try:
        busy = adapter.busy(start=WINDOW[0], end=WINDOW[1], unreadable=problems)
    finally:
        adapter.close()
    assert [(i.start, i.end) for i in busy] == [
        (datetime(2030, 3, 12, tzinfo=UTC), datetime(2030, 3, 13, tzinfo=UTC)),
        (datetime(2030, 3, 13, tzinfo=UTC), datetime(2030, 3, 14, tzinfo=UTC)),
    ]
    assert [(p.event, p.reason) for p in problems] == [("Offsite", "start"), ("Backwards", "end")]
    assert json.dumps([p.detail for p in problems])  # the parser's words travel with them


def test_exchange_item_without_a_start_blocks_the_day_of_its_end() -> None:
    item = CalendarItem(subject="Planning", start=None, end=datetime(2030, 3, 12, 10, tzinfo=UTC))
    problems: list[UnreadableEvent] = []
    interval = ExchangeAdapter._interval(item, UTC, window=WINDOW, unreadable=problems)
    assert interval is not None
    assert (interval.start, interval.end) == (
        datetime(2030, 3, 12, tzinfo=UTC),
        datetime(2030, 3, 13, tzinfo=UTC),
    )
    assert [(p.event, p.reason) for p in problems] == [("Planning", "start")]


def test_exchange_item_with_neither_time_blocks_the_window() -> None:
    problems: list[UnreadableEvent] = []
    interval = ExchangeAdapter._interval(CalendarItem(subject="?"), UTC, window=WINDOW, unreadable=problems)
    assert interval is not None and (interval.start, interval.end) == WINDOW
    assert len(problems) == 1
