"""Slots for scheduling pages, served from the synced busy index (Radicale behind a switch)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.tcp_switch import TcpSwitch
from tests.factories import make_host, make_link, sync_now
from tests.scheduling.helpers import NOW, add_event, berlin, book, connect
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus
from yoyaku.calendar_sync.models import ConnectionSync
from yoyaku.calendar_sync.services import sync_connection_now
from yoyaku.scheduling.models import LinkKind, MeetingLink
from yoyaku.scheduling.selectors import SlotsResult, available_slots

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(radicale: RadicaleServer) -> Iterator[TcpSwitch]:
    with TcpSwitch(target_port=radicale.port) as switch:
        yield switch


def slots(link: MeetingLink, *, duration: int = 30) -> SlotsResult:
    return available_slots(
        link=link, start=berlin(9), end=berlin(17), time_zone="Europe/Berlin", duration=duration, now=NOW
    )


def starts(result: SlotsResult) -> list[datetime]:
    return [slot for day in result.slots.values() for slot in day]


def failed_sync(connection: CalendarConnection) -> None:
    assert not sync_connection_now(connection_id=connection.pk), "the sync should have failed"


def test_pages_read_the_index_and_never_the_calendar(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    host = make_host("hana")
    connection, calendar = connect(host, radicale, base_url=switch.url)
    link = make_link(host)
    add_event(radicale, calendar, start=berlin(10), end=berlin(11))
    switch.down()  # a page view that asked the calendar would fail now

    before = slots(link)
    assert berlin(10) in starts(before), "the index has not been synced since the event was added"
    assert (before.offline, before.calendar_error) == (False, "")

    switch.up()
    sync_now(connection)
    result = slots(link)
    assert berlin(10) not in starts(result) and berlin(10, 30) not in starts(result)
    assert berlin(9, 30) in starts(result) and berlin(11) in starts(result)
    assert (result.offline, result.calendar_error) == (False, "")


def test_a_connection_never_synced_fails_closed(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connect(host, radicale, sync=False)

    result = slots(make_link(host))

    assert result.slots == {}
    assert result.calendar_error == "The calendar has not been read yet. Try again in a minute."


def test_a_failing_sync_closes_the_pages_until_one_succeeds(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    host = make_host("hana")
    connection, _calendar = connect(host, radicale, base_url=switch.url)
    link = make_link(host)
    first = slots(link)
    assert starts(first)

    switch.down()
    failed_sync(connection)
    result = slots(link)
    assert result.slots == {}
    assert "could not be reached" in result.calendar_error
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.UNAVAILABLE

    switch.up()
    sync_now(connection)
    assert starts(slots(link)) == starts(first)
    assert connection.status == ConnectionStatus.OK


@override_settings(YOYAKU_SYNC_STALE_AFTER_SECONDS=600)
def test_an_index_older_than_the_bound_fails_closed(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connection, _calendar = connect(host, radicale)
    link = make_link(host)
    synced = ConnectionSync.objects.get(connection=connection)
    assert synced.last_success_at is not None
    ConnectionSync.objects.filter(pk=synced.pk).update(
        last_success_at=synced.last_success_at - timedelta(seconds=599)
    )
    assert starts(slots(link))

    ConnectionSync.objects.filter(pk=synced.pk).update(
        last_success_at=synced.last_success_at - timedelta(seconds=601)
    )
    result = slots(link)
    assert result.slots == {}
    assert result.calendar_error == "The calendar has not been read recently. Try again later."


def test_a_window_beyond_what_was_synced_fails_closed(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connection, _calendar = connect(host, radicale)
    link = make_link(host, rolling_weeks=52)
    covered = ConnectionSync.objects.get(connection=connection).covered_until
    assert covered is not None and covered > timezone.now() + timedelta(days=365)

    result = available_slots(
        link=link,
        start=covered - timedelta(hours=2),
        end=covered + timedelta(hours=6),
        time_zone="UTC",
        duration=30,
        now=timezone.now(),
    )

    assert result.slots == {}
    assert result.calendar_error == "Times this far ahead cannot be offered yet."


@pytest.mark.parametrize("kind", [LinkKind.ONE_ON_ONE, LinkKind.GROUP])
def test_an_unreadable_calendar_gives_an_error_and_no_slots(
    radicale: RadicaleServer, switch: TcpSwitch, kind: str
) -> None:
    hana, ken = make_host("hana"), make_host("ken")
    connect(hana, radicale)
    ken_connection, _ = connect(ken, radicale, base_url=switch.url)
    switch.down()
    failed_sync(ken_connection)
    link = (
        make_link(ken)
        if kind == LinkKind.ONE_ON_ONE
        else make_link(hana, kind=LinkKind.GROUP, host_usernames=["hana", "ken"])
    )

    result = slots(link)

    assert result.slots == {}
    assert "could not be reached" in result.calendar_error


def test_round_robin_offers_the_union_and_skips_an_unreadable_host(
    radicale: RadicaleServer, switch: TcpSwitch
) -> None:
    hana, ken, mio = make_host("hana"), make_host("ken"), make_host("mio")
    hana_connection, hana_calendar = connect(hana, radicale)
    ken_connection, ken_calendar = connect(ken, radicale)
    mio_connection, _ = connect(mio, radicale, base_url=switch.url)
    link = make_link(hana, kind=LinkKind.ROUND_ROBIN, host_usernames=["hana", "ken", "mio"])
    add_event(radicale, hana_calendar, start=berlin(9), end=berlin(11))
    add_event(radicale, ken_calendar, start=berlin(10), end=berlin(12))
    sync_now(hana_connection)
    sync_now(ken_connection)
    switch.down()  # Mio, free all day on her calendar, cannot be read
    failed_sync(mio_connection)

    result = slots(link)

    offered = starts(result)
    assert berlin(9) in offered  # Ken
    assert berlin(11) in offered  # Hana
    assert berlin(10) not in offered and berlin(10, 30) not in offered  # both busy; Mio unknown
    assert result.calendar_error == ""
    # A booking made in the union goes to the host who is free then.
    assert book(link, berlin(9)).booking.assigned_host == ken


def test_group_offers_only_the_intersection(radicale: RadicaleServer) -> None:
    hana, ken = make_host("hana"), make_host("ken")
    hana_connection, hana_calendar = connect(hana, radicale)
    ken_connection, ken_calendar = connect(ken, radicale)
    link = make_link(hana, kind=LinkKind.GROUP, host_usernames=["hana", "ken"])
    add_event(radicale, hana_calendar, start=berlin(9), end=berlin(10))
    add_event(radicale, ken_calendar, start=berlin(10), end=berlin(11))
    sync_now(hana_connection)
    sync_now(ken_connection)

    offered = starts(slots(link))

    assert offered[0] == berlin(11)
