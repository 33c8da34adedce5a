"""A connection keeps its calendar list from connecting; refreshing reads it again or keeps the old one."""

from __future__ import annotations

import uuid

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host
from yoyaku.accounts.connections import ConnectionRefused, connect_caldav_calendar, refresh_calendars
from yoyaku.accounts.models import CalendarConnection
from yoyaku.accounts.selectors import stored_calendars

pytestmark = pytest.mark.django_db


def test_connecting_keeps_the_list_and_a_refresh_replaces_it(radicale: RadicaleServer) -> None:
    first = radicale.ensure_calendar(f"first-{uuid.uuid4().hex[:8]}")
    host = make_host("hana")
    connection = connect_caldav_calendar(
        user=host, url=radicale.url, username=radicale.username, password=radicale.password
    )
    kept = stored_calendars(connection=connection)
    assert kept is not None and first in [c.id for c in kept]
    assert all(c.writable for c in kept)

    later = radicale.ensure_calendar(f"later-{uuid.uuid4().hex[:8]}")
    refreshed = refresh_calendars(user=host, connection_id=connection.pk)

    connection.refresh_from_db()
    assert later in [c.id for c in stored_calendars(connection=connection) or []]
    assert refreshed.provider_details == connection.provider_details


def test_a_failed_refresh_says_why_and_keeps_the_list(radicale: RadicaleServer) -> None:
    host = make_host("hana")
    connection = connect_caldav_calendar(
        user=host, url=radicale.url, username=radicale.username, password=radicale.password
    )
    before = stored_calendars(connection=connection)
    CalendarConnection.objects.filter(pk=connection.pk).update(server_url="http://127.0.0.1:9/dav/")

    with pytest.raises(ConnectionRefused) as refused:
        refresh_calendars(user=host, connection_id=connection.pk)

    assert refused.value.code == "provider_error" and str(refused.value)
    connection.refresh_from_db()
    assert stored_calendars(connection=connection) == before


def test_lists_kept_before_this_release_read_as_missing_or_writable() -> None:
    host = make_host("hana")
    never = CalendarConnection(user=host, provider="google", account_email=host.email)
    assert stored_calendars(connection=never) is None
    old = CalendarConnection(
        user=host,
        provider="google",
        account_email=host.email,
        provider_details={"calendars": [{"id": "a@example.com", "name": "A", "primary": True}]},
    )
    [calendar] = stored_calendars(connection=old) or []
    assert (calendar.id, calendar.primary, calendar.writable) == ("a@example.com", True, True)


def test_a_pasted_calendar_url_blocks_time_and_receives_bookings(radicale: RadicaleServer) -> None:
    radicale.ensure_calendar(f"a-first-{uuid.uuid4().hex[:8]}")
    pasted = radicale.ensure_calendar(f"z-pasted-{uuid.uuid4().hex[:8]}")
    connection = connect_caldav_calendar(
        user=make_host("hana"), url=pasted, username=radicale.username, password=radicale.password
    )
    assert (connection.conflict_calendar_ids, connection.write_calendar_id) == ([pasted], pasted)


def test_a_pasted_server_url_uses_the_first_writable_calendar(radicale: RadicaleServer) -> None:
    radicale.ensure_calendar(f"some-{uuid.uuid4().hex[:8]}")
    connection = connect_caldav_calendar(
        user=make_host("hana"), url=radicale.url, username=radicale.username, password=radicale.password
    )
    listed = stored_calendars(connection=connection) or []
    first_writable = next(c.id for c in listed if c.writable)
    assert (connection.conflict_calendar_ids, connection.write_calendar_id) == (
        [first_writable],
        first_writable,
    )


def test_a_read_only_primary_blocks_time_and_bookings_go_to_a_writable_calendar() -> None:
    from yoyaku.accounts.connections import _default_choice
    from yoyaku.calendars.base import CalendarInfo

    shared = CalendarInfo(id="https://dav.example/shared/", name="Team", primary=True, writable=False)
    own = CalendarInfo(id="https://dav.example/own/", name="Mine")
    assert _default_choice([shared, own]) == ([shared.id], own.id)
    assert _default_choice([shared]) == ([shared.id], "")
