"""GET /me/calendar says when each connection was last synced (its pages offer times only while recent)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import api_key_for, make_host, sync_now
from tests.scheduling.helpers import connect

pytestmark = pytest.mark.django_db


def test_last_synced_at_is_empty_until_the_first_sync(radicale: RadicaleServer) -> None:
    host = make_host()
    connection, _calendar = connect(host, radicale, sync=False)
    api = Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})

    [before] = api.get("/api/v1/me/calendar").json()["connections"]
    sync_now(connection)
    [after] = api.get("/api/v1/me/calendar").json()["connections"]

    assert before["last_synced_at"] is None
    assert after["last_synced_at"] is not None
    assert "busy_fetched_at" not in after
