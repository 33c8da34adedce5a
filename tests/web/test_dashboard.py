"""The meetings dashboard: pages, meetings, requests and the calendar connection panel."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link
from tests.web.html import elements
from yoyaku.accounts.connections import refresh_calendars
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, InboxConnection, Provider, User
from yoyaku.scheduling.models import Booking, BookingStatus, MeetingLink

pytestmark = pytest.mark.django_db


def add_booking(
    link: MeetingLink, host: User, *, status: str, start: datetime | None, **extra: str
) -> Booking:
    return Booking.objects.create(
        link=link,
        status=status,
        start=start,
        end=start + timedelta(minutes=30) if start else None,
        time_zone="Europe/Paris",
        first_name=extra.get("first_name", "Aiko"),
        last_name="Sato",
        email=extra.get("email", "aiko@example.com"),
        message=extra.get("message", ""),
        assigned_host=host,
    )


def caldav_connection(
    user: User, *, server: RadicaleServer | None = None, **fields: object
) -> CalendarConnection:
    connection = CalendarConnection(
        user=user,
        provider=Provider.CALDAV,
        account_email=user.email,
        # Port 9 on loopback refuses at once: a calendar that cannot be listed.
        server_url=server.principal_url() if server else "http://127.0.0.1:9/dav/",
        username=server.username if server else "hana",
        **fields,
    )
    connection.secret = server.password if server else "secret"
    connection.save()
    if server is not None:
        # As connecting does: the dashboard shows the list kept on the connection.
        refresh_calendars(user=user, connection_id=connection.pk)
        connection.refresh_from_db()
    return connection


def test_dashboard_lists_pages_meetings_and_requests_of_this_host_only(host: User, client_in: Client) -> None:
    now = datetime.now(tz=UTC)
    link = make_link(host, slug="intro", name="Intro call")
    make_link(host, slug="old-page", name="Retired page", active=False)
    other = make_host("taro")
    other_link = make_link(other, slug="taro-call", name="Taro's call")
    add_booking(link, host, status=BookingStatus.CONFIRMED, start=now + timedelta(days=2), first_name="Soon")
    add_booking(link, host, status=BookingStatus.CONFIRMED, start=now - timedelta(days=2), first_name="Ago")
    add_booking(link, host, status=BookingStatus.CANCELLED, start=now + timedelta(days=3), first_name="Gone")
    add_booking(
        link,
        host,
        status=BookingStatus.REQUESTED,
        start=None,
        first_name="Asker",
        message="Any time next week?",
    )
    add_booking(link, host, status=BookingStatus.REQUESTED, start=now + timedelta(days=4), first_name="Timed")
    add_booking(
        other_link, other, status=BookingStatus.CONFIRMED, start=now + timedelta(days=1), first_name="Else"
    )

    html = client_in.get("/dashboard/").content.decode()

    assert 'href="/m/intro"' in html and "Intro call" in html
    assert "Retired page" in html and "Turned off" in html
    assert "taro-call" not in html
    assert "Soon" in html
    current, past = html.split('id="past-title"')
    for absent in ("Ago", "Gone", "Else"):
        assert absent not in current
    # Meetings that ended are listed apart, with their outcome.
    assert "Ago" in past and 'data-outcome="scheduled"' in past
    assert "Else" not in past
    assert "Asker" in html and "Any time next week?" in html and "No time chosen" in html
    assert "Timed" in html and "Asked for" in html
    # Times are in the host's zone (Asia/Tokyo), which the page names.
    assert "Asia/Tokyo" in html


def test_group_meetings_show_for_every_host_they_reserve(host: User, client_in: Client) -> None:
    owner = make_host("taro")
    link = make_link(
        owner, slug="panel", name="Panel interview", kind="group", host_usernames=["taro", "hana"]
    )
    booking = add_booking(
        link,
        owner,
        status=BookingStatus.CONFIRMED,
        start=datetime.now(tz=UTC) + timedelta(days=1),
        first_name="Kenji",
    )
    booking.reservations.create(host=host, start=booking.start, end=booking.end)
    html = client_in.get("/dashboard/").content.decode()
    assert 'href="/m/panel"' in html
    assert "Kenji" in html


def test_without_a_calendar_the_panel_offers_to_connect_one(client_in: Client) -> None:
    html = client_in.get("/dashboard/").content.decode()
    assert "No calendar is connected" in html
    assert 'href="/settings/calendar/"' in html


def two_calendars(server: RadicaleServer) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return server.ensure_calendar(f"work-{tag}"), server.ensure_calendar(f"home-{tag}")


def test_connected_calendar_shows_provider_account_health_and_its_calendars(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    work, home = two_calendars(host_radicale)
    connection = caldav_connection(
        host, server=host_radicale, conflict_calendar_ids=[work], write_calendar_id=work
    )
    InboxConnection.objects.create(
        user=host, email=host.email, provider="caldav", calendar_connection=connection
    )

    html = client_in.get("/dashboard/").content.decode()

    assert "CalDAV" in html and host.email in html
    assert 'data-health="ok"' in html
    conflicts = {i["value"]: "checked" in i for i in elements(html, "input", name="conflict_calendar_ids")}
    write = {
        i["value"]: "checked" in i for i in elements(html, "input", name="write_calendar_id", type="radio")
    }
    # Only "work" is checked for conflicts and receives meetings; "home" is offered for both.
    assert conflicts[work] and not conflicts[home]
    assert write[work] and not write[home]
    assert sum(conflicts.values()) == 1 and sum(write.values()) == 1
    assert "checked" in elements(html, "input", name="tentative_blocks")[0]
    assert "Disconnect inbox" in html and "Disconnect calendar" in html


def test_saving_calendar_settings_updates_the_connection(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    work, home = two_calendars(host_radicale)
    connection = caldav_connection(
        host, server=host_radicale, conflict_calendar_ids=[work], write_calendar_id=work
    )

    response = client_in.post(
        f"/dashboard/calendars/{connection.pk}/settings/",
        {"conflict_calendar_ids": [work, home], "write_calendar_id": home},
    )

    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    connection.refresh_from_db()
    assert sorted(connection.conflict_calendar_ids) == sorted([work, home])
    assert connection.write_calendar_id == home
    assert connection.tentative_blocks is False  # the box was left unchecked
    assert "Calendar settings saved." in client_in.get("/dashboard/").content.decode()


def test_calendar_settings_need_one_calendar_and_keep_the_choice_on_error(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    work, _home = two_calendars(host_radicale)
    connection = caldav_connection(
        host,
        server=host_radicale,
        conflict_calendar_ids=[work],
        write_calendar_id=work,
        tentative_blocks=False,
    )

    response = client_in.post(
        f"/dashboard/calendars/{connection.pk}/settings/",
        {"write_calendar_id": work, "tentative_blocks": "on"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Check at least one calendar." in html
    # The page shows what was sent, not what is stored.
    assert not any("checked" in i for i in elements(html, "input", name="conflict_calendar_ids"))
    assert "checked" in elements(html, "input", name="tentative_blocks")[0]
    connection.refresh_from_db()
    assert connection.conflict_calendar_ids == [work]
    assert connection.tentative_blocks is False


def test_needs_reconnect_shows_the_message_and_a_reconnect_button(host: User, client_in: Client) -> None:
    connection = caldav_connection(
        host,
        status=ConnectionStatus.NEEDS_RECONNECT,
        status_message="The CalDAV server refused the password.",
    )
    html = client_in.get("/dashboard/").content.decode()
    assert 'data-health="needs_reconnect"' in html
    assert "The CalDAV server refused the password." in html
    assert f'href="/settings/calendar/?reconnect={connection.pk}"' in html
    assert "Reconnect the calendar to change these settings." in html
    assert not elements(html, "input", name="conflict_calendar_ids")


def test_unreachable_calendar_says_so_and_the_page_does_not_ask_it(
    host: User, client_in: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    caldav_connection(host, status=ConnectionStatus.UNAVAILABLE)

    def no_provider_calls(connection: object) -> object:
        raise AssertionError("the dashboard asked the provider")

    monkeypatch.setattr("yoyaku.accounts.calendar_registry.adapter_for", no_provider_calls)
    html = client_in.get("/dashboard/").content.decode()
    assert 'data-health="unavailable"' in html
    assert "Calendar unreachable" in html
    # No list was kept for this connection: the host is offered a refresh, not a form.
    assert "no list of your calendars yet" in html
    assert not elements(html, "input", name="conflict_calendar_ids")
    assert "Refresh calendars" in html


def test_disconnecting_the_inbox_keeps_the_calendar(host: User, client_in: Client) -> None:
    connection = caldav_connection(host)
    inbox = InboxConnection.objects.create(
        user=host, email=host.email, provider="caldav", calendar_connection=connection
    )
    response = client_in.post(f"/dashboard/inboxes/{inbox.pk}/disconnect/")
    assert response["Location"] == "/dashboard/"
    assert not InboxConnection.objects.filter(pk=inbox.pk).exists()
    assert CalendarConnection.objects.filter(pk=connection.pk).exists()


def test_disconnecting_the_calendar_removes_it(host: User, client_in: Client) -> None:
    connection = caldav_connection(host)
    response = client_in.post(f"/dashboard/calendars/{connection.pk}/disconnect/")
    assert response["Location"] == "/dashboard/"
    assert not CalendarConnection.objects.filter(pk=connection.pk).exists()
    assert "Your calendar is disconnected." in client_in.get("/dashboard/").content.decode()


def test_one_host_cannot_touch_another_hosts_connection(client_in: Client) -> None:
    other = make_host("taro")
    connection = caldav_connection(other)
    inbox = InboxConnection.objects.create(user=other, email=other.email, provider="caldav")
    assert client_in.post(f"/dashboard/calendars/{connection.pk}/disconnect/").status_code == 302
    assert client_in.post(f"/dashboard/calendars/{connection.pk}/settings/", {}).status_code == 404
    client_in.post(f"/dashboard/inboxes/{inbox.pk}/disconnect/")
    assert CalendarConnection.objects.filter(pk=connection.pk).exists()
    assert InboxConnection.objects.filter(pk=inbox.pk).exists()


def test_dashboard_forms_need_the_csrf_token(host: User) -> None:
    connection = caldav_connection(host)
    client = Client(enforce_csrf_checks=True)
    client.force_login(host)
    html = client.get("/dashboard/").content.decode()
    assert html.count('name="csrfmiddlewaretoken"') >= 2
    assert client.post(f"/dashboard/calendars/{connection.pk}/disconnect/").status_code == 403
    assert CalendarConnection.objects.filter(pk=connection.pk).exists()
