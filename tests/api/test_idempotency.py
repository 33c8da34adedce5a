"""Idempotency keys on the public booking endpoints: one key stands for one request.

The same key with the same request answers the booking it made (200); with a different request
it is refused (422), because answering with the first booking would tell the client that its new
request succeeded when nothing was done.
"""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from django.test import Client

from tests.api.test_public_booking import next_weekday, payload
from tests.factories import make_host, make_link
from yoyaku.crm.models import Contact
from yoyaku.scheduling.models import Booking

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def post(path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    response = Client().post(path, body, content_type="application/json")
    return response.status_code, response.json()


def test_same_key_and_same_request_written_differently_returns_the_first_booking() -> None:
    make_link(make_host())
    start = next_weekday().replace(hour=11)
    status, first = post("/api/v1/book/intro", payload(start, idempotency_key="retry-key-1"))
    assert status == 201, first
    # The same request: its keys in another order, the start as the same instant in UTC.
    again = dict(reversed(list(payload(start.astimezone(UTC), idempotency_key="retry-key-1").items())))
    assert json.dumps(again) != json.dumps(payload(start, idempotency_key="retry-key-1"))
    status, second = post("/api/v1/book/intro", again)
    assert status == 200, second
    assert second["id"] == first["id"]
    assert Booking.objects.count() == 1
    assert len(Booking.objects.get().request_fingerprint) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"hour": 14},
        {"email": "ken@example.com"},
        {"duration": 60},
        {"answers": {"company": "Other"}},
    ],
    ids=["time", "email", "duration", "answers"],
)
def test_same_key_with_a_different_booking_is_refused_and_changes_nothing(change: dict[str, object]) -> None:
    make_link(
        make_host(),
        durations=[30, 60],
        form_fields=[{"key": "company", "label": "Company", "type": "text"}],
    )
    start = next_weekday().replace(hour=11)
    status, first = post(
        "/api/v1/book/intro", payload(start, idempotency_key="key-one-1", answers={"company": "Acme"})
    )
    assert status == 201, first
    other = payload(start, idempotency_key="key-one-1", answers={"company": "Acme"})
    if "hour" in change:
        other["start"] = start.replace(hour=int(change.pop("hour"))).isoformat()  # type: ignore[call-overload]
    other.update(change)

    status, refused = post("/api/v1/book/intro", other)

    assert status == 422, refused
    assert "used for a different booking" in refused["errors"]["idempotency_key"]  # type: ignore[index]
    assert Booking.objects.count() == 1
    booking = Booking.objects.get()
    assert (str(booking.pk), booking.start, booking.email) == (first["id"], start, "aiko@example.com")
    assert not Contact.objects.filter(email="ken@example.com").exists()


def test_a_key_used_for_a_booking_is_refused_for_a_request_and_the_other_way_round() -> None:
    make_link(make_host())
    make_link(make_host("ken"), slug="ken")
    start = next_weekday().replace(hour=11)
    assert post("/api/v1/book/intro", payload(start, idempotency_key="key-two-2"))[0] == 201
    request = {
        k: v for k, v in payload(start, idempotency_key="key-two-2").items() if k not in ("start", "duration")
    }
    status, refused = post("/api/v1/book/intro/request", request | {"message": "Call me"})
    assert status == 422, refused
    assert "idempotency_key" in refused["errors"]  # type: ignore[operator]

    assert post("/api/v1/book/ken/request", request | {"message": "Call me"})[0] == 201
    assert post("/api/v1/book/ken/request", request | {"message": "Call me"})[0] == 200
    status, refused = post("/api/v1/book/ken/request", request | {"message": "Call me later"})
    assert status == 422, refused
    status, refused = post("/api/v1/book/ken", payload(start, idempotency_key="key-two-2"))
    assert status == 422, refused
    assert Booking.objects.count() == 2


def test_bookings_made_before_fingerprints_were_kept_are_still_returned_for_their_key() -> None:
    make_link(make_host())
    start = next_weekday().replace(hour=11)
    status, first = post("/api/v1/book/intro", payload(start, idempotency_key="old-key-1"))
    Booking.objects.update(request_fingerprint="")
    status, again = post(
        "/api/v1/book/intro", payload(start, idempotency_key="old-key-1", email="x@example.com")
    )
    assert status == 200, again
    assert again["id"] == first["id"]


def test_the_refusal_speaks_the_pages_language() -> None:
    make_link(make_host())
    start = next_weekday().replace(hour=11)
    client = Client(headers={"Accept-Language": "ja"})
    client.post(
        "/api/v1/book/intro", payload(start, idempotency_key="key-in-ja"), content_type="application/json"
    )
    response = client.post(
        "/api/v1/book/intro",
        payload(start, idempotency_key="key-in-ja", email="ken@example.com"),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "冪等キー" in response.json()["errors"]["idempotency_key"]
