"""A booking reads its page's hosts with a fixed number of queries, whatever their number."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from tests.factories import make_host, make_link
from tests.scheduling.helpers import NOW, berlin
from yoyaku.scheduling.models import Booking, LinkKind
from yoyaku.scheduling.services import book_meeting

pytestmark = pytest.mark.django_db


def queries_of_one_booking(*, hosts: int, kind: str, hour: int) -> int:
    names = [f"host{hosts}-{n}" for n in range(hosts)]
    for name in names:
        make_host(name)
    link = make_link(
        make_host(f"owner{hosts}-{kind}"),
        slug=f"page-{hosts}-{kind.replace('_', '-')}",
        kind=kind,
        host_usernames=names,
    )
    with CaptureQueriesContext(db) as queries:
        outcome = book_meeting(
            link=link,
            start=berlin(hour),
            duration=30,
            time_zone="Europe/Berlin",
            first_name="Aiko",
            last_name="Sato",
            email=f"aiko{hosts}@example.com",
            now=NOW,
        )
    assert outcome.created
    return len(queries.captured_queries)


@pytest.mark.parametrize("kind", [LinkKind.ROUND_ROBIN, LinkKind.GROUP])
def test_two_hosts_and_twelve_hosts_take_the_same_number_of_queries(kind: str) -> None:
    two = queries_of_one_booking(hosts=2, kind=kind, hour=10)
    twelve = queries_of_one_booking(hosts=12, kind=kind, hour=12)
    assert twelve == two, f"{two} queries for two hosts, {twelve} for twelve"
    assert Booking.objects.count() == 2
