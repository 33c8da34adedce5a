"""The connection rules, through the services (Exchange accounts on the local EWS server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from tests.connection_helpers import berlin, future_day, google_settings
from tests.emulators.exchange import ExchangeEmulator
from tests.emulators.exchange import start as start_exchange
from tests.emulators.google import start as start_google
from tests.factories import make_host, make_link, make_workspace, run_calendar_writes
from yoyaku.accounts.connections import (
    ConnectionRefused,
    connect_blockers,
    connect_exchange_calendar,
    disconnect_calendar,
    disconnect_inbox,
    start_oauth,
)
from yoyaku.accounts.models import CalendarConnection, InboxConnection, User
from yoyaku.accounts.selectors import meetings_connection, user_connections, user_inboxes
from yoyaku.calendars.base import CalendarOperationNotSupported
from yoyaku.scheduling.models import Booking, BookingStatus, Reservation
from yoyaku.scheduling.services import book_meeting, cancel_booking

# The rules lock the user row; PostgreSQL runs them too (SQLite serialises writers anyway).
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PASSWORD = "s3cret"
Connect = Callable[..., CalendarConnection]


@pytest.fixture
def servers() -> Iterator[dict[str, ExchangeEmulator]]:
    started = {
        email: start_exchange(email=email, password=PASSWORD)
        for email in ("a@example.com", "b@example.com", "c@example.com")
    }
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def connect(servers: dict[str, ExchangeEmulator]) -> Connect:
    def run(user: User, email: str, **extra: object) -> CalendarConnection:
        options: dict[str, object] = {"password": PASSWORD, "ews_url": servers[email].ews_url}
        options.update(extra)
        return connect_exchange_calendar(user=user, email=email, **options)  # type: ignore[arg-type]

    return run


def refused(call: Callable[[], object]) -> ConnectionRefused:
    with pytest.raises(ConnectionRefused) as caught:
        call()
    return caught.value


def legacy_user(username: str = "old") -> User:
    user = make_host(username)
    User.objects.filter(pk=user.pk).update(date_joined=datetime(2022, 5, 1, tzinfo=UTC))
    user.refresh_from_db()
    return user


def test_one_calendar_per_user(connect: Connect) -> None:
    user = make_host()
    first = connect(user, "a@example.com")
    assert first.purpose == "meetings"
    assert connect_blockers(user=user)
    error = refused(lambda: connect(user, "b@example.com"))
    assert error.code == "already_connected"
    assert "a@example.com" in str(error) and "Disconnect" in str(error)
    assert CalendarConnection.objects.filter(user=user).count() == 1

    disconnect_calendar(user=user, connection_id=first.pk)
    assert connect_blockers(user=user) == []
    second = connect(user, "b@example.com")
    assert [c.pk for c in user_connections(user=user)] == [second.pk]


def test_legacy_account_keeps_two_until_it_gives_one_up(connect: Connect) -> None:
    user = legacy_user()
    first = connect(user, "a@example.com")
    second = connect(user, "b@example.com")
    assert (first.purpose, second.purpose) == ("meetings", "calendar_settings")
    assert meetings_connection(user=user) == first
    assert refused(lambda: connect(user, "c@example.com")).code == "already_connected"

    disconnect_calendar(user=user, connection_id=first.pk)
    user.refresh_from_db()
    assert user.limited_to_one_connection is True
    # The remaining connection serves the meetings tool; a second is no longer allowed.
    assert meetings_connection(user=user) == second
    assert refused(lambda: connect(user, "c@example.com")).code == "already_connected"
    disconnect_calendar(user=user, connection_id=second.pk)
    connect(user, "c@example.com")
    assert refused(lambda: connect(user, "a@example.com")).code == "already_connected"


def test_the_legacy_cutoff_is_a_setting(connect: Connect) -> None:
    user = make_host()
    User.objects.filter(pk=user.pk).update(date_joined=datetime(2023, 6, 1, tzinfo=UTC))
    user.refresh_from_db()
    connect(user, "a@example.com")
    assert refused(lambda: connect(user, "b@example.com")).code == "already_connected"
    with override_settings(YOYAKU_LEGACY_CONNECTION_CUTOFF="2024-01-01"):
        assert connect(user, "b@example.com").purpose == "calendar_settings"


def test_connecting_needs_the_personal_email_permission(
    connect: Connect, servers: dict[str, ExchangeEmulator]
) -> None:
    user = make_host()
    User.objects.filter(pk=user.pk).update(can_use_personal_email=False)
    user.refresh_from_db()
    blockers = connect_blockers(user=user)
    assert len(blockers) == 1 and "personal email" in blockers[0]
    assert refused(lambda: connect(user, "a@example.com")).code == "no_personal_email_permission"
    assert servers["a@example.com"].requests == []
    assert not CalendarConnection.objects.exists()


def test_a_shared_inbox_address_cannot_be_connected(connect: Connect) -> None:
    teammate = make_host("team")
    InboxConnection.objects.create(user=teammate, email="a@example.com", provider="exchange", shared=True)
    user = make_host()
    error = refused(lambda: connect(user, "a@example.com"))
    assert error.code == "shared_inbox"
    assert "shared team inbox" in str(error)
    assert not CalendarConnection.objects.exists()

    InboxConnection.objects.create(user=user, email="b@example.com", provider="exchange", shared=True)
    assert refused(lambda: connect(user, "b@example.com")).code == "shared_inbox"


def test_a_shared_inbox_of_another_workspace_neither_blocks_nor_tells(connect: Connect) -> None:
    outsider = make_host("outsider", workspace=make_workspace("Elsewhere"))
    InboxConnection.objects.create(user=outsider, email="a@example.com", provider="exchange", shared=True)
    user = make_host()

    connection = connect(user, "a@example.com")

    assert connection.account_email == "a@example.com"


def test_a_personal_inbox_qualifies_and_is_linked(connect: Connect) -> None:
    user = make_host()
    inbox = InboxConnection.objects.create(
        user=user, email="a@example.com", provider="exchange", shared=False
    )
    connection = connect(user, "a@example.com")
    inbox.refresh_from_db()
    assert inbox.calendar_connection_id == connection.pk
    assert [i.pk for i in user_inboxes(user=user)] == [inbox.pk]


def test_connecting_connects_the_inbox_which_can_go_alone(connect: Connect) -> None:
    user = make_host()
    connection = connect(user, "a@example.com")
    inbox = InboxConnection.objects.get(user=user)
    assert (inbox.email, inbox.shared, inbox.provider, inbox.calendar_connection_id) == (
        "a@example.com",
        False,
        "exchange",
        connection.pk,
    )
    disconnect_inbox(user=user, inbox_id=inbox.pk)
    assert not InboxConnection.objects.filter(user=user).exists()
    assert meetings_connection(user=user) == connection
    assert refused(lambda: disconnect_inbox(user=user, inbox_id=inbox.pk)).code == "not_found"


def test_disconnecting_the_calendar_leaves_the_inbox(connect: Connect) -> None:
    user = make_host()
    connection = connect(user, "a@example.com")
    disconnect_calendar(user=user, connection_id=connection.pk)
    assert meetings_connection(user=user) is None
    assert InboxConnection.objects.get(user=user).calendar_connection_id is None
    other = make_host("ken")
    assert refused(lambda: disconnect_calendar(user=other, connection_id=connection.pk)).code == "not_found"


def test_reconnecting_the_same_account_updates_it(
    connect: Connect, servers: dict[str, ExchangeEmulator]
) -> None:
    user = make_host()
    first = connect(user, "a@example.com")
    CalendarConnection.objects.filter(pk=first.pk).update(
        status="needs_reconnect", status_message="Reconnect"
    )
    servers["a@example.com"].set_password("new-password")
    again = connect(user, "a@example.com", password="new-password")
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.status, again.status_message, again.secret) == ("ok", "", "new-password")


def test_unconfigured_oauth_providers_are_blocked() -> None:
    user = make_host()
    blockers = connect_blockers(user=user, provider="google")
    assert blockers == ["Google is not configured by the administrator."]
    error = refused(lambda: start_oauth(user=user, provider="microsoft", redirect_uri="http://testserver/cb"))
    assert error.code == "not_configured"
    emu = start_google()
    try:
        with override_settings(**google_settings(emu)):
            assert connect_blockers(user=user, provider="google") == []
            assert start_oauth(user=user, provider="google", redirect_uri="http://testserver/cb").url
    finally:
        emu.stop()


def test_bookings_on_exchange_cannot_be_cancelled_from_yoyaku(
    connect: Connect, servers: dict[str, ExchangeEmulator]
) -> None:
    user = make_host()
    link = make_link(user)
    connect(user, "a@example.com")
    day = future_day()
    outcome = book_meeting(
        link=link,
        start=berlin(day, 11),
        duration=30,
        time_zone="Europe/Berlin",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
    )
    run_calendar_writes()
    outcome.booking.refresh_from_db()
    assert outcome.booking.calendar_event_id
    with pytest.raises(CalendarOperationNotSupported, match="cancel it in Outlook"):
        cancel_booking(booking=outcome.booking)
    booking = Booking.objects.get(pk=outcome.booking.pk)
    assert booking.status == BookingStatus.CONFIRMED
    assert Reservation.objects.filter(booking=booking, active=True).exists()
    assert len(servers["a@example.com"].events()) == 1


def test_a_connection_whose_secret_cannot_be_read_can_still_be_disconnected() -> None:
    user = make_host()
    connection = CalendarConnection.objects.create(
        user=user, provider="google", account_email="a@example.com", secret_encrypted="not-a-fernet-token"
    )
    disconnect_calendar(user=user, connection_id=connection.pk)
    assert not CalendarConnection.objects.filter(pk=connection.pk).exists()


# -- user URLs that lead into our own network ------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["[::127.0.0.1]", "[64:ff9b::7f00:1]", "[::ffff:0:7f00:1]", "[::ffff:127.0.0.1]", "[2002:7f00:1::]"],
)
@override_settings(YOYAKU_ALLOWED_CALENDAR_NETWORKS=[])
def test_ipv6_forms_of_loopback_are_refused_and_nothing_is_saved(host: str) -> None:
    from yoyaku.accounts.connections import connect_caldav_calendar

    user = make_host("ipv6")
    with pytest.raises(ConnectionRefused, match="private or reserved"):
        connect_caldav_calendar(user=user, url=f"http://{host}:5232/dav/", username="u", password="p")
    assert not CalendarConnection.objects.filter(user=user).exists()
