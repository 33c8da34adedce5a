"""The dashboard shows the calendar list kept on the connection and asks the provider only when told to."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from tests.emulators.radicale_server import RadicaleServer
from tests.web.html import elements
from tests.web.test_dashboard import caldav_connection
from yoyaku.accounts.models import CalendarConnection, Provider, User
from yoyaku.web.selectors import calendar_choices

pytestmark = pytest.mark.django_db


def offered(html: str) -> dict[str, bool]:
    return {i["value"]: "checked" in i for i in elements(html, "input", name="conflict_calendar_ids")}


def refuse_provider_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(connection: object) -> object:
        raise AssertionError("the provider was asked")

    monkeypatch.setattr("yoyaku.accounts.calendar_registry.adapter_for", refused)


def test_the_page_shows_the_kept_list_without_asking_the_provider(
    host: User, client_in: Client, host_radicale: RadicaleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = host_radicale.ensure_calendar(f"work-{uuid.uuid4().hex[:8]}")
    caldav_connection(host, server=host_radicale, conflict_calendar_ids=[work], write_calendar_id=work)
    refuse_provider_calls(monkeypatch)

    html = client_in.get("/dashboard/").content.decode()

    assert offered(html)[work] is True
    assert "Refresh calendars" in html


def test_refresh_lists_a_new_calendar_and_a_failed_refresh_keeps_the_old_list(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    work = host_radicale.ensure_calendar(f"work-{uuid.uuid4().hex[:8]}")
    connection = caldav_connection(
        host, server=host_radicale, conflict_calendar_ids=[work], write_calendar_id=work
    )
    added = host_radicale.ensure_calendar(f"added-{uuid.uuid4().hex[:8]}")
    assert added not in offered(client_in.get("/dashboard/").content.decode()), "not asked since connecting"

    response = client_in.post(f"/dashboard/calendars/{connection.pk}/refresh/")

    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    html = client_in.get("/dashboard/").content.decode()
    assert "Your calendar list is up to date." in html
    assert offered(html)[added] is False and offered(html)[work] is True

    # The server goes away: the refresh says so and the page keeps the list it had.
    CalendarConnection.objects.filter(pk=connection.pk).update(server_url="http://127.0.0.1:9/dav/")
    client_in.post(f"/dashboard/calendars/{connection.pk}/refresh/")
    html = client_in.get("/dashboard/").content.decode()
    assert "could not be listed; the list shown is the one from before" in html
    assert set(offered(html)) >= {work, added}


def test_saving_the_settings_refreshes_the_list(
    host: User, client_in: Client, host_radicale: RadicaleServer
) -> None:
    work = host_radicale.ensure_calendar(f"work-{uuid.uuid4().hex[:8]}")
    connection = caldav_connection(
        host, server=host_radicale, conflict_calendar_ids=[work], write_calendar_id=work
    )
    added = host_radicale.ensure_calendar(f"added-{uuid.uuid4().hex[:8]}")

    client_in.post(
        f"/dashboard/calendars/{connection.pk}/settings/",
        {"conflict_calendar_ids": [work], "write_calendar_id": work},
    )

    assert added in offered(client_in.get("/dashboard/").content.decode())


def test_the_refresh_is_a_post_of_the_hosts_own_connection(host: User, client_in: Client) -> None:
    other = caldav_connection(User.objects.create_user("taro", "taro@example.com"))
    assert client_in.get(f"/dashboard/calendars/{other.pk}/refresh/").status_code == 405
    assert client_in.post(f"/dashboard/calendars/{other.pk}/refresh/").status_code == 404


def kept(user: User, provider: str, *, conflict_ids: list[str] | None = None) -> CalendarConnection:
    connection = CalendarConnection(
        user=user,
        provider=provider,
        account_email=user.email,
        conflict_calendar_ids=conflict_ids or [],
        provider_details={
            "calendars": [
                {"id": "team", "name": "Team", "primary": False, "writable": True},
                {"id": "main", "name": "Main", "primary": True, "writable": True},
                {"id": "holidays", "name": "Holidays", "primary": False, "writable": False},
            ]
        },
    )
    connection.secret = "unused"
    connection.save()
    return connection


@pytest.mark.parametrize(
    ("provider", "checked"),
    [
        # busy() with no calendars: CalDAV reads every calendar, the others their primary one only.
        (Provider.CALDAV, ["team", "main", "holidays"]),
        (Provider.GOOGLE, ["main"]),
        (Provider.MICROSOFT, ["main"]),
        (Provider.EXCHANGE, ["main"]),
    ],
)
def test_without_a_choice_the_checked_calendars_are_the_ones_busy_time_is_read_from(
    host: User, provider: str, checked: list[str]
) -> None:
    choices = calendar_choices(connection=kept(host, provider))
    assert choices.checked_ids == checked
    assert choices.write_id == "main"


def test_a_stored_choice_is_shown_as_it_is(host: User) -> None:
    choices = calendar_choices(connection=kept(host, Provider.GOOGLE, conflict_ids=["team", "holidays"]))
    assert choices.checked_ids == ["team", "holidays"]
