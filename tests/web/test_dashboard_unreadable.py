"""The dashboard names the calendar events busy time could not read, in the host's language."""

from __future__ import annotations

from django.test import Client
from django.utils import translation

from tests.factories import connect_caldav
from yoyaku.accounts.models import User
from yoyaku.accounts.unreadable import record_unreadable_events
from yoyaku.calendars.base import UnreadableEvent


def connected(host: User) -> None:
    connection = connect_caldav(
        host,
        server_url="http://127.0.0.1:9/",
        username="u",
        password="p",
        calendar_url="http://127.0.0.1:9/c/",
    )
    record_unreadable_events(
        connection=connection,
        events=[
            UnreadableEvent("Weekly review", "recurrence", "Expected weekday abbreviation, got: XX"),
            UnreadableEvent("Dentist", "end"),
        ],
    )


def test_unreadable_events_are_listed_with_why(host: User, client_in: Client) -> None:
    connected(host)
    page = client_in.get("/dashboard/").content.decode()

    assert "Yoyaku could not read these events of your calendar" in page
    assert "Weekly review</span>: its repeat rule or its exceptions could not be read" in page
    assert "(Expected weekday abbreviation, got: XX)" in page
    assert "Dentist</span>: its end time could not be read" in page


def test_unreadable_events_are_told_in_japanese(host: User, client_in: Client) -> None:
    connected(host)
    client_in.cookies["django_language"] = "ja"
    try:
        page = client_in.get("/dashboard/").content.decode()
    finally:
        # The locale middleware leaves the request's language active in this thread.
        translation.activate("en")

    assert "Yoyaku はカレンダーの次の予定を読み取れませんでした" in page
    assert "繰り返しのルールまたはその例外を読み取れませんでした" in page


def test_nothing_is_shown_when_every_event_was_read(host: User, client_in: Client) -> None:
    connect_caldav(
        host,
        server_url="http://127.0.0.1:9/",
        username="u",
        password="p",
        calendar_url="http://127.0.0.1:9/c/",
    )
    page = client_in.get("/dashboard/").content.decode()
    assert "unreadable-events" not in page
