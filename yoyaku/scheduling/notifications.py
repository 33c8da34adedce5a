"""Emails to bookers: iMIP invitations and cancellations (RFC 6047), in the booker's page language."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import translation
from django.utils.translation import gettext as _

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


def _booker_language(booking: Booking) -> str:
    return booking.language or settings.LANGUAGE_CODE


def send_invitation(*, booking: Booking, draft: EventDraft) -> None:
    # In the language of the page the booker used, whatever language is active where this runs
    # (a host's request, a background retry).
    with translation.override(_booker_language(booking)):
        # Told in the booker's zone, which the text names (the iCalendar object carries UTC).
        when = draft.start.astimezone(ZoneInfo(booking.time_zone)).strftime("%Y-%m-%d %H:%M")
        body = _(
            "Hello %(name)s,\n\n"
            "your meeting “%(page)s” with %(host)s is booked for %(when)s (%(zone)s)."
        ) % {
            "name": booking.first_name,
            "page": booking.link.name,
            "host": booking.assigned_host.display_name,
            "when": when,
            "zone": booking.time_zone,
        }
        if draft.location:
            body += "\n\n" + _("Location: %(location)s") % {"location": draft.location}
        body += "\n\n" + _("The attached invitation adds it to your calendar.")
        _send(
            booking=booking,
            draft=draft,
            subject=_("Invitation: %(title)s") % {"title": draft.title},
            body=body,
            ical=event_to_ical(draft=draft, method="REQUEST"),
            method="REQUEST",
        )


def send_cancellation(*, booking: Booking, draft: EventDraft) -> None:
    with translation.override(_booker_language(booking)):
        body = _("Hello %(name)s,\n\nthe meeting “%(page)s” was cancelled.") % {
            "name": booking.first_name,
            "page": booking.link.name,
        }
        _send(
            booking=booking,
            draft=draft,
            subject=_("Cancelled: %(title)s") % {"title": draft.title},
            body=body,
            ical=event_to_ical(draft=draft, method="CANCEL", sequence=1, status="CANCELLED"),
            method="CANCEL",
        )
