"""The host API's calendar list: the kept list with what is checked and what receives meetings, and its
refresh from the provider (a failing refresh answers 503 and keeps the old list)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import api_key_for, make_host
from yoyaku.accounts.connections import connect_caldav_calendar, update_calendar_settings
from yoyaku.accounts.models import CalendarConnection, User

pytestmark = pytest.mark.django_db

UNREACHABLE = "http://127.0.0.1:9/dav/"


@pytest.fixture
def host() -> User:
    return make_host("hana")


@pytest.fixture
def api(host: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})


@pytest.fixture
def calendars(radicale: RadicaleServer) -> tuple[str, str]:
    """Two calendars of the account, made for this test."""
    tag = uuid.uuid4().hex[:8]
    return radicale.ensure_calendar(f"work-{tag}"), radicale.ensure_calendar(f"family-{tag}")


@pytest.fixture
def connection(host: User, radicale: RadicaleServer, calendars: tuple[str, str]) -> CalendarConnection:
    work, family = calendars
    connected = connect_caldav_calendar(
        user=host, url=radicale.url, username=radicale.username, password=radicale.password
    )
    # Work and family block time; meetings go to family.
    return update_calendar_settings(
        user=host,
        connection_id=connected.pk,
        conflict_calendar_ids=[work, family],
        write_calendar_id=family,
        tentative_blocks=True,
    )


def listed(api: Client, connection_id: int) -> Any:
    return api.get(f"/api/v1/me/calendar/{connection_id}/calendars")


def refresh(api: Client, connection_id: int) -> Any:
    return api.post(f"/api/v1/me/calendar/{connection_id}/calendars/refresh")


def by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in body["calendars"]}


def test_the_kept_list_says_which_calendars_are_checked_and_which_receives_meetings(
    api: Client, connection: CalendarConnection, calendars: tuple[str, str], radicale: RadicaleServer
) -> None:
    work, family = calendars
    other = radicale.ensure_calendar(f"other-{uuid.uuid4().hex[:8]}")  # made after the list was kept

    response = listed(api, connection.pk)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["listed"] is True
    kept = by_id(body)
    assert other not in kept, "a GET never reads the provider"
    assert {k: (v["checked"], v["receives_meetings"]) for k, v in kept.items() if k in calendars} == {
        work: (True, False),
        family: (True, True),
    }
    assert [c["id"] for c in body["calendars"] if c["checked"]] == [
        c["id"] for c in body["calendars"] if c["id"] in calendars
    ]
    assert all(c["writable"] for c in body["calendars"])
    assert kept[work]["name"]

    update_calendar_settings(
        user=connection.user,
        connection_id=connection.pk,
        conflict_calendar_ids=[work],
        write_calendar_id=work,
        tentative_blocks=True,
    )
    again = by_id(listed(api, connection.pk).json())
    assert (again[work]["checked"], again[work]["receives_meetings"]) == (True, True)
    assert (again[family]["checked"], again[family]["receives_meetings"]) == (False, False)


def test_the_get_answers_from_the_kept_list_while_the_server_is_down(
    api: Client, connection: CalendarConnection, calendars: tuple[str, str]
) -> None:
    CalendarConnection.objects.filter(pk=connection.pk).update(server_url=UNREACHABLE)

    response = listed(api, connection.pk)

    assert response.status_code == 200
    assert set(calendars) <= set(by_id(response.json()))


def test_a_refresh_reads_the_list_again_and_keeps_it(
    api: Client, connection: CalendarConnection, radicale: RadicaleServer
) -> None:
    added = radicale.ensure_calendar(f"added-{uuid.uuid4().hex[:8]}")

    response = refresh(api, connection.pk)

    assert response.status_code == 200, response.content
    assert by_id(response.json())[added]["checked"] is False
    assert added in by_id(listed(api, connection.pk).json())


def test_a_failing_refresh_answers_503_with_the_reason_and_keeps_the_old_list(
    api: Client, connection: CalendarConnection
) -> None:
    before = listed(api, connection.pk).json()
    CalendarConnection.objects.filter(pk=connection.pk).update(server_url=UNREACHABLE)

    response = refresh(api, connection.pk)

    assert response.status_code == 503
    assert "could not be reached" in response.json()["detail"]
    assert listed(api, connection.pk).json() == before


def test_a_connection_without_a_kept_list_says_so(api: Client, host: User) -> None:
    old = CalendarConnection.objects.create(user=host, provider="google", account_email=host.email)

    response = listed(api, old.pk)

    assert response.status_code == 200
    assert response.json() == {"listed": False, "calendars": []}


def test_another_hosts_connection_is_not_found(
    connection: CalendarConnection, radicale: RadicaleServer
) -> None:
    other = Client(headers={"Authorization": f"Bearer {api_key_for(make_host('taro'))}"})

    assert listed(other, connection.pk).status_code == 404
    assert refresh(other, connection.pk).status_code == 404
    assert Client().get(f"/api/v1/me/calendar/{connection.pk}/calendars").status_code == 401
