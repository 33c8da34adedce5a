"""The migration that records where bookings' events are: an event written before records its host's
meetings connection, as the writes then chose it, so switching calendars afterwards cannot send its
move or cancellation to the calendar connected next."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ACCOUNTS = ("accounts", "0005_calendar_log_scope")
BEFORE = [("scheduling", "0105_booking_calendar_follow"), ACCOUNTS]
AFTER = [("scheduling", "0106_booking_calendar_connection"), ACCOUNTS]


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema() -> Iterator[None]:
    # Later tests share this database: leave it at every app's newest migration, not at AFTER.
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_events_written_before_record_their_hosts_meetings_connection() -> None:
    old = migrate(BEFORE).loader.project_state(BEFORE).apps
    workspace = old.get_model("accounts", "Workspace").objects.create(name="Team")
    User = old.get_model("accounts", "User")
    Connection = old.get_model("accounts", "CalendarConnection")
    hana = User.objects.create(username="hana", workspace=workspace)
    ken = User.objects.create(username="ken", workspace=workspace)
    mio = User.objects.create(username="mio", workspace=workspace)
    # A legacy account holding two: bookings went to the "meetings" one.
    Connection.objects.create(
        user=hana, provider="google", purpose="calendar_settings", account_email="hana@example.com"
    )
    meetings = Connection.objects.create(
        user=hana, provider="microsoft", purpose="meetings", account_email="Hana@Example.com"
    )
    caldav = Connection.objects.create(
        user=ken,
        provider="caldav",
        account_email="ken@example.com",
        username="ken",
        server_url="https://dav.example.com/",
    )
    link = old.get_model("scheduling", "MeetingLink").objects.create(slug="intro", name="Intro", owner=hana)
    Booking = old.get_model("scheduling", "Booking")

    def booking(host: Any, event_id: str) -> Any:
        return Booking.objects.create(
            link=link,
            status="confirmed",
            time_zone="UTC",
            first_name="Aiko",
            last_name="Sato",
            email="aiko@example.com",
            assigned_host=host,
            calendar_event_id=event_id,
        )

    written = booking(hana, "graph-1")
    on_caldav = booking(ken, "https://dav.example.com/ken/cal/yoyaku-1.ics")
    never_written = booking(hana, "")
    no_calendar = booking(mio, "was-on-a-calendar-since-disconnected")

    new = migrate(AFTER).loader.project_state(AFTER).apps

    recorded = {
        b.pk: (b.calendar_connection_id, b.calendar_account)
        for b in new.get_model("scheduling", "Booking").objects.all()
    }
    assert recorded == {
        written.pk: (meetings.pk, "microsoft:hana@example.com"),
        on_caldav.pk: (caldav.pk, "caldav:ken@example.com ken https://dav.example.com/"),
        never_written.pk: (None, ""),
        no_calendar.pk: (None, ""),
    }
