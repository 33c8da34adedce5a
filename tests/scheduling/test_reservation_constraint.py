from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import make_host, make_link
from yoyaku.scheduling.models import Booking, Reservation

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _booking(link, host, n):  # type: ignore[no-untyped-def]
    return Booking.objects.create(
        link=link,
        status="confirmed",
        time_zone="UTC",
        first_name="A",
        last_name=str(n),
        email=f"a{n}@example.com",
        assigned_host=host,
    )


def test_database_refuses_overlapping_active_reservations_of_one_host() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("The exclusion constraint is PostgreSQL's; SQLite serialises bookings instead.")
    host = make_host()
    other = make_host("ken")
    link = make_link(host)
    t0 = datetime(2027, 3, 1, 9, tzinfo=UTC)
    Reservation.objects.create(
        booking=_booking(link, host, 1), host=host, start=t0, end=t0 + timedelta(hours=1)
    )
    with pytest.raises(IntegrityError, match="reservation_no_overlap"), transaction.atomic():
        Reservation.objects.create(
            booking=_booking(link, host, 2),
            host=host,
            start=t0 + timedelta(minutes=59),
            end=t0 + timedelta(hours=2),
        )
    # Back to back is fine (ranges are half-open), as are other hosts and inactive rows.
    Reservation.objects.create(
        booking=_booking(link, host, 3), host=host, start=t0 + timedelta(hours=1), end=t0 + timedelta(hours=2)
    )
    Reservation.objects.create(
        booking=_booking(link, other, 4), host=other, start=t0, end=t0 + timedelta(hours=1)
    )
    Reservation.objects.create(
        booking=_booking(link, host, 5), host=host, start=t0, end=t0 + timedelta(hours=1), active=False
    )
    assert Reservation.objects.count() == 4
