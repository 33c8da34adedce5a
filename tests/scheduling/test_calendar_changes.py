"""Bookings and CRM-made meetings follow their events on the host's calendar.

The host moves, deletes or cancels the event Yoyaku wrote (through the Google and Graph emulators'
own APIs, or a CalDAV PUT on Radicale), the sync runs, and the booking, its reservation and its
CRM meeting follow; the pages offer what the calendar now says.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
import icalendar
import pytest
from django.core import mail
from django.test import Client

from tests.connection_helpers import berlin, future_day, slots
from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.xandikos_server import XandikosServer
from tests.factories import api_key_for, make_host, make_link, run_calendar_writes, send_queued_mail, sync_now
from tests.providers import GOOGLE_EMAIL
from tests.scheduling.helpers import connect, invitations
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.calendar_sync.models import SyncedEvent
from yoyaku.crm.models import Meeting, MeetingOutcome
from yoyaku.mail.models import MailStatus, OutgoingMail
from yoyaku.scheduling import calendar_changes
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, Reservation
from yoyaku.scheduling.services import book_meeting, reschedule_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    user = make_host()
    make_link(user, buffer_before_minutes=10, buffer_after_minutes=5)
    return user


def book(
    host: User,
    start: datetime,
    *,
    email: str = "aiko@example.com",
    first_name: str = "Aiko",
    synced: bool = True,
) -> Booking:
    """Book ``start``; ``synced``: the sync that follows Yoyaku's write has run (queued after commit)."""
    booking = book_meeting(
        link=host.owned_links.get(),
        start=start,
        duration=30,
        time_zone="Europe/Berlin",
        first_name=first_name,
        last_name="Sato",
        email=email,
    ).booking
    run_calendar_writes()
    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.WRITTEN, booking.calendar_error
    if synced:
        sync_now(connection_of(host))
    return booking


def connection_of(host: User) -> CalendarConnection:
    return CalendarConnection.objects.get(user=host)


def offered(host: User, start: datetime) -> bool:
    by_day, _data = slots(host.owned_links.get().slug, start.date())
    return f"{start:%H:%M}" in by_day.get(start.date().isoformat(), [])


def google_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).isoformat().replace("+00:00", "Z")}


def assert_moved(booking: Booking, start: datetime) -> None:
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert (booking.start, booking.end) == (start, start + timedelta(minutes=30))
    assert booking.calendar_write == CalendarWrite.WRITTEN, "nothing is written back"
    [reservation] = Reservation.objects.filter(booking=booking, active=True)
    # The page's buffers (10 before, 5 after) stay around the new time.
    assert reservation.start == start - timedelta(minutes=10)
    assert reservation.end == start + timedelta(minutes=35)
    meeting = Meeting.objects.get(pk=booking.meeting_id)
    assert (meeting.start, meeting.end) == (booking.start, booking.end)
    assert meeting.outcome == MeetingOutcome.SCHEDULED


def assert_cancelled_by_calendar(booking: Booking) -> None:
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancelled_by == "calendar"
    assert booking.calendar_write == CalendarWrite.CANCELLED, "nothing is written back"
    assert not Reservation.objects.filter(booking=booking, active=True).exists()
    assert Meeting.objects.get(pk=booking.meeting_id).outcome == MeetingOutcome.CANCELLED


# -- Google ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("connected_google")
def test_google_a_moved_event_moves_the_booking_its_reservation_and_its_crm_meeting(
    host: User, google: GoogleEmulator
) -> None:
    day = future_day()
    booking = book(host, berlin(day, 11))
    send_queued_mail()  # the booking's own mail, before the change's
    mail.outbox.clear()

    google.update_event(
        GOOGLE_EMAIL,
        booking.calendar_event_id,
        {"start": google_time(berlin(day, 14)), "end": google_time(berlin(day, 14, 30))},
    )
    sync_now(connection_of(host))

    assert_moved(booking, berlin(day, 14))
    assert offered(host, berlin(day, 11)), "the old time is free again"
    assert not offered(host, berlin(day, 14))
    send_queued_mail()
    assert [m for m in mail.outbox if "aiko@example.com" in m.to] == [], "Google tells the booker itself"


