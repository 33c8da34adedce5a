"""Many clients book different free times of one day on a page with a per-day limit, at once.

The exclusion constraint only refuses overlaps; a limit that counts bookings holds only because
the count and the insert are serialised per host (SQLite's write lock; on PostgreSQL a lock on
the host's user row). Marked `postgres` so the second pass of `make test` runs them there too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.api.test_booking_races import _body, _race
from tests.factories import make_host, make_link
from yoyaku.scheduling.models import Booking, Reservation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
CLIENTS = 24


def _day_starts(count: int) -> list[datetime]:
    """``count`` different 15-minute starts of one working day, none overlapping another."""
    day = datetime.now(tz=UTC).date() + timedelta(days=8)
    first = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    return [first + timedelta(minutes=15 * n) for n in range(count)]


@pytest.mark.parametrize("limit", [1, 2])
def test_many_clients_booking_one_day_get_exactly_the_daily_limit(live_server, limit: int) -> None:  # type: ignore[no-untyped-def]
    make_link(make_host(), durations=[15], increment_minutes=15, max_per_day=limit)
    bodies = [_body(start, n, duration=15) for n, start in enumerate(_day_starts(CLIENTS))]
    statuses = _race(f"{live_server.url}/api/v1/book/intro", bodies)
    assert sorted(set(statuses)) == [201, 409], statuses
    assert statuses.count(201) == limit, statuses
    assert Booking.objects.count() == limit
    assert Reservation.objects.filter(active=True).count() == limit


def test_the_daily_limit_of_a_round_robin_page_holds_per_host(live_server) -> None:  # type: ignore[no-untyped-def]
    hana = make_host("hana")
    make_host("ken")
    make_link(
        hana,
        kind="round_robin",
        host_usernames=["hana", "ken"],
        durations=[15],
        increment_minutes=15,
        max_per_day=1,
    )
    bodies = [_body(start, n, duration=15) for n, start in enumerate(_day_starts(CLIENTS))]
    statuses = _race(f"{live_server.url}/api/v1/book/intro", bodies)
    assert statuses.count(201) == 2, statuses
    assert set(statuses) == {201, 409}, statuses
    per_host = sorted(Reservation.objects.values_list("host__username", flat=True))
    assert per_host == ["hana", "ken"]
