"""The public endpoints' limits per client address: bookings stricter than availability reads."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory, override_settings

from tests.api.test_public_booking import next_weekday, payload
from tests.factories import make_host, make_link
from yoyaku.accounts.client_address import client_address
from yoyaku.api.throttling import parse_rate
from yoyaku.crm.models import Contact
from yoyaku.scheduling.models import Booking

CLIENT = "203.0.113.5"
OTHER = "198.51.100.7"
PROXY = "10.0.0.2"


def book(client: Client, hour: int, *, address: str, **headers: str) -> tuple[int, dict[str, object], str]:
    start = next_weekday().replace(hour=hour)
    response = client.post(
        "/api/v1/book/intro",
        payload(start, email=f"guest{hour}@example.com"),
        content_type="application/json",
        REMOTE_ADDR=address,
        **headers,
    )
    return response.status_code, response.json(), response.get("Retry-After", "")


@pytest.mark.django_db
@override_settings(YOYAKU_BOOKING_RATE_LIMIT="3/h", YOYAKU_PUBLIC_RATE_LIMIT="100/m")
def test_the_booking_after_the_limit_gets_429_and_writes_nothing() -> None:
    make_link(make_host())
    client = Client()
    assert [book(client, hour, address=CLIENT)[0] for hour in (9, 10, 11)] == [201, 201, 201]
    status, body, retry_after = book(client, 12, address=CLIENT)
    assert status == 429
    assert set(body) == {"detail", "errors"} and body["errors"] == {}
    assert 1 <= int(retry_after) <= 3600
    assert body["detail"] == f"Too many requests; try again in {retry_after} seconds."
    assert Booking.objects.count() == 3
    assert not Contact.objects.filter(email="guest12@example.com").exists()
    # A request without a time counts against the same limit.
    left = client.post(
        "/api/v1/book/intro/request",
        {"timezone": "UTC", "first_name": "Ken", "last_name": "Ito", "email": "ken@example.com"},
        content_type="application/json",
        REMOTE_ADDR=CLIENT,
    )
    assert left.status_code == 429
    assert Booking.objects.count() == 3
    # Another address is not affected, and reading availability is limited apart.
    assert book(client, 13, address=OTHER)[0] == 201
    day = next_weekday().date().isoformat()
    read = client.get(
        "/api/v1/book/intro/availability", {"start": day, "end": day, "timezone": "UTC"}, REMOTE_ADDR=CLIENT
    )
    assert read.status_code == 200


@pytest.mark.django_db
@override_settings(YOYAKU_BOOKING_RATE_LIMIT="100/m", YOYAKU_PUBLIC_RATE_LIMIT="2/m")
def test_availability_has_its_own_limit() -> None:
    make_link(make_host())
    client = Client()
    day = next_weekday().date().isoformat()
    query = {"start": day, "end": day, "timezone": "UTC"}
    statuses = [
        client.get("/api/v1/book/intro/availability", query, REMOTE_ADDR=CLIENT).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert book(client, 9, address=CLIENT)[0] == 201


@pytest.mark.django_db
@override_settings(YOYAKU_BOOKING_RATE_LIMIT="2/h", YOYAKU_TRUSTED_PROXIES=[])
def test_a_forged_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_limit() -> None:
    make_link(make_host())
    client = Client()
    statuses = [
        book(client, hour, address=CLIENT, HTTP_X_FORWARDED_FOR=f"192.0.2.{hour}")[0] for hour in (9, 10, 11)
    ]
    assert statuses == [201, 201, 429]
    assert Booking.objects.count() == 2


@pytest.mark.django_db
@override_settings(YOYAKU_BOOKING_RATE_LIMIT="2/h", YOYAKU_TRUSTED_PROXIES=["10.0.0.0/24"])
def test_behind_a_trusted_proxy_each_forwarded_client_counts_apart() -> None:
    make_link(make_host())
    client = Client()
    # The client can prepend anything; the proxy appends the address it saw, which is what counts.
    first = [
        book(client, hour, address=PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.{hour}, {CLIENT}")[0]
        for hour in (9, 10, 11)
    ]
    assert first == [201, 201, 429]
    assert book(client, 12, address=PROXY, HTTP_X_FORWARDED_FOR=OTHER)[0] == 201


@override_settings(YOYAKU_TRUSTED_PROXIES=["10.0.0.0/24", "::1"])
@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        (CLIENT, "", CLIENT),
        (CLIENT, "192.0.2.1", CLIENT),
        (PROXY, "", PROXY),
        (PROXY, CLIENT, CLIENT),
        (PROXY, f"192.0.2.1, {CLIENT}, 10.0.0.9", CLIENT),
        ("::1", f" {OTHER} ", OTHER),
        (PROXY, "10.0.0.8, 10.0.0.9", "10.0.0.8"),
    ],
)
def test_client_address(peer: str, forwarded: str, expected: str) -> None:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR=peer, **headers)
    assert client_address(request) == expected


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("120/m", (120, 60)),
        ("20/h", (20, 3600)),
        ("5/10m", (5, 600)),
        ("3/day", (3, 86400)),
        (100, (100, 60)),
    ],
)
def test_parse_rate(rate: str | int, expected: tuple[int, int]) -> None:
    assert parse_rate(rate) == expected