@pytest.mark.parametrize("synced", [True, False], ids=["seen", "never-seen"])
@pytest.mark.usefixtures("connected_google")
def test_google_a_deleted_event_cancels_the_booking(host: User, google: GoogleEmulator, synced: bool) -> None:
    """Also when the host deleted it before any sync read it: Google still reports the deletion."""
    day = future_day()
    booking = book(host, berlin(day, 11), synced=synced)
    assert not offered(host, berlin(day, 11))
    send_queued_mail()  # the booking's own mail, before the change's
    mail.outbox.clear()

    google.delete_event(GOOGLE_EMAIL, booking.calendar_event_id)
    sync_now(connection_of(host))

    assert_cancelled_by_calendar(booking)
    assert offered(host, berlin(day, 11))
    send_queued_mail()
    assert mail.outbox == [], "Google mails the attendees itself"


@pytest.mark.usefixtures("connected_google")
def test_google_a_declined_invitation_shows_but_keeps_the_booking(host: User, google: GoogleEmulator) -> None:
    booking = book(host, berlin(future_day(), 11))

    google.update_event(
        GOOGLE_EMAIL,
        booking.calendar_event_id,
        {"attendees": [{"email": "aiko@example.com", "responseStatus": "declined"}]},
    )
    sync_now(connection_of(host))

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED, "the host decides"
    assert booking.attendee_responses["aiko@example.com"] == "declined"
    assert Meeting.objects.get(pk=booking.meeting_id).attendee_responses["aiko@example.com"] == "declined"


@pytest.mark.postgres
@pytest.mark.usefixtures("connected_google")
def test_google_a_move_onto_another_booking_is_recorded_not_double_booked(
    host: User, google: GoogleEmulator
) -> None:
    day = future_day()
    first = book(host, berlin(day, 11))
    other = book(host, berlin(day, 14), email="ken@example.com", first_name="Ken")

    google.update_event(
        GOOGLE_EMAIL,
        first.calendar_event_id,
        {"start": google_time(berlin(day, 14)), "end": google_time(berlin(day, 14, 30))},
    )
    sync_now(connection_of(host))

    first.refresh_from_db()
    assert (first.start, first.calendar_write) == (berlin(day, 11), CalendarWrite.WRITTEN), "keeps its time"
    assert (first.calendar_conflict_start, first.calendar_conflict_with_id) == (berlin(day, 14), other.pk)
    [kept] = Reservation.objects.filter(booking=first, active=True)
    assert kept.start == berlin(day, 11) - timedelta(minutes=10)
    assert not offered(host, berlin(day, 11)) and not offered(host, berlin(day, 14))

    # Moved again to a free time on the calendar: followed, and the conflict is gone.
    google.update_event(
        GOOGLE_EMAIL,
        first.calendar_event_id,
        {"start": google_time(berlin(day, 16)), "end": google_time(berlin(day, 16, 30))},
    )
    sync_now(connection_of(host))
    assert_moved(first, berlin(day, 16))
    assert first.calendar_conflict_start is None and first.calendar_conflict_with_id is None


@pytest.mark.usefixtures("connected_google")
def test_google_moving_a_conflicted_meeting_in_yoyaku_settles_the_conflict(
    host: User, google: GoogleEmulator
) -> None:
    day = future_day()
    first = book(host, berlin(day, 11))
    book(host, berlin(day, 14), email="ken@example.com", first_name="Ken")
    google.update_event(
        GOOGLE_EMAIL,
        first.calendar_event_id,
        {"start": google_time(berlin(day, 14)), "end": google_time(berlin(day, 14, 30))},
    )
    sync_now(connection_of(host))
    first.refresh_from_db()
    assert first.calendar_conflict_start is not None

    reschedule_booking(booking=first, start=berlin(day, 16))
    run_calendar_writes()
    sync_now(connection_of(host))

    assert_moved(first, berlin(day, 16))
    assert first.calendar_conflict_start is None
    written = google.event(GOOGLE_EMAIL, first.calendar_event_id)
    assert written is not None
    assert datetime.fromisoformat(written["start"]["dateTime"].replace("Z", "+00:00")) == berlin(day, 16)


