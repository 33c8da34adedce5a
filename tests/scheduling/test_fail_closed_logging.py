"""A page that fails closed because a calendar cannot be read says so in the log, at WARNING, with the
connection (id and provider) and the error, so an operator can tell why a page offers nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.tcp_switch import TcpSwitch
from tests.factories import make_host, make_link
from tests.scheduling.helpers import NOW, berlin, connect
from yoyaku.calendar_sync import services as sync_services
from yoyaku.calendar_sync.services import sync_connection_now
from yoyaku.scheduling.models import LinkKind, MeetingLink
from yoyaku.scheduling.selectors import SlotsResult, available_slots

pytestmark = pytest.mark.django_db


@pytest.fixture
def switch(radicale: RadicaleServer) -> Iterator[TcpSwitch]:
    with TcpSwitch(target_port=radicale.port) as switch:
        yield switch


def read_page(link_slug: str) -> SlotsResult:
    link = MeetingLink.objects.get(slug=link_slug)
    return available_slots(
        link=link, start=berlin(9), end=berlin(17), time_zone="Europe/Berlin", duration=30, now=NOW
    )


def warnings_of(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name and r.levelno == logging.WARNING]


def test_an_unreadable_calendar_is_logged_with_the_connection_and_the_error(
    radicale: RadicaleServer, switch: TcpSwitch, caplog: pytest.LogCaptureFixture
) -> None:
    host = make_host("ken")
    connection, _calendar = connect(host, radicale, base_url=switch.url)
    make_link(host)
    switch.down()

    with caplog.at_level(logging.WARNING):
        assert not sync_connection_now(connection_id=connection.pk)
        result = read_page("intro")

    assert result.slots == {}
    (failed_sync,) = warnings_of(caplog, "yoyaku.calendar_sync.services")
    assert f"connection {connection.pk} (caldav) failed" in failed_sync.getMessage()
    (record,) = warnings_of(caplog, "yoyaku.scheduling.selectors")
    message = record.getMessage()
    assert f"connection {connection.pk} (caldav)" in message
    assert "offers no slots" in message
    assert result.calendar_error in message


def test_a_round_robin_host_left_out_is_logged_too(
    radicale: RadicaleServer, switch: TcpSwitch, caplog: pytest.LogCaptureFixture
) -> None:
    hana, mio = make_host("hana"), make_host("mio")
    connect(hana, radicale)
    connection, _ = connect(mio, radicale, base_url=switch.url)
    make_link(hana, kind=LinkKind.ROUND_ROBIN, host_usernames=["hana", "mio"])
    switch.down()

    with caplog.at_level(logging.WARNING):
        assert not sync_connection_now(connection_id=connection.pk)
        read_page("intro")

    (record,) = warnings_of(caplog, "yoyaku.scheduling.selectors")
    assert f"connection {connection.pk} (caldav) of mio" in record.getMessage()
    assert "leaves this host out" in record.getMessage()


def test_an_unexpected_adapter_error_is_logged_with_its_traceback(
    radicale: RadicaleServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = make_host("ken")
    connection, _calendar = connect(host, radicale)
    make_link(host)

    def broken(connection: object) -> object:
        raise KeyError("odd server answer")

    monkeypatch.setattr(sync_services, "adapter_for", broken)
    with caplog.at_level(logging.WARNING):
        assert not sync_connection_now(connection_id=connection.pk)
        read_page("intro")

    (record,) = [r for r in caplog.records if r.name == "yoyaku.calendar_sync.services"]
    assert record.levelno >= logging.WARNING
    assert f"connection {connection.pk} (caldav)" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert warnings_of(caplog, "yoyaku.scheduling.selectors")
