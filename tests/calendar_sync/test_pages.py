"""Streamed sync: each page of a listing is applied in a transaction of its own, the sync position
moves only with the last page, and a complete listing deletes what it did not see only at its end.

Page sizes are made small (CalDAV's multiget batch, Graph's delta page) so a few events make
several pages on the real servers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.calendar_sync.test_sync import day_at, ical, indexed
from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, sync_now
from tests.scheduling.helpers import connect
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.calendar_sync import services
from yoyaku.calendar_sync.changes import StoreChanges
from yoyaku.calendar_sync.models import CalendarSyncState, SyncedEvent
from yoyaku.calendar_sync.services import apply_sync_pages, sync_connection_now
from yoyaku.calendars import caldav, microsoft
from yoyaku.calendars.base import RemoteEvent, SyncPage

pytestmark = pytest.mark.django_db


@dataclass
class Followed:
    """What the followers were handed, call by call, and whether each call was inside a transaction."""

    calls: list[StoreChanges]
    in_transaction: list[bool]
    fail_on_call: int | None = None

    def __call__(self, *, connection: CalendarConnection, changes: StoreChanges, now: datetime) -> None:
        self.calls.append(changes)
        self.in_transaction.append(transaction.get_connection().in_atomic_block)
        if self.fail_on_call == len(self.calls):
            raise RuntimeError("a follower failed")


@pytest.fixture
def followed(monkeypatch: pytest.MonkeyPatch) -> Followed:
    recorder = Followed(calls=[], in_transaction=[])
    monkeypatch.setattr(services, "follow_store_changes", recorder)
    return recorder


@pytest.fixture
def host() -> User:
    return make_host()


def seed_hours(radicale: RadicaleServer, calendar: str, hours: list[int]) -> list[str]:
    return radicale.seed(calendar, [ical(f"{uuid.uuid4()}-t", day_at(h), day_at(h + 1)) for h in hours])


def force_complete_listing(connection: CalendarConnection) -> None:
    """As the periodic complete listing does: the stored token is older than the full-listing period."""
    CalendarSyncState.objects.filter(connection=connection).update(
        full_synced_at=timezone.now() - timedelta(days=30)
    )


def test_caldav_pages_are_applied_and_followed_one_at_a_time(
    radicale: RadicaleServer, host: User, followed: Followed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caldav, "MULTIGET_BATCH", 2)
    connection, calendar = connect(host, radicale, sync=False)
    urls = seed_hours(radicale, calendar, [8, 10, 12, 14, 16])

    sync_now(connection)

    # Five objects, two per multiget: three pages, each followed inside its own transaction.
    assert [len(c.changed_event_ids) for c in followed.calls] == [2, 2, 1]
    assert set().union(*(c.changed_event_ids for c in followed.calls)) == set(urls)
    assert all(c.full and not c.removed_event_ids for c in followed.calls)
    assert all(followed.in_transaction)
    assert len(indexed(connection)) == 5


def test_a_complete_listing_deletes_what_it_did_not_see_only_after_its_last_page(
    radicale: RadicaleServer, host: User, followed: Followed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caldav, "MULTIGET_BATCH", 2)
    connection, calendar = connect(host, radicale, sync=False)
    urls = seed_hours(radicale, calendar, [8, 10, 12, 14, 16])
    sync_now(connection)
    # An event the store holds and the server no longer reports at all (its deletion was missed).
    calendar_id = CalendarSyncState.objects.get(connection=connection).calendar_id
    apply_sync_pages(
        connection=connection,
        calendar_id=calendar_id,
        pages=[SyncPage(changed=[remote("ghost", 18)], token="old", last=True)],
        now=timezone.now(),
    )
    force_complete_listing(connection)
    followed.calls.clear()

    sync_now(connection)

    # Three pages of what is there, then one call with what the listing did not see.
    *pages, absent = followed.calls
    assert [len(c.changed_event_ids) for c in pages] == [2, 2, 1]
    assert all(c.full and not c.removed_event_ids for c in pages)
    assert absent.full and absent.removed_event_ids == {"ghost"} and not absent.changed_event_ids
    assert set(SyncedEvent.objects.filter(connection=connection).values_list("event_id", flat=True)) == set(
        urls
    )
    assert len(indexed(connection)) == 5


def test_a_sync_stopped_midway_keeps_the_old_token_and_the_next_one_applies_the_pages_again(
    radicale: RadicaleServer, host: User, followed: Followed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caldav, "MULTIGET_BATCH", 2)
    connection, calendar = connect(host, radicale, sync=False)
    seed_hours(radicale, calendar, [8])
    sync_now(connection)
    old_token = CalendarSyncState.objects.get(connection=connection).token
    seed_hours(radicale, calendar, [10, 12, 14, 16])
    followed.calls.clear()
    followed.fail_on_call = 2  # the second page's follower fails: that page is rolled back

    assert not sync_connection_now(connection_id=connection.pk)

    assert CalendarSyncState.objects.get(connection=connection).token == old_token
    assert SyncedEvent.objects.filter(connection=connection).count() == 3  # the first event and page one

    followed.fail_on_call = None
    sync_now(connection)  # from the old token: page one again (no duplicate rows), then the rest

    assert SyncedEvent.objects.filter(connection=connection).count() == 5
    assert len(indexed(connection)) == 5
    assert CalendarSyncState.objects.get(connection=connection).token != old_token


def test_a_caldav_batch_that_fails_while_the_page_before_is_applied_fails_the_sync(
    radicale: RadicaleServer, host: User, followed: Followed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The next multiget is fetched on a thread while a page is applied: its failure must still
    # reach the sync, which then keeps the old token.
    monkeypatch.setattr(caldav, "MULTIGET_BATCH", 2)
    connection, calendar = connect(host, radicale, sync=False)
    seed_hours(radicale, calendar, [8])
    sync_now(connection)
    old_token = CalendarSyncState.objects.get(connection=connection).token
    seed_hours(radicale, calendar, [10, 12, 14, 16])
    fetch = caldav.CalDAVAdapter._multiget
    batches: list[int] = []

    def failing_second_batch(
        self: caldav.CalDAVAdapter, collection: str, hrefs: Sequence[str]
    ) -> Iterator[tuple[str, bytes, str]]:
        batches.append(len(hrefs))
        if len(batches) == 2:
            raise caldav.CalendarUnavailable("the server went away")
        return fetch(self, collection, hrefs)

    monkeypatch.setattr(caldav.CalDAVAdapter, "_multiget", failing_second_batch)
    followed.calls.clear()

    assert not sync_connection_now(connection_id=connection.pk)

    assert CalendarSyncState.objects.get(connection=connection).token == old_token
    assert [len(c.changed_event_ids) for c in followed.calls] == [2]  # page one applied, then the failure
    assert SyncedEvent.objects.filter(connection=connection).count() == 3


def test_graph_delta_pages_are_followed_one_at_a_time(
    connected_microsoft: MicrosoftEmulator, followed: Followed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(microsoft, "DELTA_PAGE_SIZE", 2)
    connection = CalendarConnection.objects.get(provider="microsoft")
    sync_now(connection)
    added = [connected_microsoft.add_event(start=day_at(h), end=day_at(h + 1)) for h in (8, 10, 12)]
    followed.calls.clear()

    sync_now(connection)

    assert [len(c.changed_event_ids) for c in followed.calls] == [2, 1]
    assert all(followed.in_transaction) and not any(c.full for c in followed.calls)
    assert set().union(*(c.changed_event_ids for c in followed.calls)) == set(added)

    connected_microsoft.delete_event(added[0])
    followed.calls.clear()
    sync_now(connection)

    assert [c.removed_event_ids for c in followed.calls] == [{added[0]}]
    assert len(indexed(connection)) == 2


def remote(event_id: str, hour: int) -> RemoteEvent:
    return RemoteEvent(id=event_id, uid=event_id, title=event_id, start=day_at(hour), end=day_at(hour + 1))


def test_a_switch_to_a_complete_listing_midway_deletes_what_only_the_incremental_pages_wrote(
    radicale: RadicaleServer, host: User, followed: Followed
) -> None:
    """An adapter whose token expires after some pages lists everything again (Google's 410 on a
    later page): events written by the pages before the switch and absent from the complete listing
    are deleted like any other unseen event."""
    connection, _calendar = connect(host, radicale, sync=False)
    earlier = timezone.now() - timedelta(minutes=5)
    apply_sync_pages(
        connection=connection,
        calendar_id="c",
        pages=[SyncPage(changed=[remote("a", 8), remote("c", 9)], full=True, token="t1", last=True)],
        now=earlier,
    )
    followed.calls.clear()

    full = apply_sync_pages(
        connection=connection,
        calendar_id="c",
        pages=[
            SyncPage(changed=[remote("x", 10)]),  # incremental, then the token is refused
            SyncPage(changed=[remote("a", 11)], full=True),
            SyncPage(changed=[remote("b", 12)], full=True, token="t2", last=True),
        ],
        now=timezone.now(),
    )

    assert full
    assert set(SyncedEvent.objects.filter(connection=connection).values_list("event_id", flat=True)) == {
        "a",
        "b",
    }
    assert followed.calls[-1].removed_event_ids == {"c", "x"}
    assert CalendarSyncState.objects.get(connection=connection, calendar_id="c").token == "t2"


def test_a_listing_that_ends_before_its_last_page_stores_no_token(
    radicale: RadicaleServer, host: User, followed: Followed
) -> None:
    connection, _calendar = connect(host, radicale, sync=False)

    with pytest.raises(services.CalendarUnavailable):
        apply_sync_pages(
            connection=connection,
            calendar_id="c",
            pages=[SyncPage(changed=[remote("a", 8)], full=True)],
            now=timezone.now(),
        )

    assert not CalendarSyncState.objects.filter(connection=connection, calendar_id="c").exists()