@pytest.mark.usefixtures("connected_google")
def test_google_our_pending_move_is_not_undone_by_a_sync_that_sees_the_old_time(
    host: User, google: GoogleEmulator
) -> None:
    day = future_day()
    booking = book(host, berlin(day, 11))
    # The update of the event fails: the calendar still has 11:00, Yoyaku has 15:00, pending.
    google.add_fault(status=503, count=10, method="PATCH")
    google.add_fault(status=503, count=10, method="PUT")
    reschedule_booking(booking=booking, start=berlin(day, 15))
    booking.refresh_from_db()
    assert booking.calendar_write == CalendarWrite.PENDING
    google.faults.clear()

    # The host also edits the event (its title): the sync sees it, with the old time.
    google.update_event(GOOGLE_EMAIL, booking.calendar_event_id, {"summary": "Renamed"})
    sync_now(connection_of(host))

    booking.refresh_from_db()
    assert booking.start == berlin(day, 15)
    assert Reservation.objects.get(booking=booking, active=True).start == berlin(day, 15) - timedelta(
        minutes=10
    )


@pytest.mark.usefixtures("connected_google")
def test_google_a_full_resync_keeps_every_link(host: User, google: GoogleEmulator) -> None:
    day = future_day()
    booking = book(host, berlin(day, 11))

    google.expire_sync_tokens()
    sync_now(connection_of(host))

    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.start == berlin(day, 11)
    assert Reservation.objects.filter(booking=booking, active=True).exists()


# -- Microsoft 365 ---------------------------------------------------------------------------


