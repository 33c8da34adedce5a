from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from tests.factories import make_host, make_link
from yoyaku.crm.models import Contact, Meeting
from yoyaku.scheduling.models import Booking, Reservation

pytestmark = pytest.mark.django_db


def next_weekday(days_ahead: int = 7) -> datetime:
    day = datetime.now(tz=UTC).date() + timedelta(days=days_ahead)
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Europe/Berlin"))


def payload(start: datetime, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "start": start.isoformat(),
        "duration": 30,
        "timezone": "Asia/Tokyo",
        "first_name": "Aiko",
        "last_name": "Sato",
        "email": "aiko@example.com",
    }
    body.update(extra)
    return body


def test_availability_lists_slots_in_the_bookers_zone_and_says_offline() -> None:
    host = make_host()
    make_link(host)
    day = next_weekday().date()
    response = Client().get(
        "/api/v1/book/intro/availability",
        {"start": day.isoformat(), "end": day.isoformat(), "timezone": "Europe/Berlin"},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["offline"] is True
    slots = data["days"][0]["slots"]
    assert slots[0].startswith(f"{day.isoformat()}T09:00:00+")
    assert slots[-1].startswith(f"{day.isoformat()}T16:30:00+")
    assert len(slots) == 16


def test_offline_booking_becomes_a_request_with_contact_and_meeting() -> None:
    host = make_host()
    make_link(host)
    start = next_weekday().replace(hour=10)
    response = Client().post("/api/v1/book/intro", payload(start), content_type="application/json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "requested"
    assert data["offline"] is True
    assert data["calendar_event_id"] is None
    booking = Booking.objects.get(pk=data["id"])
    contact = Contact.objects.get(pk=booking.contact_id)
    assert (contact.email, contact.first_name, contact.owner) == ("aiko@example.com", "Aiko", host)
    meeting = Meeting.objects.get(pk=booking.meeting_id)
    assert list(meeting.contacts.all()) == [contact]


def test_second_booking_of_same_slot_gets_409_and_changes_nothing() -> None:
    host = make_host()
    make_link(host)
    start = next_weekday().replace(hour=10)
    client = Client()
    assert (
        client.post("/api/v1/book/intro", payload(start), content_type="application/json").status_code == 201
    )
    second = client.post(
        "/api/v1/book/intro", payload(start, email="ken@example.com"), content_type="application/json"
    )
    assert second.status_code == 409
    assert "just booked" in second.json()["detail"]
    assert Booking.objects.count() == 1
    assert not Contact.objects.filter(email="ken@example.com").exists()


def test_idempotency_key_returns_the_same_booking() -> None:
    host = make_host()
    make_link(host)
    start = next_weekday().replace(hour=11)
    client = Client()
    body = payload(start, idempotency_key="retry-key-123")
    first = client.post("/api/v1/book/intro", body, content_type="application/json")
    again = client.post("/api/v1/book/intro", body, content_type="application/json")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Booking.objects.count() == 1


def test_buffers_block_neighbouring_slots() -> None:
    host = make_host()
    make_link(host, buffer_after_minutes=15, buffer_before_minutes=15)
    start = next_weekday().replace(hour=10)
    client = Client()
    assert (
        client.post("/api/v1/book/intro", payload(start), content_type="application/json").status_code == 201
    )
    reservation = Reservation.objects.get()
    assert reservation.start == start - timedelta(minutes=15)
    assert reservation.end == start + timedelta(minutes=45)
    # 10:30 would need 10:15-11:15 free; the first booking's buffered span reaches 10:45.
    nxt = client.post(
        "/api/v1/book/intro",
        payload(start + timedelta(minutes=30), email="b@example.com"),
        content_type="application/json",
    )
    assert nxt.status_code == 409
    later = client.post(
        "/api/v1/book/intro",
        payload(start + timedelta(minutes=60), email="c@example.com"),
        content_type="application/json",
    )
    assert later.status_code == 201


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"first_name": "<script>alert(1)</script>"}, "first_name", "cannot contain"),
        ({"duration": 45}, "duration", "offers 30"),
        ({"first_name": ""}, "first_name", "required"),
    ],
)
def test_bad_booking_input_gets_field_messages_and_changes_nothing(
    change: dict[str, object], field: str, words: str
) -> None:
    host = make_host()
    make_link(host)
    body = payload(next_weekday().replace(hour=10), **change)
    response = Client().post("/api/v1/book/intro", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert words in response.json()["errors"][field]
    assert Booking.objects.count() == 0
    assert Contact.objects.count() == 0


def test_slot_off_the_grid_is_refused() -> None:
    host = make_host()
    make_link(host)
    start = next_weekday().replace(hour=10, minute=10)
    response = Client().post("/api/v1/book/intro", payload(start), content_type="application/json")
    # Never offered: the booker's to change (422), not taken (409).
    assert response.status_code == 422
    assert "30-minute grid" in response.json()["errors"]["start"]
    assert Booking.objects.count() == 0


def test_required_custom_fields_and_options() -> None:
    host = make_host()
    make_link(
        host,
        form_fields=[
            {"key": "company", "label": "Company", "type": "text", "required": True},
            {"key": "size", "label": "Team size", "type": "select", "options": ["1-10", "11+"]},
        ],
    )
    client = Client()
    start = next_weekday().replace(hour=10)
    missing = client.post("/api/v1/book/intro", payload(start), content_type="application/json")
    assert missing.status_code == 422
    assert missing.json()["errors"]["answers.company"] == "Company is required."
    wrong = client.post(
        "/api/v1/book/intro",
        payload(start, answers={"company": "Acme", "size": "huge"}),
        content_type="application/json",
    )
    assert "Choose one of" in wrong.json()["errors"]["answers.size"]
    ok = client.post(
        "/api/v1/book/intro",
        payload(start, answers={"company": "Acme", "size": "11+"}),
        content_type="application/json",
    )
    assert ok.status_code == 201
    assert Contact.objects.get().properties == {"company": "Acme", "size": "11+"}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"timezone": "Nowhere/Land"}, "Unknown time zone"),
        ({"start": "2027-01-10", "end": "2027-01-01"}, "not be before"),
        ({"start": "2027-01-01", "end": "2028-06-01"}, "at most one year"),
        ({"duration": 45}, "offers 30"),
    ],
)
def test_bad_availability_queries(query: dict[str, str], words: str) -> None:
    make_link(make_host())
    response = Client().get("/api/v1/book/intro/availability", query)
    assert response.status_code == 422
    assert words in " ".join(response.json()["errors"].values())


def test_unknown_slug_is_404_with_a_message() -> None:
    response = Client().get("/api/v1/book/nope/availability")
    assert response.status_code == 404
    assert "slug" in response.json()["detail"]


def test_oversized_body_is_refused() -> None:
    make_link(make_host())
    body = '{"first_name": "' + "x" * 100_000 + '"}'
    response = Client().post("/api/v1/book/intro", body, content_type="application/json")
    assert response.status_code in (400, 413)
    assert Booking.objects.count() == 0
