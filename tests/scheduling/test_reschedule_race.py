"""A host moving a meeting and a booker booking the same time, in two threads: exactly one wins.

On SQLite the write lock taken at BEGIN orders them. On PostgreSQL the per-host lock
(`services.lock_hosts`, there for per-day limits) would order them too; here it is left out and
both are made to pass their check before either writes (each waits for the other inside its
transaction), so only the exclusion constraint on reservations can stop the second one: overlaps
are refused by the database even if the lock were missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link
from tests.scheduling.helpers import NOW, berlin, book, connect, events_on
from yoyaku.scheduling import services
from yoyaku.scheduling.models import Booking, Reservation
from yoyaku.scheduling.services import SlotUnavailable, reschedule_booking

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

# Only a guard against a hang if the code under test deadlocks; no assertion depends on it.
GUARD_SECONDS = 30


def run_together(*calls: Callable[[], Any]) -> list[object]:
    """Run the calls in threads started together; each result is a return value or the exception."""
    results: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            start.wait(GUARD_SECONDS)
            results[index] = call()
        except BaseException as error:
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD_SECONDS * 2)
    return results


def test_a_move_and_a_booking_racing_for_one_time_give_exactly_one_winner(
    radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = make_host("hana")
    _, calendar = connect(host, radicale)
    link = make_link(host)
    moving = book(link, berlin(10)).booking
    target = berlin(14)
    if connection.vendor == "postgresql":
        # Both checks read the reservations before either transaction writes one.
        checked = threading.Barrier(2)

        def then_wait(read: Callable[..., Any]) -> Callable[..., Any]:
            def read_then_wait(**kwargs: Any) -> Any:
                result = read(**kwargs)
                checked.wait(GUARD_SECONDS)
                return result

            return read_then_wait

        # The move reads its host's inputs, the booking its hosts' (one call for all of them).
        monkeypatch.setattr(services, "host_inputs", then_wait(services.host_inputs))
        monkeypatch.setattr(services, "hosts_inputs", then_wait(services.hosts_inputs))
        # With the lock the second check would wait for the first commit and never reach the barrier.
        monkeypatch.setattr(services, "lock_hosts", lambda **kwargs: None)

    moved, booked = run_together(
        lambda: reschedule_booking(booking=moving, start=target, now=NOW),
        lambda: book(link, target, email="ken@example.com"),
    )

    outcomes = [not isinstance(r, BaseException) for r in (moved, booked)]
    assert outcomes.count(True) == 1, (moved, booked)
    loser = booked if outcomes[0] else moved
    assert isinstance(loser, SlotUnavailable), loser
    if connection.vendor == "postgresql":
        assert isinstance(loser.__cause__, IntegrityError), "the exclusion constraint decided"
    at_target = Reservation.objects.filter(host=host, active=True, start=target)
    assert at_target.count() == 1
    moving.refresh_from_db()
    if outcomes[0]:
        assert moving.start == target
        assert Booking.objects.count() == 1
    else:
        assert moving.start == berlin(10)
        assert Reservation.objects.get(booking=moving).start == berlin(10)
        assert at_target.get().booking.email == "ken@example.com"
    # The calendar agrees: one event at the contested time, none left at a time not booked.
    starts = sorted(e.start for e in events_on(radicale, calendar) if not e.cancelled)
    assert starts == sorted(b.start for b in Booking.objects.all())
