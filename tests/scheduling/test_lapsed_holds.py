"""The sweep of lapsed request holds (``services.release_lapsed_holds_everywhere``): bookings free lapsed
holds of their own hosts as they go; the sweep frees everyone's, including hosts nobody books."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link
from tests.scheduling.helpers import NOW, berlin, book, connect
from yoyaku.scheduling.models import BookingStatus, Reservation
from yoyaku.scheduling.services import release_lapsed_holds_everywhere

# Marked `postgres` too: there a hold is an active row for the exclusion constraint until freed.
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_the_sweep_frees_every_lapsed_hold_and_only_those() -> None:
    hana, ken = make_host("hana"), make_host("ken")
    # No calendars: bookings on these pages are requests holding their time.
    early = book(make_link(hana, slug="hana-intro"), berlin(10)).booking
    late = book(make_link(ken, slug="ken-intro"), berlin(11), now=NOW + timedelta(hours=24)).booking
    assert {early.status, late.status} == {BookingStatus.REQUESTED}
    held = Reservation.objects.get(booking=early)
    assert held.active and held.expires_at is not None
    assert Reservation.objects.get(booking=late).expires_at == held.expires_at + timedelta(hours=24)

    assert release_lapsed_holds_everywhere(now=held.expires_at - timedelta(seconds=1)) == 0
    assert release_lapsed_holds_everywhere(now=held.expires_at) == 1

    assert not Reservation.objects.get(booking=early).active
    assert Reservation.objects.get(booking=late).active, "still within its hold"
    assert release_lapsed_holds_everywhere(now=held.expires_at) == 0, "nothing twice"
    early.refresh_from_db()
    assert early.status == BookingStatus.REQUESTED, "the request itself waits for the host's answer"


def test_the_sweep_leaves_confirmed_bookings_alone(radicale: RadicaleServer) -> None:
    hana = make_host("hana")
    connect(hana, radicale)
    booking = book(make_link(hana), berlin(10)).booking
    assert booking.status == BookingStatus.CONFIRMED

    assert release_lapsed_holds_everywhere(now=NOW + timedelta(days=3650)) == 0
    assert Reservation.objects.get(booking=booking).active
