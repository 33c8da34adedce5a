"""Calendar adapters are closed after use: their HTTP clients and sockets do not pile up in a long-lived
worker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.calendars.test_google import HOST, adapter_for, tokens_for
from tests.emulators.google import GoogleEmulator, start
from tests.emulators.radicale_server import RadicaleServer, free_port
from tests.factories import connect_caldav, make_host
from yoyaku.accounts.models import CalendarConnection
from yoyaku.accounts.selectors import calendars_of
from yoyaku.calendar_sync import busy
from yoyaku.calendars.base import CalendarAdapter, CalendarUnavailable


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every adapter the busy reader builds."""
    adapters: list[Any] = []
    real = busy.adapter_for

    def tracking(connection: CalendarConnection) -> CalendarAdapter:
        adapters.append(real(connection))
        return adapters[-1]

    monkeypatch.setattr(busy, "adapter_for", tracking)
    return adapters


@pytest.mark.django_db
def test_reading_busy_time_closes_the_adapter(
    radicale: RadicaleServer, caldav_calendar: str, made: list[Any]
) -> None:
    connection = connect_caldav(
        make_host("hana"),
        server_url=radicale.url,
        username=radicale.username,
        password=radicale.password,
        calendar_url=caldav_calendar,
    )
    now = datetime.now(tz=UTC)

    busy.read_busy(connection=connection, start=now, end=now + timedelta(days=1), fresh=True)

    [adapter] = made
    assert adapter._client.is_closed


@pytest.mark.django_db
def test_a_failed_read_closes_the_adapter_too(made: list[Any]) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    connection = connect_caldav(
        make_host("hana"), server_url=url, username="x", password="y", calendar_url=url + "c/"
    )
    now = datetime.now(tz=UTC)

    with pytest.raises(CalendarUnavailable):
        busy.read_busy(connection=connection, start=now, end=now + timedelta(days=1), fresh=True)

    [adapter] = made
    assert adapter._client.is_closed


@pytest.mark.django_db
def test_listing_calendars_closes_the_adapter(
    radicale: RadicaleServer, caldav_calendar: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yoyaku.accounts import calendar_registry

    adapters: list[Any] = []
    real = calendar_registry.adapter_for

    def tracking(connection: CalendarConnection) -> CalendarAdapter:
        adapters.append(real(connection))
        return adapters[-1]

    monkeypatch.setattr(calendar_registry, "adapter_for", tracking)
    connection = connect_caldav(
        make_host("hana"),
        server_url=radicale.url,
        username=radicale.username,
        password=radicale.password,
        calendar_url=caldav_calendar,
    )

    assert caldav_calendar in [c.id for c in calendars_of(connection=connection)]
    [adapter] = adapters
    assert adapter._client.is_closed


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    emu = start(accounts=(HOST,))
    try:
        yield emu
    finally:
        emu.stop()


def test_the_google_adapter_closes_its_connections(google: GoogleEmulator) -> None:
    adapter = adapter_for(google, tokens=tokens_for(google))
    adapter.list_calendars()
    http = adapter._service._http.http
    assert http.connections, "httplib2 pools the connection after a call"

    adapter.close()

    assert http.connections == {}
