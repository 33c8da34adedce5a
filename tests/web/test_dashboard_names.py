"""The dashboard names bookers in the language's order and writes days as the language does."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import make_link
from yoyaku.accounts.models import User
from yoyaku.scheduling.models import Booking, BookingStatus

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "name", "day"),
    [
        ("en", "Aiko Sato", r"[A-Z][a-z]{2}, [A-Z][a-z]{2} \d{1,2}, \d{4} · "),
        ("ja", "Sato Aiko", r"\d{4}年\d{1,2}月\d{1,2}日\(.\) "),
    ],
)
def test_meetings_and_requests_name_the_booker_in_the_languages_order(
    host: User, client_in: Client, language: str, name: str, day: str
) -> None:
    link = make_link(host)
    start = timezone.now() + timedelta(days=3)
    for status in (BookingStatus.CONFIRMED, BookingStatus.REQUESTED):
        Booking.objects.create(
            link=link,
            status=status,
            start=start,
            end=start + timedelta(minutes=30),
            time_zone="Europe/Paris",
            first_name="Aiko",
            last_name="Sato",
            email=f"aiko-{status}@example.com",
            assigned_host=host,
        )

    page = client_in.get("/dashboard/", headers={"accept-language": language}).content.decode()

    assert page.count(name) >= 2  # the upcoming meeting and the request
    assert re.search(day, page)
