"""GET /me/calendar tells, per connection, what Yoyaku can do with the provider's calendar."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import api_key_for, make_host
from yoyaku.accounts.models import CalendarConnection, Provider, User

pytestmark = pytest.mark.django_db


def connected(user: User, provider: str) -> Client:
    connection = CalendarConnection(user=user, provider=provider, account_email=user.email)
    connection.secret = "not used: nothing here asks the provider"
    connection.save()
    return Client(headers={"Authorization": f"Bearer {api_key_for(user)}"})


def test_exchange_connections_say_they_are_one_way() -> None:
    api = connected(make_host("hana"), Provider.EXCHANGE)

    [connection] = api.get("/api/v1/me/calendar").json()["connections"]

    assert connection["capabilities"] == {
        "write_events": True,
        "can_cancel": False,
        "can_reschedule": False,
        "crm_to_calendar": False,
        "calendar_to_crm": False,
        "insert_times_in_email": False,
        "event_sync": False,
    }


@pytest.mark.parametrize("provider", [Provider.CALDAV, Provider.GOOGLE, Provider.MICROSOFT])
def test_other_connections_allow_every_change(provider: str) -> None:
    api = connected(make_host("hana"), provider)

    [connection] = api.get("/api/v1/me/calendar").json()["connections"]

    assert connection["capabilities"] == {
        "write_events": True,
        "can_cancel": True,
        "can_reschedule": True,
        "crm_to_calendar": True,
        "calendar_to_crm": True,
        # Not built yet for any provider, so not claimed.
        "insert_times_in_email": False,
        "event_sync": True,
    }
