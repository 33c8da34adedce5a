"""How an event blocks the host's time: one rule for every provider.

Each adapter translates its provider's vocabulary into :class:`EventFacts`
(Google's ``eventType``/``transparency``/attendee ``self``, Graph's
``showAs``/``responseStatus``, EWS's ``LegacyFreeBusyStatus``/``MyResponseType``,
iCalendar's ``TRANSP``/``STATUS``/``PARTSTAT``/``X-MICROSOFT-CDO-BUSYSTATUS``)
and asks :func:`busy_status`. The table in docs/architecture.md ("Busy time
rules") is this function in words; change both together.

Why these rules (what a person who books with a scheduler expects):

- cancelled, or declined by the host: the host will not be there, so the time is free.
- working elsewhere (Google ``workingLocation``, Outlook "working elsewhere"):
  a note of where the host works that day, not an appointment; the host is
  working and bookable. Google itself creates these events transparent.
- out of office: busy ("oof"), whatever its transparency, and never left free
  by the "tentative" setting: the host is away.
- explicitly shown as free (``transparent``, "show as free"): the host said so.
- focus time: busy; the host asked for the time to be protected.
- an invitation the host has not answered yet: tentative, so it follows the
  host's "tentative events block time" setting. Providers disagreed (Google
  and CalDAV servers report it busy, Graph and EWS tentative); it is not yet
  a commitment, and the host decides with that setting whether it should be
  treated as one.
- tentative (the host's answer, or the event's own status/show-as): tentative.
- anything else, and any value we do not know: busy (fail closed).

Pure: no I/O, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from yoyaku.calendars.base import BusyStatus

EventKind = Literal["default", "working_elsewhere", "out_of_office", "focus_time"]
ShowAs = Literal["busy", "tentative", "free", "oof", "working_elsewhere", "unknown"]
Response = Literal["none", "organizer", "accepted", "tentative", "declined", "needs_action"]


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What the provider says about one event, in the providers' common vocabulary.

    ``show_as`` is the provider's explicit "show as" (Graph ``showAs``, EWS
    ``LegacyFreeBusyStatus``, iCalendar ``X-MICROSOFT-CDO-BUSYSTATUS``), with
    ``free`` also standing for a transparent event. ``response`` is the host's
    own answer, found by the calendar owner's addresses; ``none`` when the host
    is not among the attendees.
    """

    cancelled: bool = False
    kind: EventKind = "default"
    show_as: ShowAs | None = None
    tentative: bool = False
    response: Response = "none"


def busy_status(facts: EventFacts) -> BusyStatus | None:
    """How the event blocks the host's time; None when it leaves the time free."""
    if facts.cancelled or facts.response == "declined":
        return None
    if facts.kind == "working_elsewhere" or facts.show_as == "working_elsewhere":
        return None
    if facts.kind == "out_of_office" or facts.show_as == "oof":
        return "oof"
    if facts.show_as == "free":
        return None
    if facts.kind == "focus_time":
        return "busy"
    if facts.response in ("needs_action", "tentative"):
        return "tentative"
    if facts.tentative or facts.show_as == "tentative":
        return "tentative"
    return "busy"


# Provider vocabularies, each mapped once here so the adapters share one table.

GRAPH_SHOW_AS: dict[str, ShowAs] = {
    "free": "free",
    "tentative": "tentative",
    "busy": "busy",
    "oof": "oof",
    "workingelsewhere": "working_elsewhere",
    "unknown": "unknown",
}
GRAPH_RESPONSE: dict[str, Response] = {
    "none": "none",
    "organizer": "organizer",
    "accepted": "accepted",
    "tentativelyaccepted": "tentative",
    "declined": "declined",
    "notresponded": "needs_action",
}
# EWS LegacyFreeBusyType (NoData: the server knows nothing, so busy).
EWS_SHOW_AS: dict[str, ShowAs] = {
    "free": "free",
    "tentative": "tentative",
    "busy": "busy",
    "oof": "oof",
    "workingelsewhere": "working_elsewhere",
    "nodata": "unknown",
}
# EWS ResponseTypeType.
EWS_RESPONSE: dict[str, Response] = {
    "unknown": "none",
    "organizer": "organizer",
    "tentative": "tentative",
    "accept": "accepted",
    "decline": "declined",
    "noresponsereceived": "needs_action",
}
# Google attendee responseStatus.
GOOGLE_RESPONSE: dict[str, Response] = {
    "needsAction": "needs_action",
    "declined": "declined",
    "tentative": "tentative",
    "accepted": "accepted",
}
GOOGLE_KIND: dict[str, EventKind] = {
    "workingLocation": "working_elsewhere",
    "outOfOffice": "out_of_office",
    "focusTime": "focus_time",
}
# iCalendar PARTSTAT (RFC 5545 §3.2.12; absent means NEEDS-ACTION).
ICAL_RESPONSE: dict[str, Response] = {
    "NEEDS-ACTION": "needs_action",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "DELEGATED": "declined",
}
# X-MICROSOFT-CDO-BUSYSTATUS as Outlook and Exchange write it into iCalendar.
ICAL_MS_SHOW_AS: dict[str, ShowAs] = {
    "FREE": "free",
    "TENTATIVE": "tentative",
    "BUSY": "busy",
    "OOF": "oof",
    "WORKINGELSEWHERE": "working_elsewhere",
}


def lookup(table: dict[str, ShowAs], value: object) -> ShowAs | None:
    """``table``'s entry for a provider value (case-insensitive); unknown values are ``unknown``."""
    if value is None or value == "":
        return None
    text = str(value)
    for key, mapped in table.items():
        if key.lower() == text.lower():
            return mapped
    return "unknown"


def response_of(table: dict[str, Response], value: object) -> Response:
    """The host's answer from a provider value; an unknown one counts as no answer given."""
    if value is None or value == "":
        return "none"
    text = str(value)
    for key, mapped in table.items():
        if key.lower() == text.lower():
            return mapped
    return "none"
