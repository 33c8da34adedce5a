"""Many clients race for one slot through the real HTTP server: the database lets exactly one win.

Marked `postgres` so the second pass of `make test` runs them against PostgreSQL too.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.factories import make_host, make_link
from yoyaku.scheduling.models import Booking, Reservation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
CLIENTS = 24


def _slot(hour: int) -> datetime:
    day = datetime.now(tz=UTC).date() + timedelta(days=8)
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo("Europe/Berlin"))


def _race(url: str, bodies: list[dict[str, object]]) -> list[int]:
    barrier = Barrier(len(bodies))

    def post(body: dict[str, object]) -> int:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return client.post(url, json=body).status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def _body(start: datetime, n: int, duration: int = 30) -> dict[str, object]:
    return {
        "start": start.isoformat(),
        "duration": duration,
        "timezone": "Europe/Berlin",
        "first_name": "Racer",
        "last_name": str(n),
        "email": f"racer{n}@example.com",
    }


def test_many_clients_one_slot_exactly_one_booking(live_server) -> None:  # type: ignore[no-untyped-def]
    make_link(make_host())
    statuses = _race(f"{live_server.url}/api/v1/book/intro", [_body(_slot(10), n) for n in range(CLIENTS)])
    assert sorted(set(statuses)) == [201, 409], statuses
    assert statuses.count(201) == 1
    assert Booking.objects.count() == 1
    assert Reservation.objects.count() == 1


def test_overlapping_slots_of_different_lengths_never_both_win(live_server) -> None:  # type: ignore[no-untyped-def]
    # A 60-minute meeting at 10:00 and 30-minute ones at 10:00 and 10:30 all overlap pairwise
    # with the long one; a unique key on (host, start, end) would let two of them through.
    make_link(make_host(), durations=[30, 60])
    bodies = []
    for n in range(CLIENTS):
        if n % 3 == 0:
            bodies.append(_body(_slot(10), n, duration=60))
        elif n % 3 == 1:
            bodies.append(_body(_slot(10), n, duration=30))
        else:
            bodies.append(_body(_slot(10) + timedelta(minutes=30), n, duration=30))
    statuses = _race(f"{live_server.url}/api/v1/book/intro", bodies)
    assert all(s in (201, 409) for s in statuses), statuses
    spans = sorted(Reservation.objects.values_list("start", "end"))
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, spans
    # Either the hour went to one 60-minute booking, or to the two half hours.
    assert statuses.count(201) in (1, 2)
    assert Booking.objects.count() == statuses.count(201)


def test_same_idempotency_key_racing_gives_one_booking(live_server) -> None:  # type: ignore[no-untyped-def]
    make_link(make_host())
    body = _body(_slot(14), 1) | {"idempotency_key": "same-key-for-all"}
    statuses = _race(f"{live_server.url}/api/v1/book/intro", [body] * 12)
    assert Booking.objects.count() == 1
    assert statuses.count(201) == 1
    assert set(statuses) <= {200, 201}


def test_one_key_racing_with_two_different_bookings_gives_one_booking(live_server) -> None:  # type: ignore[no-untyped-def]
    # Half the clients send one booking, half another, all under one key: one booking is made, the
    # clients that sent it get it back, and the others are told the key was used for another one.
    make_link(make_host())
    key = {"idempotency_key": "one-key-two-bodies"}
    bodies = [(_body(_slot(10), 1) if n % 2 else _body(_slot(15), 2)) | key for n in range(12)]
    url = f"{live_server.url}/api/v1/book/intro"
    statuses = _race(url, bodies)
    booking = Booking.objects.get()
    assert statuses.count(201) == 1, statuses
    for body, status in zip(bodies, statuses, strict=True):
        assert status in ((200, 201) if body["last_name"] == booking.last_name else (422,)), (body, status)
    assert Reservation.objects.count() == 1


def test_same_idempotency_key_racing_on_requests_gives_one_request(live_server) -> None:  # type: ignore[no-untyped-def]
    make_link(make_host())
    body = {k: v for k, v in _body(_slot(10), 1).items() if k not in ("start", "duration")}
    body |= {"message": "Please call me", "idempotency_key": "same-request-key"}
    statuses = _race(f"{live_server.url}/api/v1/book/intro/request", [body] * 12)
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {200, 201}, statuses
    assert Booking.objects.count() == 1


def test_many_clients_one_slot_of_a_group_page_give_one_meeting_with_every_host(live_server) -> None:  # type: ignore[no-untyped-def]
    # Without a per-day limit a booking takes no host lock: each host's exclusion constraint decides.
    hana = make_host("hana")
    make_host("ken")
    make_link(hana, kind="group", host_usernames=["hana", "ken"])
    statuses = _race(f"{live_server.url}/api/v1/book/intro", [_body(_slot(11), n) for n in range(CLIENTS)])
    assert statuses.count(201) == 1, statuses
    assert set(statuses) == {201, 409}, statuses
    booking = Booking.objects.get()
    hosts = sorted(Reservation.objects.filter(booking=booking).values_list("host__username", flat=True))
    assert hosts == ["hana", "ken"]


def test_many_clients_racing_for_a_lapsed_hold_give_one_booking(live_server) -> None:  # type: ignore[no-untyped-def]
    make_link(make_host())
    url = f"{live_server.url}/api/v1/book/intro"
    assert httpx.post(url, json=_body(_slot(12), 0), timeout=60).status_code == 201
    first = Booking.objects.get()
    Reservation.objects.filter(booking=first).update(expires_at=datetime.now(tz=UTC) - timedelta(seconds=1))
    statuses = _race(url, [_body(_slot(12), n) for n in range(1, CLIENTS)])
    assert statuses.count(201) == 1, statuses
    assert set(statuses) == {201, 409}, statuses
    assert not Reservation.objects.get(booking=first).active
    assert Reservation.objects.filter(active=True).exclude(booking=first).count() == 1