@pytest.mark.usefixtures("connected_microsoft")
def test_microsoft_a_moved_event_moves_the_booking(host: User, microsoft: MicrosoftEmulator) -> None:
    day = future_day()
    booking = book(host, berlin(day, 11))

    microsoft.update_event(
        booking.calendar_event_id,
        start={"dateTime": berlin(day, 13).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        end={
            "dateTime": berlin(day, 13, 30).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "timeZone": "UTC",
        },
    )
    sync_now(connection_of(host))

    assert_moved(booking, berlin(day, 13))
    assert offered(host, berlin(day, 11))
    assert not offered(host, berlin(day, 13))


@pytest.mark.usefixtures("connected_microsoft")
def test_microsoft_a_deleted_event_cancels_the_booking_and_answers_show(
    host: User, microsoft: MicrosoftEmulator
) -> None:
    day = future_day()
    answered = book(host, berlin(day, 11))
    deleted = book(host, berlin(day, 14), email="ken@example.com", first_name="Ken")

    microsoft.set_attendee_response(answered.calendar_event_id, "aiko@example.com", "tentativelyAccepted")
    microsoft.delete_event(deleted.calendar_event_id)
    sync_now(connection_of(host))

    answered.refresh_from_db()
    assert answered.attendee_responses.get("aiko@example.com") == "tentative"
    assert_cancelled_by_calendar(deleted)
    assert offered(host, berlin(day, 14))


@pytest.mark.usefixtures("connected_microsoft")
def test_microsoft_a_cancelled_event_cancels_the_booking(host: User, microsoft: MicrosoftEmulator) -> None:
    booking = book(host, berlin(future_day(), 11))

    microsoft.update_event(booking.calendar_event_id, isCancelled=True)
    sync_now(connection_of(host))

    assert_cancelled_by_calendar(booking)


# -- CalDAV (Radicale and Xandikos) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def xandikos() -> Iterator[XandikosServer]:
    with XandikosServer() as server:
        yield server


@pytest.fixture(params=["radicale", "xandikos"])
def dav(request: pytest.FixtureRequest) -> RadicaleServer:
    """Each of two independent CalDAV servers (the same surface; typed as the first)."""
    server: RadicaleServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture
def caldav_host(dav: RadicaleServer) -> Iterator[tuple[User, str]]:
    user = make_host("kaito")
    make_link(user, slug="kaito", buffer_before_minutes=10, buffer_after_minutes=5)
    _connection, url = connect(user, dav)
    yield user, url


def dav_client(server: RadicaleServer) -> httpx.Client:
    return httpx.Client(auth=(server.username, server.password), timeout=10.0)


def put_event(server: RadicaleServer, booking: Booking, url: str, **changes: Any) -> None:
    """Change the booking's event on the server, as the host's own client would (a PUT of the object)."""
    target = urljoin(url, booking.calendar_event_id)
    with dav_client(server) as client:
        response = client.get(target)
    assert response.status_code == 200, response.text
    calendar = icalendar.Calendar.from_ical(response.text)
    [event] = [c for c in calendar.walk("VEVENT")]
    for name, value in changes.items():
        event.pop(name, None)
        event.add(name, value)
    event.pop("SEQUENCE", None)
    event.add("SEQUENCE", 5)
    with dav_client(server) as client:
        put = client.put(target, content=calendar.to_ical(), headers={"Content-Type": "text/calendar"})
    assert put.status_code in (201, 204), put.text


def test_caldav_a_moved_event_moves_the_booking_and_mails_the_booker(
    caldav_host: tuple[User, str], dav: RadicaleServer, django_capture_on_commit_callbacks: Any
) -> None:
    host, url = caldav_host
    day = future_day()
    booking = book(host, berlin(day, 11))
    send_queued_mail()  # the booking's own mail, before the change's
    mail.outbox.clear()

    put_event(dav, booking, url, DTSTART=berlin(day, 15), DTEND=berlin(day, 15, 30))
    with django_capture_on_commit_callbacks(execute=True):
        sync_now(connection_of(host))

    assert_moved(booking, berlin(day, 15))
    assert offered(host, berlin(day, 11)) and not offered(host, berlin(day, 15))
    [(message, update)] = invitations("REQUEST")
    assert message.to == ["aiko@example.com"]
    [event] = list(update.walk("VEVENT"))
    assert event.decoded("DTSTART") == berlin(day, 15)
    assert int(event["SEQUENCE"]) >= 5, "at least the server's, or the booker's client ignores it"


def test_caldav_the_mail_about_a_move_is_queued_with_it(
    caldav_host: tuple[User, str], dav: RadicaleServer
) -> None:
    """A worker that dies once the sync page commits (no after-commit work runs) loses no mail:
    the update is queued in the page's transaction, with the SEQUENCE the sync stored."""
    host, url = caldav_host
    day = future_day()
    booking = book(host, berlin(day, 11))
    send_queued_mail()
    mail.outbox.clear()

    put_event(dav, booking, url, DTSTART=berlin(day, 15), DTEND=berlin(day, 15, 30))
    sync_now(connection_of(host))  # after-commit callbacks never run in this test's transaction

    assert_moved(booking, berlin(day, 15))
    stored = SyncedEvent.objects.get(connection=connection_of(host), event_id=booking.calendar_event_id)
    assert stored.sequence == 5
    assert OutgoingMail.objects.filter(status=MailStatus.PENDING).count() == 1
    send_queued_mail()
    [(message, update)] = invitations("REQUEST")
    assert message.to == ["aiko@example.com"]
    [event] = list(update.walk("VEVENT"))
    assert event.decoded("DTSTART") == berlin(day, 15)
    assert int(event["SEQUENCE"]) == 5


def test_caldav_a_mail_that_cannot_be_queued_leaves_the_move_standing(
    caldav_host: tuple[User, str],
    dav: RadicaleServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The mail is queued in a savepoint of its own: its failure is logged and undoes nothing else."""
    host, url = caldav_host
    day = future_day()
    booking = book(host, berlin(day, 11))
    send_queued_mail()

    def broken(**kwargs: Any) -> None:
        OutgoingMail.objects.create(message={"subject": "half written"})  # rolled back with its savepoint
        raise RuntimeError("mail template broken")

    monkeypatch.setattr(calendar_changes, "send_update", broken)
    put_event(dav, booking, url, DTSTART=berlin(day, 15), DTEND=berlin(day, 15, 30))
    sync_now(connection_of(host))

    assert_moved(booking, berlin(day, 15))
    assert not OutgoingMail.objects.filter(status=MailStatus.PENDING).exists()
    assert "Mail about calendar event" in caplog.text


def test_caldav_a_deleted_event_cancels_the_booking_and_mails_the_booker(
    caldav_host: tuple[User, str], dav: RadicaleServer, django_capture_on_commit_callbacks: Any
) -> None:
    host, url = caldav_host
    day = future_day()
    booking = book(host, berlin(day, 11))
    send_queued_mail()  # the booking's own mail, before the change's
    mail.outbox.clear()

    with dav_client(dav) as client:
        deleted = client.delete(urljoin(url, booking.calendar_event_id))
    assert deleted.status_code in (200, 204)
    with django_capture_on_commit_callbacks(execute=True):
        sync_now(connection_of(host))

    assert_cancelled_by_calendar(booking)
    assert offered(host, berlin(day, 11))
    [(message, cancel)] = invitations("CANCEL")
    assert message.to == ["aiko@example.com"]
    assert str(next(iter(cancel.walk("VEVENT")))["UID"]) == f"yoyaku-{booking.pk}"
    assert "cancelled" in message.body


def test_caldav_status_cancelled_cancels_and_a_declined_booker_shows(
    caldav_host: tuple[User, str], dav: RadicaleServer, django_capture_on_commit_callbacks: Any
) -> None:
    host, url = caldav_host
    day = future_day()
    cancelled = book(host, berlin(day, 11))
    declined = book(host, berlin(day, 14), email="ken@example.com", first_name="Ken")

    put_event(dav, cancelled, url, STATUS="CANCELLED")
    attendee = icalendar.vCalAddress("mailto:ken@example.com")
    attendee.params["PARTSTAT"] = icalendar.vText("DECLINED")
    put_event(dav, declined, url, ATTENDEE=attendee)
    with django_capture_on_commit_callbacks(execute=True):
        sync_now(connection_of(host))

    assert_cancelled_by_calendar(cancelled)
    declined.refresh_from_db()
    assert declined.status == BookingStatus.CONFIRMED
    assert declined.attendee_responses["ken@example.com"] == "declined"


# -- what the host sees ----------------------------------------------------------------------


@pytest.mark.usefixtures("connected_google")
def test_a_conflict_a_decline_and_a_cancellation_show_in_the_api_the_dashboard_and_the_crm(
    host: User, google: GoogleEmulator
) -> None:
    day = future_day()
    moved = book(host, berlin(day, 11))
    other = book(host, berlin(day, 14), email="ken@example.com", first_name="Ken")
    gone = book(host, berlin(day, 16), email="mio@example.com", first_name="Mio")
    google.update_event(
        GOOGLE_EMAIL,
        moved.calendar_event_id,
        {"start": google_time(berlin(day, 14)), "end": google_time(berlin(day, 14, 30))},
    )
    google.update_event(
        GOOGLE_EMAIL,
        other.calendar_event_id,
        {"attendees": [{"email": "ken@example.com", "responseStatus": "declined"}]},
    )
    google.delete_event(GOOGLE_EMAIL, gone.calendar_event_id)
    sync_now(connection_of(host))

    api = Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})
    listed = api.get("/api/v1/me/bookings", {"include_cancelled": "true"})
    assert listed.status_code == 200, listed.content
    by_id = {row["id"]: row for row in listed.json()}
    conflict = by_id[str(moved.pk)]["calendar_conflict"]
    assert conflict["with_booking_id"] == str(other.pk)
    assert datetime.fromisoformat(conflict["start"]) == berlin(day, 14)
    assert "collides with your meeting with Ken Sato" in conflict["message"]
    assert by_id[str(other.pk)]["booker_response"] == "declined"
    assert by_id[str(other.pk)]["calendar_conflict"] is None
    assert by_id[str(gone.pk)]["cancelled_by"] == "calendar"
    schema = api.get("/api/v1/openapi.json").json()["components"]["schemas"]["HostBookingOut"]
    assert {"calendar_conflict", "booker_response", "attendee_responses", "cancelled_by"} <= set(
        schema["properties"]
    )

    crm = api.get(f"/api/v1/crm/meetings/{other.meeting_id}").json()
    assert [(c["email"], c["response"]) for c in crm["contacts"]] == [("ken@example.com", "declined")]

    web = Client()
    web.force_login(host)
    page = web.get("/dashboard/").content.decode()
    assert "collides with your meeting with Ken Sato" in page
    assert "Ken Sato declined the invitation in their calendar" in page
    assert f'id="calendar-cancelled-{gone.pk}"' in page
    japanese = web.get("/dashboard/", headers={"accept-language": "ja"}).content.decode()
    assert "二重予約を防ぐため" in japanese
    assert "さんがカレンダーで招待を辞退しました" in japanese
    detail = web.get(f"/crm/meetings/{other.meeting_id}/").content.decode()
    assert 'data-response="declined"' in detail
