"""Slots for scheduling pages, served from the synced copy of busy time (Radicale behind a switch)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.tcp_switch import TcpSwitch
from tests.factories import make_host, make_link
from tests.scheduling.helpers import NOW, add_event, berlin, book, connect
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus
from yoyaku.scheduling.models import LinkKind, MeetingLink
from yoyaku.scheduling.selectors import SlotsResult, available_slots

pytestmark = pytest.mark.django_db
TTL = 600


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


def age_copy(connection: CalendarConnection, seconds: int) -> None:
    """Pretend the copy was fetched ``seconds`` ago."""
    connection.refresh_from_db()
    assert connection.busy_fetched_at is not None, "the copy was never filled"
    CalendarConnection.objects.filter(pk=connection.pk).update(
        busy_fetched_at=connection.busy_fetched_at - timedelta(seconds=seconds)
    )


@override_settings(YOYAKU_BUSY_TTL_SECONDS=TTL)
def test_copy_serves_pages_until_its_ttl_then_the_calendar_is_read_again(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connection, calendar = connect(host, radicale)
    link = make_link(host)
    assert berlin(10) in starts(slots(link))
    add_event(radicale, calendar, start=berlin(10), end=berlin(11))

    # Stale but valid: the event is not in the copy yet.
    assert berlin(10) in starts(slots(link))
    age_copy(connection, TTL - 60)
    assert berlin(10) in starts(slots(link))

    age_copy(connection, 120)  # now older than the TTL
    result = slots(link)
    assert berlin(10) not in starts(result) and berlin(10, 30) not in starts(result)
    assert berlin(9, 30) in starts(result) and berlin(11) in starts(result)
    assert (result.offline, result.calendar_error) == (False, "")


@override_settings(YOYAKU_BUSY_TTL_SECONDS=TTL)
def test_copy_outlives_a_short_outage_but_not_its_ttl(radicale: RadicaleServer, switch: TcpSwitch) -> None:
    host = make_host("hana")
    connection, _calendar = connect(host, radicale, base_url=switch.url)
    link = make_link(host)
    first = slots(link)
    assert starts(first)
    switch.down()

    assert starts(slots(link)) == starts(first)

    age_copy(connection, TTL + 1)
    result = slots(link)
    assert result.slots == {}
    assert result.calendar_error
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.UNAVAILABLE

    switch.up()
    assert starts(slots(link)) == starts(first)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.OK


def test_a_window_beyond_the_copy_reads_the_calendar(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connection, calendar = connect(host, radicale)
    link = make_link(host, rolling_weeks=52)
    slots(link)
    connection.refresh_from_db()
    assert connection.busy_window_end is not None
    later = connection.busy_window_end + timedelta(days=7)
    day_start = later.replace(hour=8, minute=0, second=0, microsecond=0)
    add_event(radicale, calendar, start=day_start + timedelta(hours=2), end=day_start + timedelta(hours=3))

    result = available_slots(
        link=link,
        start=day_start,
        end=day_start + timedelta(hours=6),
        time_zone="UTC",
        duration=30,
        now=timezone.now(),
    )

    offered = starts(result)
    assert day_start + timedelta(hours=1) in offered
    assert day_start + timedelta(hours=2) not in offered


@pytest.mark.parametrize("kind", [LinkKind.ONE_ON_ONE, LinkKind.GROUP])
def test_an_unreadable_calendar_gives_an_error_and_no_slots(
    radicale: RadicaleServer, switch: TcpSwitch, kind: str
) -> None:
    hana, ken = make_host("hana"), make_host("ken")
    connect(hana, radicale)
    connect(ken, radicale, base_url=switch.url)
    switch.down()
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
    _, hana_calendar = connect(hana, radicale)
    _, ken_calendar = connect(ken, radicale)
    connect(mio, radicale, base_url=switch.url)
    link = make_link(hana, kind=LinkKind.ROUND_ROBIN, host_usernames=["hana", "ken", "mio"])
    add_event(radicale, hana_calendar, start=berlin(9), end=berlin(11))
    add_event(radicale, ken_calendar, start=berlin(10), end=berlin(12))
    switch.down()  # Mio, free all day on her calendar, cannot be read

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
    _, hana_calendar = connect(hana, radicale)
    _, ken_calendar = connect(ken, radicale)
    link = make_link(hana, kind=LinkKind.GROUP, host_usernames=["hana", "ken"])
    add_event(radicale, hana_calendar, start=berlin(9), end=berlin(10))
    add_event(radicale, ken_calendar, start=berlin(10), end=berlin(11))

    offered = starts(slots(link))

    assert offered[0] == berlin(11)
