"""A time the page never offers is refused with 422 and a message saying which rule, not with 409.

409 stays for a time the page offers that is taken (another booking, a calendar event).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from tests.api.test_public_booking import payload
from tests.factories import make_host, make_link
from yoyaku.crm.models import Contact
from yoyaku.scheduling.models import Booking

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
BERLIN = ZoneInfo("Europe/Berlin")


def day(days_ahead: int) -> date:
    return timezone.now().astimezone(BERLIN).date() + timedelta(days=days_ahead)


def at(days_ahead: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day(days_ahead), time(hour, minute, second), BERLIN)


def book(start: datetime) -> Any:
    return Client().post("/api/v1/book/intro", payload(start), content_type="application/json")


@pytest.mark.parametrize(
    ("link", "start", "words"),
    [
        ({}, at(-1, 10), "This time is in the past."),
        ({}, at(7, 10, 0, 30), "must not have seconds"),
        ({}, at(7, 10, 10), "30-minute grid (…:00, …:30); the nearest times are 10:00 and 10:30."),
        ({"increment_minutes": 15}, at(7, 10, 20), "15-minute grid (…:00, …:15, …:30, …:45)"),
        ({}, at(7, 20), "outside the hours this page offers"),
        ({"notice_minutes": 3 * 24 * 60}, at(2, 10), "too soon"),
        ({"rolling_weeks": 1}, at(10, 10), "beyond the page's booking window (up to "),
        (
            {"fixed_start": day(5), "fixed_end": day(9)},
            at(3, 10),
            f"before the page's booking window, which opens on {day(5):%a, %b} {day(5).day}, {day(5).year}.",
        ),
        (
            {"fixed_start": day(5), "fixed_end": day(9)},
            at(10, 10),
            f"beyond the page's booking window (up to {day(9):%a, %b} {day(9).day}, {day(9).year}).",
        ),
    ],
    ids=["past", "seconds", "grid", "grid-15", "hours", "notice", "rolling", "before-fixed", "after-fixed"],
)
def test_a_time_never_offered_is_422_with_the_rule_and_nothing_is_written(
    link: dict[str, object], start: datetime, words: str
) -> None:
    make_link(make_host(), **link)

    response = book(start)

    assert response.status_code == 422, response.content
    assert words in response.json()["errors"]["start"]
    assert Booking.objects.count() == 0
    assert Contact.objects.count() == 0


def test_the_grid_message_speaks_the_bookers_offset() -> None:
    # The page's grid is Berlin's :00 and :30; a booker in Kathmandu (+05:45) sees them as :15 and :45.
    make_link(make_host())
    start = at(7, 10, 10).astimezone(ZoneInfo("Asia/Kathmandu"))
    response = book(start)
    assert response.status_code == 422
    assert "(…:15, …:45)" in response.json()["errors"]["start"]


def test_an_offered_time_that_is_taken_is_still_409() -> None:
    make_link(make_host(), notice_minutes=60)
    assert book(at(7, 10)).status_code == 201
    response = Client().post(
        "/api/v1/book/intro", payload(at(7, 10), email="ken@example.com"), content_type="application/json"
    )
    assert response.status_code == 409
    assert Booking.objects.count() == 1


def test_a_group_page_offers_only_the_hours_every_host_works() -> None:
    hana = make_host("hana")
    make_host("ken", weekly={str(d): [[9 * 60, 12 * 60]] for d in range(7)})
    make_link(hana, kind="group", host_usernames=["hana", "ken"])
    response = book(at(7, 14))
    assert response.status_code == 422
    assert "outside the hours" in response.json()["errors"]["start"]
    assert book(at(7, 10)).status_code == 201


def test_the_message_speaks_the_pages_language() -> None:
    make_link(make_host())
    response = Client(headers={"Accept-Language": "ja"}).post(
        "/api/v1/book/intro", payload(at(7, 10, 10)), content_type="application/json"
    )
    assert response.status_code == 422
    message = response.json()["errors"]["start"]
    assert message.startswith("開始時刻はこのページの 30 分刻み")
    assert message.endswith("最も近い時刻は 10:00 と 10:30 です。")


@pytest.mark.parametrize(
    ("start", "words"),
    [
        ("0001-01-01T00:00:00+01:00", "between the years 1900 and 9000"),
        ("9999-12-31T23:30:00-05:00", "between the years 1900 and 9000"),
    ],
)
def test_starts_at_the_ends_of_the_calendar_are_refused_not_crashed_on(start: str, words: str) -> None:
    # In UTC these are the years 0 and 10000, which Python's datetime cannot hold.
    make_link(make_host())
    body = payload(at(7, 10), idempotency_key="edge-of-time") | {"start": start}
    response = Client().post("/api/v1/book/intro", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert words in response.json()["errors"]["start"]
