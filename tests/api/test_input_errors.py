"""Bad input answers 4xx with a message per field, in the documented error shape, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from tests.factories import api_key_for, make_host, make_link
from yoyaku.scheduling.models import Booking, MeetingLink

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def booking(**extra: object) -> dict[str, object]:
    start = (datetime.now(tz=UTC) + timedelta(days=7)).replace(hour=10, minute=0, second=0, microsecond=0)
    body: dict[str, object] = {
        "start": start.isoformat(),
        "duration": 30,
        "timezone": "UTC",
        "first_name": "Aiko",
        "last_name": "Sato",
        "email": "aiko@example.com",
    }
    body.update(extra)
    return body


def assert_field_error(response: Any, field: str, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    data = response.json()
    assert set(data) == {"detail", "errors"}
    assert data["errors"].get(field), data
    return data


def test_nul_in_a_request_message_is_a_field_error() -> None:
    make_link(make_host())
    response = Client().post(
        "/api/v1/book/intro/request",
        {
            "timezone": "UTC",
            "first_name": "A",
            "last_name": "B",
            "email": "a@example.com",
            "message": "a\x00b",
        },
        content_type="application/json",
    )
    assert_field_error(response, "message")
    assert not Booking.objects.exists()


def test_nul_in_a_nested_answer_is_a_field_error() -> None:
    make_link(make_host(), form_fields=[{"key": "company", "label": "Company", "type": "text"}])
    response = Client().post(
        "/api/v1/book/intro", booking(answers={"company": "x\x00"}), content_type="application/json"
    )
    assert_field_error(response, "answers.company")


def test_nul_in_a_slug_is_not_found() -> None:
    make_link(make_host())
    assert Client().get("/api/v1/book/in%00tro/availability").status_code == 404
    assert (
        Client().post("/api/v1/book/in%00tro", booking(), content_type="application/json").status_code == 404
    )


def test_nul_in_a_query_parameter_is_a_field_error() -> None:
    make_link(make_host())
    response = Client().get("/api/v1/book/intro/availability", {"timezone": "Europe/Ber\x00lin"})
    assert_field_error(response, "timezone")


@pytest.mark.parametrize(("start", "end"), [("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02")])
def test_availability_far_from_today_is_refused(start: str, end: str) -> None:
    make_link(make_host())
    response = Client().get(
        "/api/v1/book/intro/availability", {"start": start, "end": end, "timezone": "Pacific/Kiritimati"}
    )
    assert_field_error(response, "start")


@pytest.mark.parametrize("start", ["9999-12-31T23:50:00Z", "0001-01-01T00:00:00+14:00"])
def test_a_booking_at_the_end_of_time_is_refused(start: str) -> None:
    make_link(make_host())
    response = Client().post("/api/v1/book/intro", booking(start=start), content_type="application/json")
    assert_field_error(response, "start")
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "kind",
        "host_usernames",
        "durations",
        "increment_minutes",
        "notice_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "prioritize_contact_owner",
        "form_fields",
        "location",
        "confirmation_message",
        "redirect_url",
        "active",
    ],
)
def test_patching_a_link_with_null_is_a_field_error(field: str) -> None:
    host = make_host()
    make_link(host)
    response = Client().patch(
        "/api/v1/meeting-links/intro",
        {field: None},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key_for(host)}"},
    )
    assert_field_error(response, field)
    assert MeetingLink.objects.get(slug="intro").name


def test_patching_nullable_link_fields_with_null_clears_them() -> None:
    host = make_host()
    make_link(host, max_per_day=3)
    response = Client().patch(
        "/api/v1/meeting-links/intro",
        {"max_per_day": None, "fixed_start": None, "fixed_end": None},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key_for(host)}"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["max_per_day"] is None


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "Europe/../Europe/Berlin", "/etc/x"])
def test_only_iana_zone_names_are_accepted_for_availability(zone: str) -> None:
    make_link(make_host())
    response = Client().get("/api/v1/book/intro/availability", {"timezone": zone})
    assert_field_error(response, "timezone")


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
def test_only_iana_zone_names_are_accepted_for_bookings(zone: str) -> None:
    make_link(make_host())
    response = Client().post("/api/v1/book/intro", booking(timezone=zone), content_type="application/json")
    assert_field_error(response, "timezone")


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
def test_only_iana_zone_names_are_accepted_for_working_hours(zone: str) -> None:
    host = make_host()
    response = Client().put(
        "/api/v1/me/availability",
        {"time_zone": zone, "weekly": {"0": [[540, 1020]]}},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key_for(host)}"},
    )
    assert_field_error(response, "time_zone")
    host.refresh_from_db()
    assert host.time_zone == "Europe/Berlin"


def test_a_link_zone_still_accepts_backward_compatible_names() -> None:
    make_link(make_host())
    response = Client().get("/api/v1/book/intro/availability", {"timezone": "Asia/Calcutta"})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("value", ["0.9006081923096062", "1700000000", "tomorrow"])
def test_an_instant_must_be_iso_8601_not_a_unix_time(value: str) -> None:
    host = make_host()
    response = Client().get(
        "/api/v1/me/bookings", {"after": value}, headers={"Authorization": f"Bearer {api_key_for(host)}"}
    )
    assert_field_error(response, "after")


def test_a_booking_start_given_as_a_number_is_a_field_error() -> None:
    make_link(make_host())
    response = Client().post("/api/v1/book/intro", booking(start=1893456000), content_type="application/json")
    assert_field_error(response, "start")


@pytest.mark.parametrize("body", ["[null, null]", "null", "3", '"name"'])
def test_a_body_that_is_not_an_object_is_a_field_error(body: str) -> None:
    host = make_host()
    make_link(host)
    response = Client().patch(
        "/api/v1/meeting-links/intro",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key_for(host)}"},
    )
    assert_field_error(response, "body")
    response = Client().post("/api/v1/book/intro", body, content_type="application/json")
    assert_field_error(response, "body")


def test_an_unpaired_surrogate_is_a_field_error() -> None:
    # Legal in JSON ("\ud800"), but no UTF-8 can hold it: neither database could store the text.
    make_link(make_host())
    body = '{"timezone": "UTC", "first_name": "A\\ud800", "last_name": "B", "email": "a@b.example"}'
    response = Client().post("/api/v1/book/intro/request", body, content_type="application/json")
    assert_field_error(response, "first_name")
    assert not Booking.objects.exists()


def test_nul_in_a_key_names_the_object_holding_it() -> None:
    make_link(make_host(), form_fields=[{"key": "company", "label": "Company", "type": "text"}])
    body = (
        '{"timezone": "UTC", "first_name": "A", "last_name": "B", "email": "a@b.example",'
        ' "answers": {"c\\u0000": "x"}}'
    )
    response = Client().post("/api/v1/book/intro/request", body, content_type="application/json")
    assert_field_error(response, "answers")
