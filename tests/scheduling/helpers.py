"""Helpers for booking tests against a real CalDAV server (Radicale)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from django.core import mail
from django.db import transaction

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import connect_caldav, run_calendar_writes, send_queued_mail, sync_now
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.calendar_sync.models import CalendarOutboxEntry, OutboxOperation, OutboxTarget
from yoyaku.calendar_sync.outbox import record_calendar_write
from yoyaku.calendars.base import RemoteEvent
from yoyaku.calendars.caldav import CalDAVAdapter
from yoyaku.scheduling.models import Booking, MeetingLink
from yoyaku.scheduling.services import BookingOutcome, book_meeting

LOOPBACK = ["127.0.0.0/8"]
HOST_ZONE = "Europe/Berlin"
# "Now" for every booking: a Monday morning; the days booked are that week.
NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
TUESDAY = date(2027, 3, 2)
WEDNESDAY = date(2027, 3, 3)


def berlin(hour: int, minute: int = 0, *, day: date = TUESDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(HOST_ZONE))


def connect(
    user: User, radicale: RadicaleServer, *, base_url: str | None = None, sync: bool = True
) -> tuple[CalendarConnection, str]:
    """Give ``user`` a fresh calendar of their own on the shared Radicale; returns it and its URL.

    ``base_url`` reaches the same server another way (through a switch that can cut it off).
    ``sync``: run the first sync, as connecting does in the background (pages read only its result).
    """
    path = radicale.ensure_calendar(f"{user.username}-{uuid.uuid4().hex[:10]}").removeprefix(radicale.url)
    url = (base_url or radicale.url) + path
    connection = connect_caldav(
        user,
        server_url=base_url or radicale.url,
        username=radicale.username,
        password=radicale.password,
        calendar_url=url,
    )
    if sync:
        sync_now(connection)
    return connection, url


def add_event(radicale: RadicaleServer, calendar_url: str, *, start: datetime, end: datetime) -> str:
    """Put an ordinary busy event straight on the calendar, as the host's own client would."""
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Yoyaku tests//EN")
    calendar.add("VERSION", "2.0")
    event = icalendar.Event()
    uid = f"{uuid.uuid4()}@client.test"
    event.add("UID", uid)
    event.add("DTSTAMP", datetime.now(UTC))
    event.add("DTSTART", start.astimezone(UTC))
    event.add("DTEND", end.astimezone(UTC))
    event.add("SUMMARY", "Dentist")
    calendar.add_component(event)
    # Seed through the server's own URL: the calendar may be reached through a switch.
    path = calendar_url.split("/", 3)[3]
    radicale.seed(radicale.url + path, [calendar.to_ical()])
    return uid


def events_on(radicale: RadicaleServer, calendar_url: str) -> list[RemoteEvent]:
    """Every event on the calendar, read back with the CalDAV adapter (cancelled ones included)."""
    path = calendar_url.split("/", 3)[3]
    with CalDAVAdapter(
        url=radicale.url,
        username=radicale.username,
        password=radicale.password,
        time_zone=HOST_ZONE,
        calendar_url=radicale.url + path,
        allowed_networks=LOOPBACK,
    ) as adapter:
        return adapter.sync(token=None).changed


def book(
    link: MeetingLink, start: datetime, *, email: str = "aiko@example.com", **kwargs: Any
) -> BookingOutcome:
    """Book, then let the calendar worker write the event (``book_meeting`` itself only records it)."""
    kwargs.setdefault("duration", 30)
    kwargs.setdefault("time_zone", "Asia/Tokyo")
    kwargs.setdefault("first_name", "Aiko")
    kwargs.setdefault("last_name", "Sato")
    kwargs.setdefault("now", NOW)
    outcome = book_meeting(link=link, start=start, email=email, **kwargs)
    run_calendar_writes()  # the worker, as it runs once the booking commits
    outcome.booking.refresh_from_db()
    return outcome


def invitations(method: str) -> list[tuple[mail.EmailMultiAlternatives, icalendar.Calendar]]:
    """Mails sent carrying an iTIP ``method`` object, with the object parsed."""
    send_queued_mail()
    found = []
    for message in mail.outbox:
        for content, mimetype in getattr(message, "alternatives", []):
            if mimetype.startswith("text/calendar") and f"method={method}" in mimetype:
                found.append((message, icalendar.Calendar.from_ical(content)))
    return found


def calendar_mails() -> list[mail.EmailMessage]:
    send_queued_mail()
    return [
        m
        for m in mail.outbox
        if any(t.startswith("text/calendar") for _c, t in getattr(m, "alternatives", []))
        or any("ics" in str(a) for a in m.attachments)
    ]


def outbox_entry(booking: Booking) -> CalendarOutboxEntry:
    """The booking's row in the calendar outbox (there is one while its calendar write is owed)."""
    return CalendarOutboxEntry.objects.get(target=OutboxTarget.BOOKING, target_id=str(booking.pk))


def queue_again(booking: Booking, operation: OutboxOperation = OutboxOperation.CREATE) -> int:
    """An outbox row for a booking a test put back to pending, as the change would have recorded it."""
    with transaction.atomic():
        return record_calendar_write(
            target=OutboxTarget.BOOKING,
            target_id=str(booking.pk),
            host_id=booking.assigned_host_id,
            operation=operation,
        )
