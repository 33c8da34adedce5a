"""A calendar event that cannot be read blocks time, is logged and is kept on the connection for the host."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import connect_caldav, make_host, sync_now
from yoyaku.accounts.models import CalendarConnection
from yoyaku.accounts.unreadable import record_unreadable_events, unreadable_events
from yoyaku.calendar_sync.busy import read_busy
from yoyaku.calendars.base import UnreadableEvent


def inverted_event(start: datetime, *, summary: str) -> bytes:
    """An event whose DTEND is before its DTSTART: Radicale stores it (it refuses unparseable values)."""
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    before = (start - timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uuid.uuid4().hex}@test\r\nDTSTAMP:20250101T000000Z\r\nSUMMARY:{summary}\r\n"
        f"DTSTART:{stamp}\r\nDTEND:{before}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@pytest.mark.django_db
def test_a_malformed_event_is_blocked_logged_and_kept_for_the_host(
    radicale: RadicaleServer, caldav_calendar: str, caplog: pytest.LogCaptureFixture
) -> None:
    host = make_host("hana", time_zone="Asia/Tokyo")
    connection = connect_caldav(
        host,
        server_url=radicale.url,
        username=radicale.username,
        password=radicale.password,
        calendar_url=caldav_calendar,
    )
    day = (datetime.now(tz=UTC) + timedelta(days=3)).replace(hour=3, minute=0, second=0, microsecond=0)
    radicale.seed(caldav_calendar, [inverted_event(day, summary="Board meeting")])

    with caplog.at_level(logging.WARNING):
        sync_now(connection)
        pairs = read_busy(connection=connection, start=day - timedelta(days=1), end=day + timedelta(days=2))

    # The span between the two stated times stays blocked.
    start = int(day.timestamp())
    assert (start - 3600, start) in pairs
    assert "Board meeting" in caplog.text
    stored = unreadable_events(connection=CalendarConnection.objects.get(pk=connection.pk))
    assert [(e.event, e.reason) for e in stored] == [("Board meeting", "end")]


@pytest.mark.django_db
def test_the_list_is_replaced_by_the_next_read_and_keeps_the_calendar_list() -> None:
    host = make_host("hana")
    connection = connect_caldav(
        host,
        server_url="http://127.0.0.1:9/",
        username="u",
        password="p",
        calendar_url="http://127.0.0.1:9/c/",
    )
    CalendarConnection.objects.filter(pk=connection.pk).update(provider_details={"calendars": [{"id": "c"}]})
    connection.refresh_from_db()

    record_unreadable_events(
        connection=connection, events=[UnreadableEvent("A", "start"), UnreadableEvent("A", "start")]
    )
    assert [e.event for e in unreadable_events(connection=connection)] == ["A"]

    record_unreadable_events(connection=connection, events=[])
    saved = CalendarConnection.objects.get(pk=connection.pk).provider_details
    assert saved == {"calendars": [{"id": "c"}]}
