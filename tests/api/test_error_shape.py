"""Every error under /api/v1 answers JSON in the documented shape, and only JSON bodies are read."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client, override_settings

from tests.factories import api_key_for, make_host, make_link
from yoyaku.api import public
from yoyaku.scheduling.models import Booking

pytestmark = pytest.mark.django_db


def assert_error_shape(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].split(";")[0] == "application/json"
    data = response.json()
    assert set(data) == {"detail", "errors"} and data["detail"], data
    return data


def booking_json() -> dict[str, object]:
    start = (datetime.now(tz=UTC) + timedelta(days=7)).replace(hour=10, minute=0, second=0, microsecond=0)
    return {
        "start": start.isoformat(),
        "duration": 30,
        "timezone": "UTC",
        "first_name": "Aiko",
        "last_name": "Sato",
        "email": "aiko@example.com",
    }


@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v1/book/", "/api/v1/me/bookings/not-a-uuid/x"])
def test_unknown_api_paths_answer_json_404(path: str) -> None:
    assert_error_shape(Client().get(path), 404)


def test_a_method_the_route_lacks_answers_json_405_with_allow() -> None:
    make_link(make_host())
    response = Client().put("/api/v1/book/intro/availability", "{}", content_type="application/json")
    assert_error_shape(response, 405)
    assert "GET" in response["Allow"]


@pytest.mark.parametrize("debug", [False, True])
def test_an_exception_in_a_handler_answers_json_500_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    make_link(make_host())

    def broken(**kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(public, "available_slots", broken)
    with override_settings(DEBUG=debug), caplog.at_level(logging.ERROR):
        response = Client(raise_request_exception=False).get("/api/v1/book/intro/availability")
    data = assert_error_shape(response, 500)
    assert "a bug" not in data["detail"]
    (record,) = [r for r in caplog.records if r.name == "yoyaku.api.urls"]
    assert record.exc_info is not None and str(record.exc_info[1]) == "a bug"


def test_malformed_json_answers_400_in_the_error_shape() -> None:
    make_link(make_host())
    response = Client().post("/api/v1/book/intro", "{not json", content_type="application/json")
    assert_error_shape(response, 400)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_booking_body_that_is_not_json_is_refused_with_415(content_type: str) -> None:
    import json

    make_link(make_host())
    response = Client().post("/api/v1/book/intro", json.dumps(booking_json()), content_type=content_type)
    data = assert_error_shape(response, 415)
    assert "Content-Type" in data["errors"]
    assert not Booking.objects.exists()


def test_json_with_a_charset_is_json() -> None:
    import json

    make_link(make_host())
    response = Client().post(
        "/api/v1/book/intro", json.dumps(booking_json()), content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 201, response.content


def test_host_bodies_must_be_json_too() -> None:
    host = make_host()
    response = Client().put(
        "/api/v1/me/availability",
        '{"time_zone": "UTC", "weekly": {}}',
        content_type="text/plain",
        headers={"Authorization": f"Bearer {api_key_for(host)}"},
    )
    assert_error_shape(response, 415)


def test_no_cors_headers_even_for_a_preflight() -> None:
    # The policy: no cross-origin access. A preflight gets no Access-Control-Allow-* headers, so a
    # browser on another origin never sends the JSON booking nor lets the page read any answer.
    make_link(make_host())
    preflight = Client().options(
        "/api/v1/book/intro",
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    answer = Client().get("/api/v1/book/intro/availability", headers={"Origin": "https://elsewhere.example"})
    for response in (preflight, answer):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_errors_speak_the_language_asked_for() -> None:
    response = Client().get("/api/v1/nothing", headers={"Accept-Language": "ja"})
    assert "アドレス" in assert_error_shape(response, 404)["detail"]
    make_link(make_host())
    response = Client().post(
        "/api/v1/book/intro", "x", content_type="text/plain", headers={"Accept-Language": "ja"}
    )
    assert "JSON" in assert_error_shape(response, 415)["detail"]
    assert "本文" in response.json()["detail"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_an_oversized_body_answers_413_in_the_error_shape(content_type: str) -> None:
    make_link(make_host())
    body = '{"first_name": "' + "x" * 100_000 + '"}'
    response = Client().post("/api/v1/book/intro", body, content_type=content_type)
    assert_error_shape(response, 413)
    assert not Booking.objects.exists()
