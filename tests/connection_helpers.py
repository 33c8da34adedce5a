"""Helpers for the calendar connection tests: settings pointing at the emulators, the consent pages
as a browser would submit them, and the public booking API as a booker uses it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import requests
from django.test import Client, TestCase, override_settings

from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import PUBLIC_AUTHORITY, MicrosoftEmulator
from tests.factories import run_calendar_writes

BERLIN = ZoneInfo("Europe/Berlin")
BASE_URL = "http://testserver"


def google_settings(emu: GoogleEmulator) -> dict[str, Any]:
    endpoints = emu.endpoints()
    return {
        "YOYAKU_GOOGLE_CLIENT_ID": emu.client_id,
        "YOYAKU_GOOGLE_CLIENT_SECRET": emu.client_secret,
        "YOYAKU_GOOGLE_ENDPOINTS": {
            "auth_url": endpoints.auth_url,
            "token_url": endpoints.token_url,
            "revoke_url": endpoints.revoke_url,
            "userinfo_url": endpoints.userinfo_url,
            "calendar_api": endpoints.calendar_api,
        },
    }


def microsoft_settings(emu: MicrosoftEmulator) -> dict[str, Any]:
    return {
        "YOYAKU_MICROSOFT_CLIENT_ID": emu.client_id,
        "YOYAKU_MICROSOFT_CLIENT_SECRET": emu.client_secret,
        "YOYAKU_MICROSOFT_ENDPOINTS": {
            "authority_host": PUBLIC_AUTHORITY,
            "tenant": "common",
            "graph": emu.graph_url,
            "authority_transport": emu.url,
        },
    }


@contextmanager
def provider_settings(**values: Any) -> Iterator[None]:
    """The emulators' settings, with the callback registered at the test client's host."""
    with override_settings(YOYAKU_BASE_URL=BASE_URL, **values):
        yield


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")
        elif tag == "button" and values.get("id"):
            self.buttons[values["id"]] = values


def submit_consent(location: str, *, button: str) -> str:
    """Open the provider's consent page like a browser and press ``button`` (its id).

    Returns where the provider redirects the browser (the callback URL with its query).
    """
    page = requests.get(location, timeout=10, allow_redirects=False)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    assert form.action, page.text
    pressed = form.buttons[button]
    data = {**form.fields, pressed["name"]: pressed["value"]}
    answer = requests.post(urljoin(location, form.action), data=data, timeout=10, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


GOOGLE_ALLOW, GOOGLE_DENY = "allow", "deny"
MICROSOFT_ALLOW, MICROSOFT_DENY = "accept", "cancel"


def follow_to_callback(client: Client, callback_url: str) -> Any:
    """Deliver the provider's redirect to the app (the browser's last hop)."""
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL, callback_url
    return client.get(f"{parts.path}?{parts.query}")


def connect_in_browser(client: Client, provider: str, *, button: str) -> Any:
    """POST Connect, follow to the consent page, press ``button``, come back: the callback's response.

    What connecting runs after commit runs too (the first sync of the calendar, on huey in
    immediate mode), as it would in a server.
    """
    start = client.post(f"/settings/calendar/connect/{provider}/")
    assert start.status_code == 302, start.content
    with TestCase.captureOnCommitCallbacks(execute=True):
        return follow_to_callback(client, submit_consent(start["Location"], button=button))


def flash_messages(response: Any) -> list[str]:
    from django.contrib.messages import get_messages

    return [str(m) for m in get_messages(response.wsgi_request)]


# -- the booker's side ----------------------------------------------------------------------------


def future_day(days_ahead: int = 8) -> date:
    return datetime.now(tz=UTC).date() + timedelta(days=days_ahead)


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def slots(slug: str, first: date, last: date | None = None) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Offered start times (local HH:MM) by date, and the whole answer."""
    response = Client().get(
        f"/api/v1/book/{slug}/availability",
        {"start": first.isoformat(), "end": (last or first).isoformat(), "timezone": "Europe/Berlin"},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    by_day = {d["date"]: [s[11:16] for s in d["slots"]] for d in data["days"]}
    return by_day, data


def calendar_write_of(response: Any) -> str:
    """The calendar write state of the booking a booking answer made, as it is now (after the worker)."""
    from yoyaku.scheduling.models import Booking

    return Booking.objects.get(pk=response.json()["id"]).calendar_write


def book(slug: str, start: datetime, *, email: str = "aiko@example.com", key: str | None = None) -> Any:
    body: dict[str, Any] = {
        "start": start.isoformat(),
        "duration": 30,
        "timezone": "Europe/Berlin",
        "first_name": "Aiko",
        "last_name": "Sato",
        "email": email,
    }
    if key:
        body["idempotency_key"] = key
    response = Client().post(f"/api/v1/book/{slug}", body, content_type="application/json")
    # The answer comes before the event is written (pending); then the worker writes it.
    run_calendar_writes()
    return response
