"""iCalendar objects for events Yoyaku writes.

One builder serves two uses: the calendar object resource stored with a CalDAV
PUT (no METHOD, RFC 4791 §4.1) and the iTIP message mailed as an invitation or
cancellation (METHOD:REQUEST / METHOD:CANCEL, RFC 5546 §3.2.2 and §3.2.5).
Times are written in UTC, which every client understands without a VTIMEZONE.
"""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar

from yoyaku.calendars.base import EventDraft

PRODID = "-//Yoyaku//Yoyaku Scheduler//EN"
_METHODS = ("REQUEST", "CANCEL", "PUBLISH")
_STATUSES = ("CONFIRMED", "TENTATIVE", "CANCELLED")


def event_to_ical(
    *,
    draft: EventDraft,
    method: str | None = None,
    sequence: int = 0,
    status: str = "CONFIRMED",
    now: datetime | None = None,
    client_schedules: bool = False,
) -> bytes:
    """Serialise ``draft`` as a VCALENDAR holding one VEVENT.

    ``sequence`` must grow with every significant change (RFC 5545 §3.8.7.4)
    so attendees' clients replace their copy instead of ignoring the update.
    A CANCEL message always carries STATUS:CANCELLED (RFC 5546 §3.2.5).

    ``client_schedules`` marks the organizer and every attendee
    ``SCHEDULE-AGENT=CLIENT`` (RFC 6638 §7.1): Yoyaku mails the iTIP messages
    itself, so a server doing implicit scheduling must not mail them too.
    Only for the stored object: the parameter is for the server, never part
    of an iTIP message.
    """
    if draft.start.tzinfo is None or draft.end.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    if draft.end <= draft.start:
        raise ValueError("the event must end after it starts")
    method = method.upper() if method else None
    if method is not None and method not in _METHODS:
        raise ValueError(f"unsupported iTIP method {method!r}")
    if method == "CANCEL":
        status = "CANCELLED"
    status = status.upper()
    if status not in _STATUSES:
        raise ValueError(f"unsupported event status {status!r}")
    if method in ("REQUEST", "CANCEL") and not draft.organizer_email:
        # RFC 5546 §3.2.2/§3.2.5: ORGANIZER is required in REQUEST and CANCEL.
        raise ValueError("an invitation needs an organizer e-mail address")
    if client_schedules and method is not None:
        raise ValueError("SCHEDULE-AGENT belongs on the stored object, not in an iTIP message")

    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    if method:
        calendar.add("METHOD", method)

    event = icalendar.Event()
    event.add("UID", draft.uid)
    event.add("DTSTAMP", (now or datetime.now(UTC)).astimezone(UTC))
    event.add("DTSTART", draft.start.astimezone(UTC))
    event.add("DTEND", draft.end.astimezone(UTC))
    event.add("SEQUENCE", sequence)
    event.add("STATUS", status)
    event.add("SUMMARY", draft.title)
    if draft.description:
        event.add("DESCRIPTION", draft.description)
    if draft.location:
        event.add("LOCATION", draft.location)
    # Opaque: the booked meeting blocks the host's time (RFC 5545 §3.8.2.7).
    event.add("TRANSP", "OPAQUE")
    if draft.organizer_email:
        organizer = icalendar.vCalAddress(f"mailto:{draft.organizer_email}")
        if draft.organizer_name:
            organizer.params["CN"] = draft.organizer_name
        if client_schedules:
            organizer.params["SCHEDULE-AGENT"] = "CLIENT"
        event.add("ORGANIZER", organizer)
    for attendee in draft.attendees:
        address = icalendar.vCalAddress(f"mailto:{attendee.email}")
        if attendee.name:
            address.params["CN"] = attendee.name
        address.params["ROLE"] = "REQ-PARTICIPANT"
        address.params["PARTSTAT"] = "NEEDS-ACTION"
        address.params["RSVP"] = "TRUE"
        if client_schedules:
            address.params["SCHEDULE-AGENT"] = "CLIENT"
        event.add("ATTENDEE", address)
    calendar.add_component(event)
    return bytes(calendar.to_ical())
