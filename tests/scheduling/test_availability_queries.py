"""An availability request reads every host's busy time from the index with a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import connect_caldav, make_host, make_link
from tests.scheduling.helpers import NOW, berlin
from yoyaku.accounts.models import User
from yoyaku.calendar_sync import index
from yoyaku.calendar_sync.models import ConnectionSync
from yoyaku.scheduling.models import LinkKind, MeetingLink
from yoyaku.scheduling.selectors import SlotsResult, available_slots

pytestmark = pytest.mark.django_db


def indexed_host(name: str, *, busy_hour: int) -> None:
    """A host whose calendar was synced a moment ago and holds one event that day (no server needed:
    availability reads only the index)."""
    host = make_host(name)
    connection = connect_caldav(
        host,
        server_url="http://calendar.invalid/",
        username=name,
        password="pw",
        calendar_url=f"http://calendar.invalid/{name}/",
    )
    start = int(berlin(busy_hour).timestamp())
    ConnectionSync.objects.create(
        connection=connection,
        busy_index=index.pack([(start, start + 3600)]),
        last_success_at=timezone.now(),
        covered_until=NOW + timedelta(days=400),
    )


def page(prefix: str, hosts: int) -> MeetingLink:
    """A one-on-one page for one host, a round robin page for more."""
    names = [f"{prefix}{i}" for i in range(hosts)]
    for i, name in enumerate(names):
        indexed_host(name, busy_hour=9 + i % 8)
    owner = User.objects.get(username=names[0])
    if hosts == 1:
        return make_link(owner, slug=prefix)
    return make_link(owner, slug=prefix, kind=LinkKind.ROUND_ROBIN, host_usernames=names)


def query_slots(link: MeetingLink) -> tuple[SlotsResult, int]:
    link = MeetingLink.objects.select_related("owner").get(pk=link.pk)
    with CaptureQueriesContext(db) as queries:
        result = available_slots(
            link=link, start=berlin(9), end=berlin(17), time_zone="Europe/Berlin", duration=30, now=NOW
        )
    return result, len(queries.captured_queries)


def test_one_host_and_twenty_hosts_take_the_same_number_of_queries() -> None:
    one, one_queries = query_slots(page("solo", 1))
    two, two_queries = query_slots(page("pair", 2))
    twenty, twenty_queries = query_slots(page("team", 20))

    assert one.calendar_error == two.calendar_error == twenty.calendar_error == ""
    # The index was read: the one host is busy 9:00-10:00; of two or twenty, someone is free at 9:00.
    day = berlin(9).date()
    assert berlin(9) not in one.slots[day] and berlin(10) in one.slots[day]
    assert berlin(9) in two.slots[day] and berlin(9) in twenty.slots[day]
    assert one_queries == two_queries == twenty_queries
