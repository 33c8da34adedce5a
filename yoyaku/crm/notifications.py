"""iMIP mail (RFC 6047) to the contacts of a meeting made in the CRM on a CalDAV calendar.

A plain CalDAV server does not invite attendees (no RFC 6638 scheduling), so Yoyaku mails the
iTIP REQUEST, its updates (same UID, higher SEQUENCE) and the CANCEL itself, as it does for
bookings. The text is in the host's language: the host is the one writing to their contacts.
"""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import translation
from django.utils.translation import gettext as _

from yoyaku.calendars.base import EventDraft
from yoyaku.calendars.ical_build import event_to_ical
from yoyaku.crm.models import Meeting
from yoyaku.crm.selectors import meeting_host
from yoyaku.formatting import format_when_zoned
from yoyaku.mail.services import queue_mail

Kind = Literal["invitation", "update", "cancellation"]


def send_meeting_mail(*, meeting: Meeting, draft: EventDraft, kind: Kind, sequence: int = 0) -> None:
    """Queue a mail to every contact of the meeting with the iCalendar object for ``kind``."""
    host = meeting_host(meeting=meeting)
    recipients = [a.email for a in draft.attendees if a.email]
    if host is None or not recipients:
        return
    with translation.override(host.language or settings.LANGUAGE_CODE):
        names = {
            "title": draft.title,
            "host": host.display_name,
            "when": format_when_zoned(draft.start, draft.end, host.time_zone),
        }
        if kind == "invitation":
            subject = _("Invitation: %(title)s") % names
            body = _("%(host)s invites you to “%(title)s” on %(when)s.") % names
        elif kind == "update":
            subject = _("Updated invitation: %(title)s") % names
            body = _("%(host)s changed “%(title)s”: it is now on %(when)s.") % names
        else:
            subject = _("Cancelled: %(title)s") % names
            body = _("%(host)s cancelled “%(title)s” on %(when)s.") % names
        if draft.location and kind != "cancellation":
            body += "\n\n" + _("Location: %(location)s") % {"location": draft.location}
        if draft.description and kind != "cancellation":
            body += "\n\n" + draft.description
    method = "CANCEL" if kind == "cancellation" else "REQUEST"
    ical = event_to_ical(
        draft=draft,
        method=method,
        sequence=sequence,
        status="CANCELLED" if kind == "cancellation" else "CONFIRMED",
    )
    message = EmailMultiAlternatives(
        subject=subject, body=body, to=recipients, reply_to=[host.email] if host.email else None
    )
    # RFC 6047 §2.4: the iCalendar object travels as text/calendar with its METHOD.
    message.attach_alternative(ical.decode(), f"text/calendar; method={method}; charset=UTF-8")
    message.attach("invite.ics", ical, "application/ics")
    queue_mail(message)
