"""The SSRF guard: which addresses users' calendar URLs may reach, and that a connection goes to the
address that was checked (one resolution per connection, no DNS-rebinding window)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.calendars.listeners import listening, not_found
from yoyaku.calendars.base import CalendarError
from yoyaku.calendars.caldav import CalDAVAdapter, connect_caldav
from yoyaku.calendars.exchange import ExchangeAdapter, ExchangeConnectError, pinned_session, probe_ews_url
from yoyaku.calendars.ssrf import UnsafeURLError, address_allowed, check_url, resolve

START = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
        "64:ff9b::7f00:1",  # NAT64 well-known prefix
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::7f00:1",  # NAT64 local-use prefix
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
        "::ffff:a9fe:a9fe",
    ],
)
def test_private_and_embedded_private_addresses_are_refused(address: str) -> None:
    import ipaddress

    assert not address_allowed(ipaddress.ip_address(address), allowed_networks=())


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "2606:4700::1", "64:ff9b::5db8:d822", "::ffff:93.184.216.34", "2002:5db8:d822::1"],
)
def test_public_addresses_pass(address: str) -> None:
    import ipaddress

    assert address_allowed(ipaddress.ip_address(address), allowed_networks=())


def test_an_embedded_address_in_an_allowed_network_passes() -> None:
    import ipaddress

    assert address_allowed(ipaddress.ip_address("::ffff:127.0.0.1"), allowed_networks=["127.0.0.0/8"])
    assert not address_allowed(ipaddress.ip_address("::ffff:10.0.0.1"), allowed_networks=["127.0.0.0/8"])


@pytest.mark.parametrize(
    "host",
    [
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[::ffff:0:7f00:1]",
        "[::ffff:127.0.0.1]",
        "[2002:7f00:1::]",
        "[::ffff:7f00:1]",
        # Other spellings of 127.0.0.1 that the resolver accepts.
        "2130706433",
        "0x7f.1",
        "127.1",
        "0",
    ],
)
def test_urls_with_embedded_loopback_are_refused(host: str) -> None:
    with pytest.raises(UnsafeURLError, match="private or reserved"):
        check_url(f"http://{host}:8080/dav/", allowed_networks=())


class Rebinding:
    """A resolver stub for one name: the first answer is ``first``, every later one ``then``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, name: str, first: str, then: str) -> None:
        self.name, self.first, self.then = name, first, then
        self.calls = 0
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != self.name:
            return self._real(host, port, *args, **kwargs)
        self.calls += 1
        address = self.first if self.calls == 1 else self.then
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]


@pytest.fixture
def two_loopbacks() -> Iterator[tuple[Any, Any]]:
    """The same port on 127.0.0.2 (the allowed, "public" side) and on 127.0.0.1 (where a rebinding
    answer would lead)."""
    with (
        listening(not_found, host="127.0.0.2") as allowed,
        listening(not_found, host="127.0.0.1", port=allowed.port) as loopback,
    ):
        yield allowed, loopback


def test_caldav_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch, two_loopbacks: tuple[Any, Any]
) -> None:
    allowed, loopback = two_loopbacks
    Rebinding(monkeypatch, name="calendar.example.test", first="127.0.0.2", then="127.0.0.1")
    adapter = CalDAVAdapter(
        url=f"http://calendar.example.test:{allowed.port}/dav/",
        username="alice",
        password="alice-secret",
        time_zone="UTC",
        allowed_networks=["127.0.0.2/32"],
    )
    with adapter, pytest.raises(CalendarError):
        adapter.busy(start=START, end=START + timedelta(hours=1), calendar_ids=["/dav/cal/"])
    assert allowed.seen and allowed.seen[0].headers["host"] == f"calendar.example.test:{allowed.port}"
    assert loopback.seen == []


