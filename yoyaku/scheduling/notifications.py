"""Emails to bookers: iMIP invitations (RFC 6047) and request receipts."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from django.core.mail import EmailMultiAlternatives
from django.utils import translation

from yoyaku.calendars.base import EventDraft
from yoyaku.calendars.ical_build import event_to_ical
from yoyaku.scheduling.models import Booking

logger = logging.getLogger(__name__)


def _send(
    *, booking: Booking, draft: EventDraft, subject: str, body: str, ical: bytes | None, method: str
) -> None:
    host = booking.assigned_host
    # The other attendees (a group page's co-hosts) learn of it only this way:
    # a plain CalDAV server does not invite them.
    others = [a.email for a in draft.attendees if a.email.lower() != booking.email.lower()]
    message = EmailMultiAlternatives(
        subject=subject,
        body=body,
        to=[booking.email],
        cc=others or None,
        reply_to=[host.email] if host.email else None,
    )
    if ical is not None:
        # RFC 6047 §2.4: the iCalendar object travels as text/calendar with its METHOD.
        message.attach_alternative(ical.decode(), f"text/calendar; method={method}; charset=UTF-8")
        message.attach("invite.ics", ical, "application/ics")
    try:
        message.send()
    except OSError as error:  # the booking stands even if mail is down
        logger.warning("Could not send %s mail for booking %s: %s", method, booking.pk, error)


def send_invitation(*, booking: Booking, draft: EventDraft) -> None:
    with translation.override("en"):
        # Told in the booker's zone, which the text names (the iCalendar object carries UTC).
        when = draft.start.astimezone(ZoneInfo(booking.time_zone)).strftime("%Y-%m-%d %H:%M")
        body = (
            f"Hello {booking.first_name},\n\n"
            f"your meeting {booking.link.name!r} with {booking.assigned_host.display_name} is booked "
            f"for {when} ({booking.time_zone}).\n\n"
            + (f"Location: {draft.location}\n\n" if draft.location else "")
            + "The attached invitation adds it to your calendar."
        )
        _send(
            booking=booking,
            draft=draft,
            subject=f"Invitation: {draft.title}",
            body=body,
            ical=event_to_ical(draft=draft, method="REQUEST"),
            method="REQUEST",
        )


def send_cancellation(*, booking: Booking, draft: EventDraft) -> None:
    _send(
        booking=booking,
        draft=draft,
        subject=f"Cancelled: {draft.title}",
        body=f"Hello {booking.first_name},\n\nthe meeting {booking.link.name!r} was cancelled.",
        ical=event_to_ical(draft=draft, method="CANCEL", sequence=1, status="CANCELLED"),
        method="CANCEL",
    )
