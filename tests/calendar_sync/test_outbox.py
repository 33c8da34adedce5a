"""Every calendar write goes through the outbox and reaches the calendar exactly once, whatever the
provider does meanwhile: dies after making the change but before answering, is stopped and started
again, throttles with Retry-After, fails with 5xx.

Real servers: the Google and Graph emulators (their faults), Radicale (stopped and restarted, and
behind a proxy that loses answers). Each change of a booking (create, move, cancel) and of a CRM
meeting (create, update, cancel) is counted on the provider by its id or UID once the fault clears.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from tests.connection_helpers import berlin, future_day
from tests.emulators.dav_proxy import DavProxy, Seen
from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, run_calendar_writes
from tests.providers import GOOGLE_EMAIL
from tests.scheduling.helpers import connect, events_on, invitations, outbox_entry, queue_again
from yoyaku.accounts.models import User
from yoyaku.calendar_sync import outbox
from yoyaku.calendar_sync.models import CalendarOutboxEntry, OutboxTarget
from yoyaku.calendars.base import EventDraft
from yoyaku.calendars.caldav import CalDAVAdapter
from yoyaku.crm.models import Contact, Meeting, MeetingOutcome
from yoyaku.crm.services import create_crm_meeting, update_crm_meeting
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, MeetingLink
from yoyaku.scheduling.services import cancel_booking, reschedule_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    return make_host("hana")


@dataclass
class Provider:
    """One emulated provider as the tests see it: break it, mend it, and read what it holds."""

    name: str
    # A fault on event writes that lets each request make its change and then loses the answer.
    lose_answers: Callable[[], None]
    # Event writes answered with 429 and the Retry-After given, before anything changes.
    throttle: Callable[[int], None]
    # Event writes answered with a server error before anything changes.
    fail: Callable[[], None]
    mend: Callable[[], None]
    # Live events on the host's calendar, as (id, start, title).
    live: Callable[[], list[tuple[str, datetime, str]]]


# Writes only: a booking's fresh busy read must still get through.
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def on_writes(add: Callable[..., Any], **fault: Any) -> Callable[[], None]:
    """Add ``fault`` for every event write (the injectors match one method per fault)."""

    def inject() -> None:
        for method in WRITE_METHODS:
            add(path_contains="/events", method=method, count=1000, **fault)

    return inject


def google_provider(google: GoogleEmulator) -> Provider:
    def live() -> list[tuple[str, datetime, str]]:
        return [
            (e["id"], datetime.fromisoformat(e["start"]["dateTime"]), e.get("summary", ""))
            for e in google.events(GOOGLE_EMAIL)
        ]

    return Provider(
        name="google",
        lose_answers=on_writes(google.add_fault, status=503, after=True),
        throttle=lambda seconds: on_writes(google.add_fault, status=429, retry_after=seconds)(),
        fail=on_writes(google.add_fault, status=500),
        mend=google.faults.clear,
        live=live,
    )


def microsoft_provider(microsoft: MicrosoftEmulator) -> Provider:
    def live() -> list[tuple[str, datetime, str]]:
        return [
            (e["id"], datetime.fromisoformat(e["start"]["dateTime"] + "+00:00"), e.get("subject", ""))
            for e in microsoft.events()
        ]

    return Provider(
        name="microsoft",
        lose_answers=on_writes(microsoft.faults.add, status=503, after=True),
        throttle=lambda seconds: on_writes(microsoft.faults.add, status=429, retry_after=seconds)(),
        fail=on_writes(microsoft.faults.add, status=500),
        mend=microsoft.faults.clear,
        live=live,
    )


@pytest.fixture(params=["google", "microsoft"])
def provider(request: pytest.FixtureRequest) -> Provider:
    if request.param == "google":
        return google_provider(request.getfixturevalue("connected_google"))
    return microsoft_provider(request.getfixturevalue("connected_microsoft"))


def post_booking(link: MeetingLink, start: datetime) -> Any:
    return Client().post(
        f"/api/v1/book/{link.slug}",
        {
            "start": start.isoformat(),
            "duration": 30,
            "timezone": "Europe/Berlin",
            "first_name": "Aiko",
            "last_name": "Sato",
            "email": "aiko@example.com",
        },
        content_type="application/json",
    )


def work_through_the_fault(row: Booking | Meeting, provider: Provider) -> None:
    """The worker tries while the fault lasts (the row stays, pending), then once it clears."""
    for _attempt in range(2):
        row.refresh_from_db()
        run_calendar_writes(at=row.calendar_retry_at or timezone.now())
        row.refresh_from_db()
        assert row.calendar_write in (CalendarWrite.PENDING, CalendarWrite.CANCEL_PENDING), row.calendar_error
        assert row.calendar_attempts >= 1 and row.calendar_retry_at is not None
    provider.mend()
    assert run_calendar_writes(at=row.calendar_retry_at) == 1
    row.refresh_from_db()
    assert not CalendarOutboxEntry.objects.exists(), "nothing left owed"


# -- bookings ----------------------------------------------------------------------------------


def test_a_booking_answers_201_while_the_provider_is_down_and_is_written_once_after(
    provider: Provider, host: User
) -> None:
    link = make_link(host)
    start = berlin(future_day(), 11)
    provider.lose_answers()

    response = post_booking(link, start)

    # The fresh busy read still works (it is no event write); the write itself waits for the worker.
    assert response.status_code == 201, response.content
    assert response.json()["calendar_write"] == "pending"
    booking = Booking.objects.get(pk=response.json()["id"])
    assert outbox_entry(booking).operation == "create"
    work_through_the_fault(booking, provider)

    assert booking.calendar_write == CalendarWrite.WRITTEN
    assert [(event_id, at) for event_id, at, _title in provider.live()] == [
        (booking.calendar_event_id, start)
    ]


def test_create_move_and_cancel_each_reach_the_calendar_once_through_lost_answers(
    provider: Provider, host: User
) -> None:
    link = make_link(host)
    day = future_day()
    booking = Booking.objects.get(pk=post_booking(link, berlin(day, 11)).json()["id"])
    run_calendar_writes()
    booking.refresh_from_db()
    [(event_id, _start, _title)] = provider.live()

    provider.lose_answers()
    reschedule_booking(booking=booking, start=berlin(day, 14))
    assert outbox_entry(booking).operation == "update"
    work_through_the_fault(booking, provider)
    assert booking.calendar_write == CalendarWrite.WRITTEN
    assert [(i, at) for i, at, _title in provider.live()] == [(event_id, berlin(day, 14))]

    provider.lose_answers()
    cancel_booking(booking=booking)
    assert outbox_entry(booking).operation == "cancel"
    work_through_the_fault(booking, provider)
    assert booking.calendar_write == CalendarWrite.CANCELLED
    assert provider.live() == []


def test_a_throttled_write_waits_as_long_as_retry_after_asks(provider: Provider, host: User) -> None:
    link = make_link(host)
    start = berlin(future_day(), 11)
    provider.throttle(600)  # longer than an adapter waits inside one call

    booking = Booking.objects.get(pk=post_booking(link, start).json()["id"])
    tried_at = timezone.now()
    run_calendar_writes()

    booking.refresh_from_db()
    entry = outbox_entry(booking)
    assert booking.calendar_write == CalendarWrite.PENDING
    assert entry.run_after is not None and entry.run_after >= tried_at + timedelta(seconds=600)
    assert entry.run_after == booking.calendar_retry_at
    provider.mend()
    assert run_calendar_writes(at=tried_at + timedelta(seconds=599)) == 0, "not before the time asked for"
    assert run_calendar_writes(at=entry.run_after) == 1
    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    assert [i for i, _at, _title in provider.live()] == [booking.calendar_event_id]


def test_two_moves_before_the_worker_runs_write_once_and_a_cancel_before_the_create_writes_nothing(
    provider: Provider, host: User
) -> None:
    link = make_link(host)
    day = future_day()
    booking = Booking.objects.get(pk=post_booking(link, berlin(day, 11)).json()["id"])
    run_calendar_writes()
    booking.refresh_from_db()

    reschedule_booking(booking=booking, start=berlin(day, 13))
    reschedule_booking(booking=booking, start=berlin(day, 15))
    assert CalendarOutboxEntry.objects.get().changes == 2, "the second move joined the first's row"
    assert run_calendar_writes() == 1
    assert [at for _i, at, _title in provider.live()] == [berlin(day, 15)]

    second = Booking.objects.get(pk=post_booking(link, berlin(day, 9)).json()["id"])
    cancel_booking(booking=second)
    run_calendar_writes()
    assert [at for _i, at, _title in provider.live()] == [berlin(day, 15)], "never written"
    assert Booking.objects.get(pk=second.pk).calendar_write == CalendarWrite.NONE


# -- CRM meetings ------------------------------------------------------------------------------


def test_crm_meetings_create_update_and_cancel_reach_the_calendar_once_through_5xx_and_lost_answers(
    provider: Provider, host: User
) -> None:
    aiko = Contact.objects.create(workspace=host.workspace, email="aiko@example.com", first_name="Aiko")
    start = berlin(future_day(), 10)

    provider.fail()
    meeting = create_crm_meeting(
        host=host, contacts=[aiko], title="Kick-off", start=start, end=start + timedelta(hours=1)
    )
    work_through_the_fault(meeting, provider)
    assert meeting.calendar_write == CalendarWrite.WRITTEN
    assert [(i, title) for i, _at, title in provider.live()] == [(meeting.calendar_event_id, "Kick-off")]

    provider.lose_answers()
    update_crm_meeting(
        meeting=meeting,
        title="Kick-off (moved)",
        start=start + timedelta(hours=2),
        end=start + timedelta(hours=3),
    )
    work_through_the_fault(meeting, provider)
    assert [(i, at, title) for i, at, title in provider.live()] == [
        (meeting.calendar_event_id, start + timedelta(hours=2), "Kick-off (moved)")
    ]

    provider.lose_answers()
    update_crm_meeting(meeting=meeting, outcome=MeetingOutcome.CANCELLED)
    work_through_the_fault(meeting, provider)
    assert meeting.calendar_write == CalendarWrite.CANCELLED
    assert provider.live() == []


# -- CalDAV: Radicale stopped and started again, and answers lost on the way --------------------


@pytest.fixture
def own_radicale() -> Iterator[RadicaleServer]:
    """A Radicale of this test's own, to stop and start again without touching the shared one."""
    with RadicaleServer(users={"alice": "alice-secret"}) as server:
        yield server


