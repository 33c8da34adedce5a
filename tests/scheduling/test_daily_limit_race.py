"""Hosts moving meetings into a day and bookers booking that day, all at once, on a page with a
per-day limit: the day ends with exactly the limit, on SQLite and on PostgreSQL.

No overlap is involved (every time is different), so the exclusion constraint cannot help; only
the per-host lock around the count and the write (`services.lock_hosts`) keeps the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link
from tests.scheduling.helpers import NOW, WEDNESDAY, berlin, book, connect
from tests.scheduling.test_reschedule_race import run_together
from yoyaku.scheduling.models import Booking, BookingStatus
from yoyaku.scheduling.services import SlotUnavailable, reschedule_booking

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
RACERS = 6


def test_moves_and_bookings_racing_into_one_day_respect_the_daily_limit(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connect(host, radicale)
    link = make_link(host, max_per_day=1)
    # One meeting on each of the following days, each to be moved into Wednesday.
    moving = [
        book(link, berlin(10, day=WEDNESDAY + timedelta(days=1 + n)), email=f"m{n}@example.com").booking
        for n in range(RACERS)
    ]
    # Different half hours of Wednesday: the moves into the morning, the bookings into the afternoon.
    mornings = [berlin(9, day=WEDNESDAY) + timedelta(minutes=30 * n) for n in range(RACERS)]
    afternoons = [berlin(13, day=WEDNESDAY) + timedelta(minutes=30 * n) for n in range(RACERS)]
    calls: list[Callable[[], Any]] = [
        partial(reschedule_booking, booking=b, start=start, now=NOW)
        for b, start in zip(moving, mornings, strict=True)
    ]
    calls += [partial(book, link, start, email=f"b{n}@example.com") for n, start in enumerate(afternoons)]

    results = run_together(*calls)

    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, SlotUnavailable) for r in results if isinstance(r, BaseException)), results
    on_wednesday = [
        b
        for b in Booking.objects.filter(status=BookingStatus.CONFIRMED)
        if b.start is not None and b.start.astimezone(berlin(0).tzinfo).date() == WEDNESDAY
    ]
    assert len(on_wednesday) == 1, [b.start for b in on_wednesday]
