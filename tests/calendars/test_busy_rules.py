"""One rule per event kind, the same on every provider (calendars/busy_rules.py, docs/architecture.md).

Each kind is seeded the way the provider itself represents it (Google through its emulator,
Microsoft 365 and Exchange through theirs, CalDAV in a real Radicale) and read back through
the adapter's ``busy``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.emulators.exchange import ExchangeEmulator
from tests.emulators.exchange import start as start_exchange
from tests.emulators.google import GoogleEmulator
from tests.emulators.google import start as start_google
from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.microsoft import start as start_microsoft
from tests.emulators.radicale_server import RadicaleServer
from yoyaku.calendars.base import BusyInterval, BusyStatus
from yoyaku.calendars.busy_rules import EventFacts, busy_status
from yoyaku.calendars.caldav import CalDAVAdapter
from yoyaku.calendars.exchange import ExchangeAdapter
from yoyaku.calendars.google import GoogleCalendarAdapter
from yoyaku.calendars.microsoft import MicrosoftCalendar
from yoyaku.calendars.microsoft_oauth import MicrosoftApp, MicrosoftEndpoints
from yoyaku.calendars.oauth import OAuthTokens

# The rule, per kind: what a scheduler's user expects (see calendars/busy_rules.py for why).
EXPECTED: dict[str, BusyStatus | None] = {
    "busy": "busy",
    "working_elsewhere": None,
    "unanswered": "tentative",
    "out_of_office": "oof",
    "focus_time": "busy",
    "tentative": "tentative",
    "free": None,
    "declined": None,
    "cancelled": None,
}
KINDS = list(EXPECTED)
BASE = datetime(2030, 4, 1, tzinfo=UTC)
GOOGLE_HOST = "host@example.com"
EWS_EMAIL = "alice@example.com"
EWS_PASSWORD = "s3cret"


def slot(kind: str) -> tuple[datetime, datetime]:
    """Each kind on its own day, 10:00 to 11:00 UTC, so one calendar can hold them all."""
    start = BASE + timedelta(days=KINDS.index(kind), hours=10)
    return start, start + timedelta(hours=1)


def read(busy: Callable[..., list[BusyInterval]], kind: str) -> BusyStatus | None:
    start, end = slot(kind)
    found = busy(start=start - timedelta(hours=2), end=end + timedelta(hours=2))
    assert len(found) <= 1, found
    if not found:
        return None
    assert (found[0].start, found[0].end) == (start, end)
    return found[0].status


# -- Google ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleEmulator]:
    emu = start_google(accounts=(GOOGLE_HOST,))
    yield emu
    emu.stop()


def _google_seed(kind: str) -> dict[str, Any]:
    def answer(status: str) -> dict[str, Any]:
        return {"attendees": [{"email": GOOGLE_HOST, "responseStatus": status}, {"email": "x@example.org"}]}

    return {
        "busy": {},
        "working_elsewhere": {
            "eventType": "workingLocation",
            "transparency": "transparent",
            "workingLocationProperties": {"type": "homeOffice", "homeOffice": {}},
        },
        "unanswered": answer("needsAction"),
        "out_of_office": {"eventType": "outOfOffice", "outOfOfficeProperties": {}},
        "focus_time": {"eventType": "focusTime", "focusTimeProperties": {}},
        "tentative": answer("tentative"),
        "free": {"transparency": "transparent"},
        "declined": answer("declined"),
        "cancelled": {},
    }[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_google(google: GoogleEmulator, kind: str) -> None:
    start, end = slot(kind)
    body = {
        "summary": kind,
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": end.isoformat()},
        **_google_seed(kind),
    }
    created = google.add_event(GOOGLE_HOST, body)
    if kind == "cancelled":
        google.delete_event(GOOGLE_HOST, created["id"])
    issued = google.issue_tokens(GOOGLE_HOST)
    adapter = GoogleCalendarAdapter(
        tokens=OAuthTokens(
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            expires_at=datetime.now(tz=UTC) + timedelta(hours=1),
            account_email=GOOGLE_HOST,
        ),
        client_id=google.client_id,
        client_secret=google.client_secret,
        endpoints=google.endpoints(),
    )
    try:
        assert read(adapter.busy, kind) == EXPECTED[kind]
    finally:
        adapter.close()


# -- Microsoft 365 (Graph) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def microsoft() -> Iterator[MicrosoftEmulator]:
    emu = start_microsoft()
    yield emu
    emu.stop()


# Graph's own representation of each kind. Outlook has no focus-time kind: Viva Insights books
# focus time as an ordinary event shown as busy.
GRAPH_SEEDS: dict[str, dict[str, Any]] = {
    "busy": {},
    "working_elsewhere": {"show_as": "workingElsewhere"},
    "unanswered": {"show_as": "tentative", "response": "notResponded"},
    "out_of_office": {"show_as": "oof"},
    "focus_time": {"show_as": "busy"},
    "tentative": {"show_as": "tentative", "response": "tentativelyAccepted"},
    "free": {"show_as": "free"},
    "declined": {"show_as": "busy", "response": "declined"},
    "cancelled": {"is_cancelled": True},
}


@pytest.mark.parametrize("kind", KINDS)
def test_microsoft(microsoft: MicrosoftEmulator, kind: str) -> None:
    start, end = slot(kind)
    microsoft.add_event(subject=kind, start=start, end=end, **GRAPH_SEEDS[kind])
    issued = microsoft.issue_tokens()
    app = MicrosoftApp(
        client_id=microsoft.client_id,
        client_secret=microsoft.client_secret,
        redirect_uri="http://127.0.0.1:9/callback",
        endpoints=MicrosoftEndpoints(authority_transport=microsoft.url, graph=microsoft.graph_url),
        timeout=2.0,
    )
    adapter = MicrosoftCalendar(
        app=app,
        tokens=OAuthTokens(
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            expires_at=datetime.now(tz=UTC) + timedelta(hours=1),
        ),
    )
    try:
        assert read(adapter.busy, kind) == EXPECTED[kind]
    finally:
        adapter.close()


# -- Exchange (EWS) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exchange() -> Iterator[ExchangeEmulator]:
    server = start_exchange(email=EWS_EMAIL, password=EWS_PASSWORD)
    yield server
    server.stop()


# LegacyFreeBusyStatus and MyResponseType as Exchange stores each kind; focus time is a busy item.
EWS_SEEDS: dict[str, dict[str, Any]] = {
    "busy": {},
    "working_elsewhere": {"free_busy": "WorkingElsewhere"},
    "unanswered": {"free_busy": "Busy", "my_response_type": "NoResponseReceived", "organizer": "o@x.example"},
    "out_of_office": {"free_busy": "OOF"},
    "focus_time": {"free_busy": "Busy"},
    "tentative": {"free_busy": "Tentative", "my_response_type": "Tentative", "organizer": "o@x.example"},
    "free": {"free_busy": "Free"},
    "declined": {"free_busy": "Busy", "my_response_type": "Decline", "organizer": "o@x.example"},
    "cancelled": {"is_cancelled": True},
}


@pytest.mark.parametrize("kind", KINDS)
def test_exchange(exchange: ExchangeEmulator, kind: str) -> None:
    start, end = slot(kind)
    exchange.add_event(subject=kind, start=start, end=end, **EWS_SEEDS[kind])
    adapter = ExchangeAdapter(
        email=EWS_EMAIL,
        password=EWS_PASSWORD,
        ews_url=exchange.ews_url,
        time_zone="UTC",
        allowed_networks=["127.0.0.0/8"],
        timeout=5,
        max_wait=1,
    )
    try:
        assert read(adapter.busy, kind) == EXPECTED[kind]
    finally:
        adapter.close()


# -- CalDAV (Radicale) -------------------------------------------------------------------------

# iCalendar's way of saying each kind; Outlook and Exchange export "show as" in
# X-MICROSOFT-CDO-BUSYSTATUS. iCalendar has no focus-time kind: it is an opaque event.
ICAL_SEEDS: dict[str, str] = {
    "busy": "",
    "working_elsewhere": "X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE\n",
    "unanswered": (
        "ORGANIZER:mailto:boss@example.org\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:alice@example.com\n"
    ),
    "out_of_office": "X-MICROSOFT-CDO-BUSYSTATUS:OOF\n",
    "focus_time": "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\n",
    "tentative": "STATUS:TENTATIVE\n",
    "free": "TRANSP:TRANSPARENT\n",
    "declined": "ORGANIZER:mailto:boss@example.org\nATTENDEE;PARTSTAT=DECLINED:mailto:alice@example.com\n",
    "cancelled": "STATUS:CANCELLED\n",
}


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize("kind", KINDS)
def test_caldav(radicale: RadicaleServer, kind: str) -> None:
    calendar = radicale.ensure_calendar(f"rules-{uuid.uuid4().hex[:10]}")
    start, end = slot(kind)
    text = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\n"
        f"UID:{kind}-{uuid.uuid4().hex}@test\nDTSTAMP:20300101T000000Z\nSUMMARY:{kind}\n"
        f"DTSTART:{_stamp(start)}\nDTEND:{_stamp(end)}\n{ICAL_SEEDS[kind]}END:VEVENT\nEND:VCALENDAR\n"
    ).replace("\n", "\r\n")
    radicale.seed(calendar, [text.encode()])
    with CalDAVAdapter(
        url=radicale.url,
        username=radicale.username,
        password=radicale.password,
        time_zone="UTC",
        owner_email="alice@example.com",
        calendar_url=calendar,
        allowed_networks=["127.0.0.0/8"],
    ) as adapter:
        assert read(lambda **kw: adapter.busy(calendar_ids=[calendar], **kw), kind) == EXPECTED[kind]


# -- the rule itself ---------------------------------------------------------------------------


def test_out_of_office_stays_busy_when_marked_free_and_declined_wins_over_everything() -> None:
    assert busy_status(EventFacts(kind="out_of_office", show_as="free")) == "oof"
    assert busy_status(EventFacts(kind="out_of_office", response="declined")) is None
    assert busy_status(EventFacts(show_as="unknown")) == "busy"
    assert busy_status(EventFacts(show_as="busy", response="needs_action")) == "tentative"
