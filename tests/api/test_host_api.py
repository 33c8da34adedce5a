from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import api_key_for, make_host
from yoyaku.scheduling.models import MeetingLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def host_client() -> Client:
    host = make_host()
    make_host("ken")
    return Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})


def test_host_endpoints_need_a_valid_key() -> None:
    assert Client().get("/api/v1/me/availability").status_code == 401
    bad = Client(headers={"Authorization": "Bearer yk_wrong"}).get("/api/v1/meeting-links")
    assert bad.status_code == 401
    assert "API key" in bad.json()["detail"]


def test_availability_round_trip(host_client: Client) -> None:
    body = {
        "time_zone": "Asia/Kolkata",
        "weekly": {"0": [[540, 720], [780, 1080]], "4": [[600, 900]]},
        "overrides": {"2027-01-01": [], "2027-01-02": [[600, 660]]},
    }
    put = host_client.put("/api/v1/me/availability", body, content_type="application/json")
    assert put.status_code == 200, put.content
    got = host_client.get("/api/v1/me/availability").json()
    assert got["time_zone"] == "Asia/Kolkata"
    assert got["weekly"] == {"0": [[540, 720], [780, 1080]], "4": [[600, 900]]}
    assert got["overrides"] == {"2027-01-01": [], "2027-01-02": [[600, 660]]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Atlantis/Capital", "weekly": {}}, "time_zone"),
        ({"time_zone": "UTC", "weekly": {"0": [[600, 500]]}}, "weekly.0"),
        ({"time_zone": "UTC", "weekly": {"0": [[540, 720], [700, 800]]}}, "weekly.0"),
        ({"time_zone": "UTC", "weekly": {"9": [[540, 720]]}}, "weekly.9"),
    ],
)
def test_bad_availability_is_refused_with_field_messages(
    host_client: Client, body: dict[str, object], field: str
) -> None:
    response = host_client.put("/api/v1/me/availability", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert host_client.get("/api/v1/me/availability").json()["time_zone"] == "Europe/Berlin"


def test_meeting_link_crud(host_client: Client) -> None:
    body = {
        "slug": "demo-call",
        "name": "Demo call",
        "durations": [60, 15, 30],
        "increment_minutes": 15,
        "buffer_after_minutes": 10,
        "form_fields": [{"key": "company", "label": "Company", "required": True}],
        "location": "https://meet.example.com/hana",
    }
    created = host_client.post("/api/v1/meeting-links", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["durations"] == [15, 30, 60]
    assert created.json()["url"].endswith("/m/demo-call")
    again = host_client.post("/api/v1/meeting-links", body, content_type="application/json")
    assert again.status_code == 409
    assert "taken" in again.json()["detail"]
    patched = host_client.patch(
        "/api/v1/meeting-links/demo-call", {"name": "Product demo"}, content_type="application/json"
    )
    assert patched.json()["name"] == "Product demo"
    assert patched.json()["increment_minutes"] == 15
    assert [link["slug"] for link in host_client.get("/api/v1/meeting-links").json()] == ["demo-call"]
    assert host_client.delete("/api/v1/meeting-links/demo-call").status_code == 204
    assert host_client.get("/api/v1/meeting-links/demo-call").status_code == 404
    assert not MeetingLink.objects.exists()


def test_round_robin_link_needs_known_hosts(host_client: Client) -> None:
    body = {"slug": "team", "name": "Team", "kind": "round_robin", "host_usernames": ["hana", "nobody"]}
    response = host_client.post("/api/v1/meeting-links", body, content_type="application/json")
    assert response.status_code == 422
    assert "nobody" in response.json()["errors"]["host_usernames"]
    body["host_usernames"] = ["hana", "ken"]
    assert host_client.post("/api/v1/meeting-links", body, content_type="application/json").status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"increment_minutes": 3}, "increment_minutes"),
        ({"durations": [2]}, "durations"),
        ({"slug": "Bad Slug!"}, "slug"),
        ({"fixed_start": "2027-02-01", "fixed_end": "2027-01-01"}, "fixed_end"),
        ({"redirect_url": "javascript:alert(1)"}, "redirect_url"),
        ({"redirect_url": "http://example.com/thanks"}, "redirect_url"),
        ({"increment_minutes": 721}, "increment_minutes"),
        ({"rolling_days": 0}, "rolling_days"),
        ({"fixed_start": "0001-01-01", "fixed_end": "0001-01-02"}, "fixed_start"),
        ({"fixed_start": "9999-12-30", "fixed_end": "9999-12-31"}, "fixed_start"),
        ({"form_fields": [{"key": "team", "label": "Team", "type": "radio"}]}, "form_fields"),
        ({"form_fields": [{"key": "size", "label": "Size", "type": "select"}]}, "form_fields"),
    ],
)
def test_bad_meeting_links_are_refused(host_client: Client, change: dict[str, object], field: str) -> None:
    body = {"slug": "ok-slug", "name": "Call"} | change
    response = host_client.post("/api/v1/meeting-links", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert any(key.startswith(field) for key in response.json()["errors"]), response.json()
    assert not MeetingLink.objects.exists()


def test_long_increments_and_rolling_days_are_kept(host_client: Client) -> None:
    body = {"slug": "long", "name": "Long", "increment_minutes": 90, "rolling_days": 2}
    created = host_client.post("/api/v1/meeting-links", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert (created.json()["increment_minutes"], created.json()["rolling_days"]) == (90, 2)
    # The default rolling_weeks gives way to the days the host asked for.
    assert created.json()["rolling_weeks"] is None
    patched = host_client.patch(
        "/api/v1/meeting-links/long", {"rolling_weeks": 3}, content_type="application/json"
    )
    assert (patched.json()["rolling_weeks"], patched.json()["rolling_days"]) == (3, None)


def test_openapi_document_and_docs_are_served() -> None:
    spec = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/book/{slug}" in spec["paths"]
    assert Client().get("/api/v1/docs").status_code == 200
