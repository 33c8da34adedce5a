"""Put bookings on the host's calendar.

The event's UID comes from the booking, so a retried write finds the event it
already made. A failed write never loses the booking: it is marked pending and
a background task retries it.
"""

from __future__ import annotations

import logging
from typing import Literal

from django.db import transaction
from django.utils.translation import gettext as _

from yoyaku.accounts.busy import forget_busy
from yoyaku.accounts.calendar_registry import adapter_for
from yoyaku.accounts.models import Provider
from yoyaku.accounts.selectors import meetings_connection
from yoyaku.calendars.base import Attendee, CalendarError, CalendarOperationNotSupported, EventDraft
from yoyaku.scheduling.models import Booking, CalendarWrite, LinkKind

logger = logging.getLogger(__name__)


def booking_event_draft(*, booking: Booking) -> EventDraft:
    link = booking.link
    host = booking.assigned_host
    attendees = [Attendee(email=booking.email, name=f"{booking.first_name} {booking.last_name}")]
    if link.kind == LinkKind.GROUP:
        attendees += [
            Attendee(email=h.email, name=h.display_name) for h in link.hosts.exclude(pk=host.pk) if h.email
        ]
    answers = "\n".join(f"{k}: {v}" for k, v in booking.answers.items())
    description = f"Booked with Yoyaku on the page {link.name!r}." + (f"\n\n{answers}" if answers else "")
    assert booking.start is not None and booking.end is not None
    return EventDraft(
        uid=f"yoyaku-{booking.pk}",
        title=f"{link.name}: {booking.first_name} {booking.last_name}",
        start=booking.start,
        end=booking.end,
        time_zone=host.time_zone,
        description=description,
        location=link.location,
        organizer_email=host.email,
        organizer_name=host.display_name,
        attendees=tuple(attendees),
    )


def write_booking_event(*, booking: Booking, retry_on_failure: bool = True) -> bool:
    """Create the event; returns True when it is on the calendar."""
    connection = meetings_connection(user=booking.assigned_host)
    if connection is None:
        booking.calendar_write = CalendarWrite.NONE
        booking.save(update_fields=["calendar_write"])
        return False
    draft = booking_event_draft(booking=booking)
    try:
        event_id = adapter_for(connection).create_event(
            draft=draft, calendar_id=connection.write_calendar_id or None
        )
    except CalendarError as error:
        logger.warning("Calendar write for booking %s failed: %s", booking.pk, error)
        booking.calendar_write = CalendarWrite.PENDING if retry_on_failure else CalendarWrite.FAILED
        booking.calendar_error = str(error)[:500]
        booking.save(update_fields=["calendar_write", "calendar_error"])
        if retry_on_failure:
            from yoyaku.tasks.calendar import retry_booking_event

            transaction.on_commit(lambda: retry_booking_event(str(booking.pk)))
        return False
    booking.calendar_event_id = event_id
    booking.calendar_write = CalendarWrite.WRITTEN
    booking.calendar_error = ""
    booking.save(update_fields=["calendar_event_id", "calendar_write", "calendar_error"])
    if booking.meeting_id:
        booking.meeting.calendar_event_id = event_id  # type: ignore[union-attr]
        booking.meeting.save(update_fields=["calendar_event_id"])  # type: ignore[union-attr]
    forget_busy(connection=connection)
    if connection.provider == Provider.CALDAV:
        # Plain CalDAV servers (Radicale among them) do no RFC 6638 scheduling,
        # so the invitation goes out as iMIP mail (RFC 6047).
        from yoyaku.scheduling.notifications import send_invitation

        send_invitation(booking=booking, draft=draft)
    return True


def check_change_allowed(*, booking: Booking, change: Literal["cancel", "reschedule"]) -> None:
    """Refuse, before anything changes, what the host's calendar cannot take.

    Exchange calendars are one-way: Yoyaku adds meetings and nothing else, so a
    booking already on (or on its way to) an Exchange calendar is cancelled or
    moved in Outlook, never here, or Yoyaku and the calendar would disagree.
    """
    on_calendar = booking.calendar_write in (CalendarWrite.WRITTEN, CalendarWrite.PENDING)
    if not on_calendar and not booking.calendar_event_id:
        return
    connection = meetings_connection(user=booking.assigned_host)
    if connection is None or connection.provider != Provider.EXCHANGE:
        return
    if change == "cancel":
        message = _(
            "This meeting is on an Exchange calendar, which Yoyaku cannot change: "
            "cancel it in Outlook instead."
        )
    else:
        message = _(
            "This meeting is on an Exchange calendar, which Yoyaku cannot change: "
            "reschedule it in Outlook instead."
        )
    raise CalendarOperationNotSupported(message)


def cancel_booking_event(*, booking: Booking) -> None:
    connection = meetings_connection(user=booking.assigned_host)
    if connection is None or not booking.calendar_event_id:
        return
    try:
        adapter_for(connection).cancel_event(
            event_id=booking.calendar_event_id, calendar_id=connection.write_calendar_id or None
        )
    except CalendarOperationNotSupported:
        raise
    except CalendarError as error:
        logger.warning("Calendar cancel for booking %s failed: %s", booking.pk, error)
        return
    if connection.provider == Provider.CALDAV:
        from yoyaku.scheduling.notifications import send_cancellation

        send_cancellation(booking=booking, draft=booking_event_draft(booking=booking))