def test_caldav_refuses_a_name_that_rebinds_to_loopback_after_the_check(
    monkeypatch: pytest.MonkeyPatch, two_loopbacks: tuple[Any, Any]
) -> None:
    allowed, loopback = two_loopbacks
    Rebinding(monkeypatch, name="calendar.example.test", first="127.0.0.2", then="127.0.0.1")
    with pytest.raises(CalendarError, match="private or reserved"):
        # connect_caldav checks the URL first (the first answer), then connects (the second one).
        connect_caldav(
            url=f"http://calendar.example.test:{allowed.port}/dav/",
            username="alice",
            password="alice-secret",
            time_zone="UTC",
            allowed_networks=["127.0.0.2/32"],
        )
    assert loopback.seen == []


def test_exchange_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch, two_loopbacks: tuple[Any, Any]
) -> None:
    allowed, loopback = two_loopbacks
    Rebinding(monkeypatch, name="mail.example.test", first="127.0.0.2", then="127.0.0.1")
    with pinned_session(["127.0.0.2/32"]) as session:
        session.post(f"http://mail.example.test:{allowed.port}/EWS/Exchange.asmx", data=b"")
    assert allowed.seen and allowed.seen[0].headers["host"] == f"mail.example.test:{allowed.port}"
    assert loopback.seen == []


def test_exchange_refuses_a_name_that_rebinds_to_loopback_after_the_check(
    monkeypatch: pytest.MonkeyPatch, two_loopbacks: tuple[Any, Any]
) -> None:
    allowed, loopback = two_loopbacks
    Rebinding(monkeypatch, name="mail.example.test", first="127.0.0.2", then="127.0.0.1")
    with pytest.raises(ExchangeConnectError, match="private or reserved"):
        probe_ews_url(
            ews_url=f"http://mail.example.test:{allowed.port}/EWS/Exchange.asmx",
            timeout=5,
            allowed_networks=["127.0.0.2/32"],
        )
    assert loopback.seen == []


def test_resolve_refuses_when_any_answer_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    def answers(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", answers)
    with pytest.raises(UnsafeURLError):
        resolve("mixed.example.test", 443, allowed_networks=())


def test_exchangelib_sessions_connect_only_to_checked_addresses(
    monkeypatch: pytest.MonkeyPatch, two_loopbacks: tuple[Any, Any]
) -> None:
    allowed, loopback = two_loopbacks
    Rebinding(monkeypatch, name="mail.example.test", first="127.0.0.2", then="127.0.0.1")
    adapter = ExchangeAdapter(
        email="alice@example.com",
        password="s3cret",
        ews_url=f"http://mail.example.test:{allowed.port}/EWS/Exchange.asmx",
        time_zone="UTC",
        allowed_networks=["127.0.0.2/32"],
        auth_type="basic",
        server_version="15.1.2507.6",
        timeout=5,
        fail_fast=True,
    )
    with pytest.raises(CalendarError):
        adapter.busy(start=START, end=START + timedelta(hours=1))
    adapter.close()
    assert loopback.seen == []


def test_a_public_answer_then_loopback_never_reaches_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The classic rebinding: the check sees a public address, the connection would see 127.0.0.1.
    Nothing is allow-listed here, as in production."""
    with listening(not_found, host="127.0.0.1") as loopback:
        Rebinding(monkeypatch, name="calendar.example.test", first="93.184.216.34", then="127.0.0.1")
        with pytest.raises(CalendarError, match="private or reserved"):
            connect_caldav(
                url=f"http://calendar.example.test:{loopback.port}/dav/",
                username="alice",
                password="alice-secret",
                time_zone="UTC",
                allowed_networks=(),
            )
        Rebinding(monkeypatch, name="mail.example.test", first="93.184.216.34", then="127.0.0.1")
        with pytest.raises(ExchangeConnectError, match="private or reserved"):
            probe_ews_url(
                ews_url=f"http://mail.example.test:{loopback.port}/EWS/Exchange.asmx",
                timeout=5,
                allowed_networks=(),
            )
    assert loopback.seen == []
