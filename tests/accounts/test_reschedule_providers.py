"""Moving a meeting on Google and Microsoft 365 (local emulators): the same event moves, no second one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.connection_helpers import (
    berlin,
    future_day,
    google_settings,
    microsoft_settings,
    provider_settings,
)
from tests.emulators import microsoft as microsoft_emulator
from tests.emulators.google import GoogleEmulator
from tests.emulators.google import start as start_google
from tests.emulators.microsoft import MicrosoftEmulator
from tests.factories import make_host, make_link
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.calendars.oauth import OAuthTokens
from yoyaku.scheduling.models import Booking, CalendarWrite
from yoyaku.scheduling.services import book_meeting, reschedule_booking

pytestmark = pytest.mark.django_db

GOOGLE_EMAIL = "host@example.com"


@pytest.fixture
def host() -> User:
    user = make_host()
    make_link(user, durations=[30, 60])
    return user


def store_oauth(user: User, provider: str, issued: dict[str, object], email: str) -> None:
    connection = CalendarConnection(user=user, provider=provider, account_email=email)
    connection.secret = OAuthTokens(
        access_token=str(issued["access_token"]),
        refresh_token=str(issued["refresh_token"]),
        expires_at=datetime.now(tz=UTC) + timedelta(seconds=int(str(issued["expires_in"]))),
        account_email=email,
    ).to_json()
    connection.save()


@pytest.fixture
def google(host: User) -> Iterator[GoogleEmulator]:
    emu = start_google(accounts=(GOOGLE_EMAIL,))
    try:
        with provider_settings(**google_settings(emu)):
            store_oauth(host, "google", emu.issue_tokens(GOOGLE_EMAIL), GOOGLE_EMAIL)
            yield emu
    finally:
        emu.stop()


@pytest.fixture
def microsoft(host: User) -> Iterator[MicrosoftEmulator]:
    emu = microsoft_emulator.start()
    try:
        with provider_settings(**microsoft_settings(emu)):
            store_oauth(host, "microsoft", emu.issue_tokens(), microsoft_emulator.DEFAULT_EMAIL)
            yield emu
    finally:
        emu.stop()


def book(host: User, start: datetime) -> Booking:
    return book_meeting(
        link=host.owned_links.get(),
        start=start,
        duration=30,
        time_zone="Europe/Berlin",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
    ).booking


def start_of(value: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))


def test_google_moves_the_same_event_and_its_own_time_does_not_block(
    host: User, google: GoogleEmulator
) -> None:
    day = future_day()
    booking = book(host, berlin(day, 11))
    assert booking.calendar_write == CalendarWrite.WRITTEN

    # Longer, from the same start: it overlaps only the meeting's own event.
    reschedule_booking(booking=booking, start=berlin(day, 11), duration=60)
    reschedule_booking(booking=booking, start=berlin(day, 14), duration=60)

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    [event] = google.events(GOOGLE_EMAIL)
    assert event["id"] == booking.calendar_event_id
    assert start_of(event["start"]) == berlin(day, 14)
    assert start_of(event["end"]) == berlin(day, 15)


def test_microsoft_moves_the_same_event(host: User, microsoft: MicrosoftEmulator) -> None:
    day = future_day()
    booking = book(host, berlin(day, 11))

    reschedule_booking(booking=booking, start=berlin(day, 14))

    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN
    [event] = microsoft.events()
    assert event["id"] == booking.calendar_event_id
    moved = microsoft.event(booking.calendar_event_id)
    zone = moved["start"].get("timeZone", "UTC")
    assert zone in ("UTC", "Europe/Berlin"), zone
    starts = start_of(moved["start"])
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=ZoneInfo(zone))
    assert starts == berlin(day, 14)