def test_caldav_changes_reach_radicale_once_through_a_restart_and_lost_answers(
    own_radicale: RadicaleServer, host: User
) -> None:
    writes = ("PUT", "DELETE")

    def is_write(seen: Seen) -> bool:
        return seen.method in writes

    with DavProxy(target=own_radicale.url) as proxy:
        _connection, calendar = connect(host, own_radicale, base_url=proxy.url + "/")
        link = make_link(host)
        day = future_day()

        # Created on the server, the answer lost.
        proxy.lose_answer(is_write)
        booking = Booking.objects.get(pk=post_booking(link, berlin(day, 11)).json()["id"])
        run_calendar_writes()
        booking.refresh_from_db()
        assert booking.calendar_write == CalendarWrite.PENDING
        [made] = events_on(own_radicale, calendar)
        assert made.uid == f"yoyaku-{booking.pk}", "the server has it although Yoyaku was not told"
        assert invitations("REQUEST") == [], "no invitation before the write is known to be done"
        proxy.clear()
        run_calendar_writes(at=booking.calendar_retry_at)
        booking.refresh_from_db()
        assert booking.calendar_write == CalendarWrite.WRITTEN
        assert [e.uid for e in events_on(own_radicale, calendar)] == [f"yoyaku-{booking.pk}"]

        # Moved while the server is stopped; it comes back (on a new port, behind the same address).
        reschedule_booking(booking=booking, start=berlin(day, 14))
        own_radicale.stop()
        run_calendar_writes()
        booking.refresh_from_db()
        assert booking.calendar_write == CalendarWrite.PENDING
        own_radicale.start()
        proxy.target = own_radicale.url
        run_calendar_writes(at=booking.calendar_retry_at)
        booking.refresh_from_db()
        assert booking.calendar_write == CalendarWrite.WRITTEN
        [moved] = events_on(own_radicale, calendar)
        assert (moved.uid, moved.start) == (f"yoyaku-{booking.pk}", berlin(day, 14))

        # Cancelled on the server, the answer lost.
        proxy.lose_answer(is_write)
        cancel_booking(booking=booking)
        run_calendar_writes()
        assert Booking.objects.get(pk=booking.pk).calendar_write == CalendarWrite.CANCEL_PENDING
        proxy.clear()
        run_calendar_writes(at=Booking.objects.get(pk=booking.pk).calendar_retry_at)

    booking.refresh_from_db()
    assert (booking.status, booking.calendar_write) == (BookingStatus.CANCELLED, CalendarWrite.CANCELLED)
    [cancelled] = events_on(own_radicale, calendar)
    assert cancelled.cancelled and cancelled.uid == f"yoyaku-{booking.pk}"
    # Yoyaku's own iMIP mail: one invitation, one update, one cancellation.
    assert len(invitations("REQUEST")) == 2
    assert len(invitations("CANCEL")) == 1


