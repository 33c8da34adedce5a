"""Public answers carry no sequential row ids: a booking is named by its UUID, and nothing else (contact,
meeting, user, page) by any id at all."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from tests.factories import make_host, make_link

pytestmark = pytest.mark.django_db


def id_fields(value: Any, path: str = "") -> dict[str, Any]:
    """Every ``id`` or ``*_id`` key anywhere in a JSON document, with its value."""
    found: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key == "id" or key.endswith(("_id", "Id", "_pk")) or key == "pk":
                found[where] = item
            found.update(id_fields(item, where))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.update(id_fields(item, f"{path}.{index}"))
    return found


def test_no_public_answer_names_a_row_by_its_sequential_id() -> None:
    host = make_host()
    make_link(host)
    client = Client()
    day = (datetime.now(tz=UTC) + timedelta(days=3)).date()
    availability = client.get(
        "/api/v1/book/intro/availability", {"start": day.isoformat(), "timezone": "UTC"}
    )
    slot = next(s for d in availability.json()["days"] for s in d["slots"])
    person = {"timezone": "UTC", "first_name": "Aiko", "last_name": "Sato", "email": "aiko@example.com"}
    booked = client.post(
        "/api/v1/book/intro", {**person, "start": slot, "duration": 30}, content_type="application/json"
    )
    requested = client.post(
        "/api/v1/book/intro/request", {**person, "message": "Any time"}, content_type="application/json"
    )
    page = client.get("/m/intro")
    config = json.loads(re.search(r'id="booking-config"[^>]*>(.*?)</script>', page.content.decode()).group(1))

    answers = {"availability": availability, "booking": booked, "request": requested}
    assert {name: a.status_code for name, a in answers.items()} == {
        "availability": 200,
        "booking": 201,
        "request": 201,
    }
    for name, answer in answers.items():
        ids = id_fields(answer.json())
        if name == "availability":
            assert ids == {}
        else:
            # The booking's own id, a UUID; the provider's event id is null for an offline page.
            assert set(ids) == {"id", "calendar_event_id"}, ids
            uuid.UUID(ids["id"])
    assert id_fields(config) == {}
