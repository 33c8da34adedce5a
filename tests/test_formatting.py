"""Dates and names as each language writes them (yoyaku/formatting.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.utils import translation

from yoyaku.formatting import format_day, format_moment, format_when, format_when_zoned, full_name, greeting

# Tuesday 8 December 2026, 10:00 in Tokyo.
START = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("language", "day", "when"),
    [
        ("en", "Tue, Dec 8, 2026", "Tue, Dec 8, 2026 · 10:00–10:30 (Asia/Tokyo)"),  # noqa: RUF001
        ("ja", "2026年12月8日(火)", "2026年12月8日(火) 10:00〜10:30(Asia/Tokyo)"),
    ],
)
def test_a_meeting_day_and_time_in_each_language(language: str, day: str, when: str) -> None:
    with translation.override(language):
        assert format_day(START, "Asia/Tokyo") == day
        assert format_when_zoned(START, END, "Asia/Tokyo") == when


def test_the_day_is_the_day_in_the_zone_asked_for() -> None:
    with translation.override("en"):
        # 01:00 UTC on the 8th is still the 7th in New York.
        assert format_day(START, "America/New_York") == "Mon, Dec 7, 2026"


def test_a_meeting_past_midnight_names_the_day_it_ends() -> None:
    with translation.override("en"):
        when = format_when(START, START + timedelta(hours=16), "Asia/Tokyo")
    assert when == "Tue, Dec 8, 2026 · 10:00–Wed, Dec 9, 2026 02:00"  # noqa: RUF001


def test_an_instant_given_with_an_offset_is_told_with_that_offset() -> None:
    with translation.override("en"):
        told = format_moment(START, timezone(timedelta(hours=9)))
    assert told == "Tue, Dec 8, 2026 · 10:00 (UTC+09:00)"


def test_an_unknown_zone_name_is_told_in_utc_rather_than_failing() -> None:
    with translation.override("en"):
        assert format_when_zoned(START, None, "Mars/Olympus") == "Tue, Dec 8, 2026 · 01:00 (UTC)"


@pytest.mark.parametrize(
    ("language", "name", "hello"),
    [("en", "Hanako Yamada", "Hello Hanako,"), ("ja", "山田 花子", "山田 様")],
)
def test_names_and_greetings_follow_the_language(language: str, name: str, hello: str) -> None:
    first, last = ("花子", "山田") if language == "ja" else ("Hanako", "Yamada")
    with translation.override(language):
        assert full_name(first_name=first, last_name=last) == name
        assert greeting(first_name=first, last_name=last) == hello


def test_a_missing_name_falls_back_to_the_other_one() -> None:
    with translation.override("ja"):
        assert greeting(first_name="Mia", last_name="") == "Mia 様"
        assert full_name(first_name="", last_name="Mori") == "Mori"