def test_a_caldav_server_asking_to_wait_is_not_tried_again_sooner(
    radicale: RadicaleServer, host: User
) -> None:
    with DavProxy(target=radicale.url) as proxy:
        _connection, calendar = connect(host, radicale, base_url=proxy.url + "/")
        proxy.answer(lambda seen: seen.method == "PUT", status=503, extra_headers={"Retry-After": "300"})
        booking = Booking.objects.get(pk=post_booking(make_link(host), berlin(future_day(), 11)).json()["id"])
        tried_at = timezone.now()
        run_calendar_writes()

        booking.refresh_from_db()
        assert booking.calendar_write == CalendarWrite.PENDING
        assert booking.calendar_retry_at is not None
        assert booking.calendar_retry_at >= tried_at + timedelta(seconds=300)
        proxy.clear()
        assert run_calendar_writes(at=tried_at + timedelta(seconds=299)) == 0
        assert run_calendar_writes(at=booking.calendar_retry_at) == 1
        assert [e.uid for e in events_on(radicale, calendar)] == [f"yoyaku-{booking.pk}"]


# -- two workers -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_over_the_same_rows_perform_each_once(
    radicale: RadicaleServer, host: User
) -> None:
    _connection, calendar = connect(host, radicale)
    link = make_link(host)
    day = future_day()
    bookings = [
        Booking.objects.get(pk=post_booking(link, berlin(day, hour)).json()["id"]) for hour in (9, 11, 14)
    ]
    # Written once already (the booking's own worker, on commit); put back to pending, owed again.
    for booking in bookings:
        Booking.objects.filter(pk=booking.pk).update(calendar_write=CalendarWrite.PENDING)
        queue_again(booking)
    ids = list(CalendarOutboxEntry.objects.filter(target=OutboxTarget.BOOKING).values_list("pk", flat=True))
    assert len(ids) == len(bookings)

    performed: Counter[str] = Counter()
    lock = threading.Lock()
    real_create = CalDAVAdapter.create_event
    real_update = CalDAVAdapter.update_event

    def count(uid: str) -> None:
        with lock:
            performed[uid] += 1

    def create_event(self: CalDAVAdapter, *, draft: EventDraft, calendar_id: str | None = None) -> str:
        count(draft.uid)
        return real_create(self, draft=draft, calendar_id=calendar_id)

    def update_event(
        self: CalDAVAdapter, *, event_id: str, draft: EventDraft, calendar_id: str | None = None
    ) -> None:
        count(draft.uid)
        real_update(self, event_id=event_id, draft=draft, calendar_id=calendar_id)

    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(30)
            for entry_id in ids:
                outbox.perform(entry_id=entry_id)
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            connections.close_all()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CalDAVAdapter, "create_event", create_event)
        patch.setattr(CalDAVAdapter, "update_event", update_event)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    assert failures == []
    assert performed == Counter({f"yoyaku-{b.pk}": 1 for b in bookings})
    assert not CalendarOutboxEntry.objects.exists()
    assert {b.calendar_write for b in Booking.objects.all()} == {CalendarWrite.WRITTEN}
    assert sorted(e.uid for e in events_on(radicale, calendar)) == sorted(f"yoyaku-{b.pk}" for b in bookings)
