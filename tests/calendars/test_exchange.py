"""The Exchange (EWS) adapter driven through exchangelib against the local EWS emulator."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.emulators.exchange import ExchangeEmulator
from tests.emulators.exchange import start as start_emulator
from yoyaku.calendars.base import (
    Attendee,
    CalendarAuthError,
    CalendarOperationNotSupported,
    CalendarUnavailable,
    EventDraft,
)
from yoyaku.calendars.exchange import (
    CREDENTIALS_MESSAGE,
    OWA_MESSAGE,
    SUPPORTS_PROPOSED_TIMES_IN_EMAIL,
    ExchangeAdapter,
    ExchangeConnectError,
    ExchangeCredentialsError,
    ExchangeUnreachable,
    ExchangeVersionTooOld,
    connect_exchange,
    supports_proposed_times_in_email,
)

LOOPBACK = ["127.0.0.0/8"]
EMAIL = "alice@example.com"
PASSWORD = "s3cret"
WINDOW_START = datetime(2025, 3, 3, tzinfo=UTC)
WINDOW_END = datetime(2025, 3, 10, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[ExchangeEmulator]:
    server = start_emulator(email=EMAIL, password=PASSWORD)
    yield server
    server.stop()


def make_adapter(emulator: ExchangeEmulator, **kwargs: object) -> ExchangeAdapter:
    options: dict[str, object] = {
        "email": EMAIL,
        "password": PASSWORD,
        "ews_url": emulator.ews_url,
        "time_zone": "Europe/Berlin",
        "allowed_networks": LOOPBACK,
        "timeout": 5,
        "max_wait": 1,
    }
    options.update(kwargs)
    return ExchangeAdapter(**options)  # type: ignore[arg-type]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- connecting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("auth_types", "expected"), [(("basic",), "basic"), (("ntlm",), "NTLM")])
def test_connect_with_url(auth_types: tuple[str, ...], expected: str) -> None:
    server = start_emulator(email=EMAIL, password=PASSWORD, auth_types=auth_types)
    try:
        info = connect_exchange(
            email=EMAIL,
            password=PASSWORD,
            username=None,
            ews_url=server.ews_url,
            time_zone="Europe/Berlin",
            allowed_networks=LOOPBACK,
        )
    finally:
        server.stop()
    assert info.auth_type == expected
    assert info.ews_url == server.ews_url
    assert info.server_version == "15.1.2507.6"
    assert info.server_name == "2016"
    assert [(c.id, c.name, c.primary) for c in info.calendars] == [("calendar", "Calendar", True)]
    # Every SOAP call was authenticated with the advertised scheme (NTLM: real NTLMv2 proof checked).
    assert set(server.auth_log) == {expected.lower()}
    assert "GetFolder" in server.requests


def test_connect_with_domain_username_over_ntlm() -> None:
    server = start_emulator(email=EMAIL, password=PASSWORD, username="CORP\\alice", auth_types=("ntlm",))
    try:
        info = connect_exchange(
            email=EMAIL,
            password=PASSWORD,
            username="CORP\\alice",
            ews_url=server.ews_url,
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
    finally:
        server.stop()
    assert info.auth_type == "NTLM"


@pytest.mark.parametrize(
    ("server_version", "name"), [("Exchange2010", "2010"), ("Exchange2010_SP1", "2010 SP1")]
)
def test_old_server_is_refused(server_version: str, name: str) -> None:
    server = start_emulator(email=EMAIL, password=PASSWORD, server_version=server_version)
    try:
        with pytest.raises(ExchangeVersionTooOld) as caught:
            connect_exchange(
                email=EMAIL,
                password=PASSWORD,
                username=None,
                ews_url=server.ews_url,
                time_zone="UTC",
                allowed_networks=LOOPBACK,
            )
    finally:
        server.stop()
    assert str(caught.value) == (
        f"This server runs Exchange {name}; Yoyaku needs Exchange 2010 SP2 or later."
    )


def test_exchange_2010_sp2_is_accepted() -> None:
    server = start_emulator(email=EMAIL, password=PASSWORD, server_version="Exchange2010_SP2")
    try:
        info = connect_exchange(
            email=EMAIL,
            password=PASSWORD,
            username=None,
            ews_url=server.ews_url,
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
    finally:
        server.stop()
    assert info.server_version.startswith("14.2.")


@pytest.mark.parametrize("path", ["/owa/", "/owa/auth/logon.aspx"])
def test_owa_address_gets_a_clear_message(emulator: ExchangeEmulator, path: str) -> None:
    with pytest.raises(ExchangeConnectError) as caught:
        connect_exchange(
            email=EMAIL,
            password=PASSWORD,
            username=None,
            ews_url=emulator.url + path,
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
    assert str(caught.value) == OWA_MESSAGE


def test_html_answer_is_recognised_as_owa(emulator: ExchangeEmulator) -> None:
    # The server's root answers with the OWA sign-in page: recognised by the HTML answer,
    # not by the path.
    with pytest.raises(ExchangeConnectError) as caught:
        connect_exchange(
            email=EMAIL,
            password=PASSWORD,
            username=None,
            ews_url=emulator.url + "/",
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
    assert str(caught.value) == OWA_MESSAGE


@pytest.mark.parametrize("auth_types", [("basic",), ("ntlm",)])
def test_wrong_password_mentions_app_passwords(auth_types: tuple[str, ...]) -> None:
    server = start_emulator(email=EMAIL, password=PASSWORD, auth_types=auth_types)
    try:
        with pytest.raises(ExchangeCredentialsError) as caught:
            connect_exchange(
                email=EMAIL,
                password="wrong",
                username=None,
                ews_url=server.ews_url,
                time_zone="UTC",
                allowed_networks=LOOPBACK,
            )
    finally:
        server.stop()
    assert str(caught.value) == CREDENTIALS_MESSAGE
    assert "app password" in str(caught.value)
    assert isinstance(caught.value, CalendarAuthError)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_host_message() -> None:
    port = _closed_port()
    with pytest.raises(ExchangeUnreachable) as caught:
        connect_exchange(
            email=EMAIL,
            password=PASSWORD,
            username=None,
            ews_url=f"http://127.0.0.1:{port}/EWS/Exchange.asmx",
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
    assert str(caught.value) == "The Exchange server at 127.0.0.1 could not be reached."
    assert isinstance(caught.value, CalendarUnavailable)


def test_timeout_during_connect_message(emulator: ExchangeEmulator) -> None:
    emulator.faults.add(delay=3, path_contains="/EWS/")
    with pytest.raises(ExchangeUnreachable) as caught:
        connect_exchange(
            email=EMAIL,
            password=PASSWORD,
            username=None,
            ews_url=emulator.ews_url,
            time_zone="UTC",
            allowed_networks=LOOPBACK,
            timeout=1,
        )
    assert str(caught.value) == "The Exchange server at 127.0.0.1 did not answer within 1 seconds."


def test_private_address_refused_without_allow_list(emulator: ExchangeEmulator) -> None:
    with pytest.raises(ExchangeConnectError) as caught:
        connect_exchange(
            email=EMAIL,
            password=PASSWORD,
            username=None,
            ews_url=emulator.ews_url,
            time_zone="UTC",
            allowed_networks=(),
        )
    assert "private or reserved" in str(caught.value)
    assert emulator.requests == []


def test_connect_without_url_uses_pox_autodiscover(emulator: ExchangeEmulator) -> None:
    info = connect_exchange(
        email=EMAIL,
        password=PASSWORD,
        username=None,
        ews_url=None,
        time_zone="UTC",
        allowed_networks=LOOPBACK,
        autodiscover_urls=[emulator.url + "/autodiscover/autodiscover.xml"],
    )
    assert info.ews_url == emulator.ews_url
    assert info.calendars[0].primary


# -- busy time -----------------------------------------------------------------------------------


def test_busy_semantics(emulator: ExchangeEmulator) -> None:
    emulator.add_event(subject="busy", start=utc(2025, 3, 3, 9), end=utc(2025, 3, 3, 10))
    emulator.add_event(subject="free", start=utc(2025, 3, 3, 10), end=utc(2025, 3, 3, 11), free_busy="Free")
    emulator.add_event(
        subject="tentative", start=utc(2025, 3, 3, 11), end=utc(2025, 3, 3, 12), free_busy="Tentative"
    )
    emulator.add_event(subject="oof", start=utc(2025, 3, 3, 12), end=utc(2025, 3, 3, 13), free_busy="OOF")
    emulator.add_event(
        subject="elsewhere",
        start=utc(2025, 3, 3, 13),
        end=utc(2025, 3, 3, 14),
        free_busy="WorkingElsewhere",
    )
    emulator.add_event(
        subject="no data", start=utc(2025, 3, 3, 14), end=utc(2025, 3, 3, 15), free_busy="NoData"
    )
    emulator.add_event(
        subject="declined",
        start=utc(2025, 3, 3, 15),
        end=utc(2025, 3, 3, 16),
        my_response_type="Decline",
        organizer="carol@example.org",
    )
    emulator.add_event(
        subject="Canceled: sync", start=utc(2025, 3, 3, 16), end=utc(2025, 3, 3, 17), is_cancelled=True
    )
    busy = make_adapter(emulator).busy(start=WINDOW_START, end=WINDOW_END)
    assert [(b.start.hour, b.end.hour, b.status) for b in busy] == [
        (9, 10, "busy"),
        (11, 12, "tentative"),
        (12, 13, "oof"),
        (14, 15, "busy"),  # NoData: fail closed
    ]
    assert all(b.start.tzinfo is not None for b in busy)


def test_all_day_event_covers_the_days_of_its_own_zone(emulator: ExchangeEmulator) -> None:
    # Stored by Exchange as midnight-to-midnight in a Windows-named zone: those days, not the user's.
    emulator.add_event(
        subject="holiday",
        start=date(2025, 3, 4),
        end=date(2025, 3, 6),
        time_zone="W. Europe Standard Time",
        free_busy="OOF",
    )
    adapter = make_adapter(emulator, time_zone="Asia/Kolkata")
    busy = adapter.busy(start=WINDOW_START, end=WINDOW_END)
    berlin = ZoneInfo("Europe/Berlin")
    assert [(b.start, b.end, b.status) for b in busy] == [
        (
            datetime(2025, 3, 4, tzinfo=berlin).astimezone(UTC),
            datetime(2025, 3, 6, tzinfo=berlin).astimezone(UTC),
            "oof",
        )
    ]


def test_recurring_series_with_exceptions(emulator: ExchangeEmulator) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    series = emulator.add_event(
        subject="standup",
        start=datetime(2025, 3, 28, 9, tzinfo=berlin),
        end=datetime(2025, 3, 28, 9, 30, tzinfo=berlin),
        time_zone="W. Europe Standard Time",
        recurrence={"freq": "daily", "count": 5},
    )
    # Moved out of the window's morning into the afternoon, one deleted, one made free.
    emulator.modify_occurrence(
        series,
        original_start=datetime(2025, 3, 29, 9, tzinfo=berlin),
        start=datetime(2025, 3, 29, 15, tzinfo=berlin),
        end=datetime(2025, 3, 29, 16, tzinfo=berlin),
    )
    emulator.delete_occurrence(series, original_start=datetime(2025, 3, 30, 9, tzinfo=berlin))
    emulator.modify_occurrence(
        series,
        original_start=datetime(2025, 3, 31, 9, tzinfo=berlin),
        start=datetime(2025, 3, 31, 9, tzinfo=berlin),
        end=datetime(2025, 3, 31, 9, 30, tzinfo=berlin),
        free_busy="Free",
    )
    busy = make_adapter(emulator).busy(start=utc(2025, 3, 27), end=utc(2025, 4, 5))
    assert [b.start.astimezone(berlin).replace(tzinfo=None) for b in busy] == [
        datetime(2025, 3, 28, 9),
        datetime(2025, 3, 29, 15),
        # 30th deleted; 31st free; the series keeps 09:00 wall-clock time across the DST change
        datetime(2025, 4, 1, 9),
    ]
    assert busy[-1].start == utc(2025, 4, 1, 7)


def test_free_busy_view_agrees_with_calendar_view(emulator: ExchangeEmulator) -> None:
    """GetUserAvailability (what Outlook's scheduling assistant shows) and the adapter agree."""
    from exchangelib import EWSDateTime, EWSTimeZone

    emulator.add_event(subject="busy", start=utc(2025, 3, 3, 9), end=utc(2025, 3, 3, 10))
    emulator.add_event(subject="oof", start=utc(2025, 3, 3, 12), end=utc(2025, 3, 3, 13), free_busy="OOF")
    emulator.add_event(subject="free", start=utc(2025, 3, 3, 14), end=utc(2025, 3, 3, 15), free_busy="Free")
    adapter = make_adapter(emulator, time_zone="UTC")
    account = adapter.account()
    zone = EWSTimeZone("UTC")
    views = list(
        account.protocol.get_free_busy_info(
            accounts=[(account, "Required", False)],
            start=EWSDateTime(2025, 3, 3, tzinfo=zone),
            end=EWSDateTime(2025, 3, 4, tzinfo=zone),
        )
    )
    blocking = [
        (e.start.hour, e.end.hour)
        for e in views[0].calendar_events
        if e.busy_type not in ("Free", "WorkingElsewhere")
    ]
    busy = adapter.busy(start=utc(2025, 3, 3), end=utc(2025, 3, 4))
    assert blocking == [(b.start.hour, b.end.hour) for b in busy] == [(9, 10), (12, 13)]


def test_busy_clips_to_nothing_outside_window(emulator: ExchangeEmulator) -> None:
    emulator.add_event(subject="earlier", start=utc(2025, 2, 1, 9), end=utc(2025, 2, 1, 10))
    assert make_adapter(emulator).busy(start=WINDOW_START, end=WINDOW_END) == []


# -- writing -------------------------------------------------------------------------------------


def draft(uid: str = "booking-42@yoyaku") -> EventDraft:
    return EventDraft(
        uid=uid,
        title="Intro call",
        start=utc(2025, 3, 5, 14),
        end=utc(2025, 3, 5, 14, 30),
        time_zone="Europe/Berlin",
        description="Booked through Yoyaku",
        location="Phone",
        attendees=(Attendee(email="bob@example.org", name="Bob"),),
    )


def test_create_event_sends_invitations(emulator: ExchangeEmulator) -> None:
    adapter = make_adapter(emulator)
    event_id = adapter.create_event(draft=draft())
    created = [e for e in emulator.events() if e.created_via_ews]
    assert len(created) == 1
    event = created[0]
    assert event.item_id == event_id
    assert event.uid == "booking-42@yoyaku"
    assert event.required_attendees == ["bob@example.org"]
    assert event.send_meeting_invitations == "SendToAllAndSaveCopy"
    assert (event.start, event.end) == (utc(2025, 3, 5, 14), utc(2025, 3, 5, 14, 30))
    assert event.time_zone == "W. Europe Standard Time"
    assert event.subject == "Intro call"
    # And it is busy time now.
    assert [(b.start, b.end) for b in adapter.busy(start=WINDOW_START, end=WINDOW_END)] == [
        (utc(2025, 3, 5, 14), utc(2025, 3, 5, 14, 30))
    ]


def test_create_event_is_idempotent(emulator: ExchangeEmulator) -> None:
    first = make_adapter(emulator).create_event(draft=draft())
    # A retry from a fresh worker (new adapter, new protocol) finds the item by its UID.
    second = make_adapter(emulator).create_event(draft=draft())
    assert first == second
    assert len([e for e in emulator.events() if e.created_via_ews]) == 1
    third = make_adapter(emulator).create_event(draft=draft(uid="booking-43@yoyaku"))
    assert third != first
    assert len([e for e in emulator.events() if e.created_via_ews]) == 2


def test_unsupported_operations_raise(emulator: ExchangeEmulator) -> None:
    adapter = make_adapter(emulator)
    with pytest.raises(CalendarOperationNotSupported, match="cannot be rescheduled from Yoyaku"):
        adapter.update_event(event_id="x", draft=draft())
    with pytest.raises(CalendarOperationNotSupported, match="cannot be cancelled from Yoyaku"):
        adapter.cancel_event(event_id="x")
    with pytest.raises(CalendarOperationNotSupported) as caught:
        adapter.sync(token=None)
    assert str(caught.value) == (
        "Exchange calendars sync one way: Yoyaku reads busy time and adds new meetings, nothing else."
    )
    assert SUPPORTS_PROPOSED_TIMES_IN_EMAIL is False
    assert supports_proposed_times_in_email() is False
    assert emulator.requests == []  # refused without talking to the server


# -- faults --------------------------------------------------------------------------------------


def warm(adapter: ExchangeAdapter) -> None:
    """Negotiate version and fetch the calendar folder so faults hit the call under test."""
    adapter.list_calendars()


def test_503_with_retry_after_is_retried(emulator: ExchangeEmulator) -> None:
    emulator.add_event(subject="busy", start=utc(2025, 3, 3, 9), end=utc(2025, 3, 3, 10))
    adapter = make_adapter(emulator)
    warm(adapter)
    emulator.faults.add(status=503, retry_after=1, count=2, path_contains="/EWS/")
    busy = adapter.busy(start=WINDOW_START, end=WINDOW_END)
    assert len(busy) == 1
    assert len(emulator.faults.hits) == 2


def test_server_busy_soap_fault_is_retried(emulator: ExchangeEmulator) -> None:
    adapter = make_adapter(emulator)
    warm(adapter)
    emulator.faults.add(
        status=500,
        body=emulator.soap_fault(
            "ErrorServerBusy", "The server cannot service this request right now.", back_off_ms=200
        ),
        content_type="text/xml; charset=utf-8",
        path_contains="/EWS/",
    )
    assert adapter.busy(start=WINDOW_START, end=WINDOW_END) == []
    assert len(emulator.faults.hits) == 1


def test_persistent_503_ends_in_calendar_unavailable(emulator: ExchangeEmulator) -> None:
    adapter = make_adapter(emulator, max_retries=2)
    warm(adapter)
    emulator.faults.add(status=503, retry_after=1, count=50, path_contains="/EWS/")
    with pytest.raises(CalendarUnavailable, match="busy or failing"):
        adapter.busy(start=WINDOW_START, end=WINDOW_END)
    assert len(emulator.faults.hits) == 3  # first try + 2 retries, then fail closed


def test_500_soap_fault_is_a_clear_error(emulator: ExchangeEmulator) -> None:
    adapter = make_adapter(emulator)
    warm(adapter)
    emulator.faults.add(
        status=500,
        body=emulator.soap_fault("ErrorInternalServerError", "An internal server error occurred."),
        content_type="text/xml; charset=utf-8",
        path_contains="/EWS/",
    )
    with pytest.raises(CalendarUnavailable) as caught:
        adapter.busy(start=WINDOW_START, end=WINDOW_END)
    assert str(caught.value) == (
        "The Exchange server at 127.0.0.1 reported an error: An internal server error occurred."
    )


def test_slow_response_past_timeout(emulator: ExchangeEmulator) -> None:
    adapter = make_adapter(emulator, timeout=1)
    warm(adapter)
    emulator.faults.add(delay=3, path_contains="/EWS/")
    with pytest.raises(CalendarUnavailable) as caught:
        adapter.busy(start=WINDOW_START, end=WINDOW_END)
    assert str(caught.value) == "The Exchange server at 127.0.0.1 did not answer within 1 seconds."


@pytest.mark.parametrize("auth_types", [("basic",), ("ntlm",)])
def test_password_change_is_an_auth_error(auth_types: tuple[str, ...]) -> None:
    server = start_emulator(email=EMAIL, password=PASSWORD, auth_types=auth_types)
    try:
        adapter = make_adapter(server)
        warm(adapter)
        server.set_password("changed-by-admin")
        with pytest.raises(CalendarAuthError) as caught:
            adapter.busy(start=WINDOW_START, end=WINDOW_END)
    finally:
        server.stop()
    assert str(caught.value) == CREDENTIALS_MESSAGE


def test_adapter_settings_survive_exchangelibs_protocol_cache(emulator: ExchangeEmulator) -> None:
    # The connect check (fail-fast) and a background adapter share endpoint and credentials; the
    # background one must still get its own retry policy.
    connect_exchange(
        email=EMAIL,
        password=PASSWORD,
        username=None,
        ews_url=emulator.ews_url,
        time_zone="UTC",
        allowed_networks=LOOPBACK,
    )
    adapter = make_adapter(emulator)
    warm(adapter)
    emulator.faults.add(status=503, retry_after=1, path_contains="/EWS/")
    assert adapter.busy(start=WINDOW_START, end=WINDOW_END) == []
