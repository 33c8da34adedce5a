"""The booker's own links to move or cancel a meeting, and its "add to calendar" file.

A manage link carries a signed token (``django.core.signing`` with a salt of its own, so no other
signed value of the site can pass for one) bound to the booking's id and start. No sign-in: holding
the link is the permission, like holding the invitation. A token stops working once its booking is
cancelled, moved (the newer mails carry new links), no longer confirmed, or its time has passed;
every such token, like a forged one, resolves to nothing, and the API answers 404 without saying which.

The links are not offered for a meeting on an Exchange calendar: Yoyaku cannot change those
(``calendars/capabilities.py``), so the page and the mails say to reply to the host instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from yoyaku.accounts.models import Provider
from yoyaku.calendars.capabilities import capabilities
from yoyaku.calendars.google import google_event_id
from yoyaku.calendars.ical_build import event_to_ical
from yoyaku.scheduling.event_calendar import event_calendar_of
from yoyaku.scheduling.models import Booking, BookingStatus

SALT = "yoyaku.scheduling.manage-link"


class ChangeRefused(Exception):
    """The booker may not change this meeting (any more): the message says why and what to do."""


def manage_token(*, booking: Booking) -> str:
    """The token of ``booking``'s manage links: its id and its start, signed (URL-safe).

    The start is part of what is signed, so moving the meeting retires the links of the older time
    (the update mail, the updated event and the confirmation carry the new ones): a forwarded or
    leaked old mail cannot move the meeting again.
    """
    assert booking.start is not None
    return signing.Signer(salt=SALT).sign(f"{booking.pk.hex}.{int(booking.start.timestamp())}")


def booking_for_token(*, token: str, now: datetime | None = None) -> Booking | None:
    """The confirmed, still upcoming booking ``token`` was made for, at the time it was made for;
    None for anything else."""
    try:
        value = signing.Signer(salt=SALT).unsign(token)
    except signing.BadSignature:
        return None
    booking_hex, _, start = value.partition(".")
    booking = (
        Booking.objects.select_related("link", "link__owner", "assigned_host", "calendar_connection")
        .filter(pk=booking_hex)
        .first()
    )
    if booking is None or booking.status != BookingStatus.CONFIRMED or booking.start is None:
        return None
    if str(int(booking.start.timestamp())) != start or booking.start <= (now or timezone.now()):
        return None
    return booking


def links_refusal(*, booking: Booking) -> str:
    """Why ``booking`` gets no manage links ("" when it does): its event is on an Exchange calendar
    (the one it was written to, even when no longer connected; else the host's, where it goes)."""
    provider = event_calendar_of(booking=booking).provider
    if not provider:
        return ""
    allowed = capabilities(provider)
    if allowed.can_cancel and allowed.can_reschedule:
        return ""
    return _(
        "This meeting is on the host's Exchange calendar, which Yoyaku cannot change. "
        "To move or cancel it, reply to the invitation or write to the host."
    )


def notice_refusal(*, booking: Booking, now: datetime) -> str:
    """Why it is too late to change ``booking`` through its links ("" when it is not)."""
    minutes = booking.link.change_notice_minutes
    assert booking.start is not None
    if not minutes or booking.start - timedelta(minutes=minutes) > now:
        return ""
    hours, rest = divmod(minutes, 60)
    if rest == 0:
        notice = ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    else:
        notice = ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    return _(
        "This meeting can be changed here until %(notice)s before it starts. "
        "To change it now, reply to the invitation or write to the host."
    ) % {"notice": notice}


def change_refusal(*, booking: Booking, now: datetime) -> str:
    """Why the booker may not move or cancel ``booking`` now; "" when they may."""
    return links_refusal(booking=booking) or notice_refusal(booking=booking, now=now)


def check_booker_change(*, booking: Booking, now: datetime) -> None:
    refusal = change_refusal(booking=booking, now=now)
    if refusal:
        raise ChangeRefused(refusal)


def absolute(path: str) -> str:
    return settings.YOYAKU_BASE_URL.rstrip("/") + path


def manage_urls(*, booking: Booking) -> dict[str, str]:
    """The booker's reschedule and cancel pages (absolute); empty when links are not offered."""
    if booking.status != BookingStatus.CONFIRMED or links_refusal(booking=booking):
        return {}
    token = manage_token(booking=booking)
    urls = {
        "reschedule": absolute(reverse("manage-reschedule", kwargs={"token": token})),
        "cancel": absolute(reverse("manage-cancel", kwargs={"token": token})),
    }
    return urls


def booker_links(*, booking: Booking) -> dict[str, str]:
    """What the confirmation page offers: the manage links, the calendar file, or why there are none."""
    if booking.status != BookingStatus.CONFIRMED or booking.start is None:
        return {}
    note = links_refusal(booking=booking)
    urls = manage_urls(booking=booking)
    token = manage_token(booking=booking)
    has_file = invitation_uid(booking=booking) is not None
    return {
        "reschedule_url": urls.get("reschedule", ""),
        "cancel_url": urls.get("cancel", ""),
        "calendar_file_url": reverse("manage-ics", kwargs={"token": token}) if has_file else "",
        "change_note": note,
    }


def manage_text(*, booking: Booking) -> str:
    """The lines a mail or an event description carries about changing the meeting (translated)."""
    refusal = links_refusal(booking=booking)
    if refusal:
        return refusal
    urls = manage_urls(booking=booking)
    if not urls:
        return ""
    return "\n".join(
        [
            _("Need to change it?"),
            _("Reschedule: %(url)s") % {"url": urls["reschedule"]},
            _("Cancel: %(url)s") % {"url": urls["cancel"]},
        ]
    )


def cancel_by_booker(*, booking: Booking, reason: str, now: datetime) -> Booking:
    """Cancel through the manage link, keeping the booker's reason for the host."""
    from yoyaku.scheduling.services import cancel_booking

    check_booker_change(booking=booking, now=now)
    return cancel_booking(booking=booking, reason=reason, by_booker=True)


def reschedule_by_booker(*, booking: Booking, start: datetime, now: datetime) -> Booking:
    """Move the meeting through the manage link: the same length, host and checks as the host's move."""
    from yoyaku.scheduling.services import reschedule_booking

    check_booker_change(booking=booking, now=now)
    return reschedule_booking(booking=booking, start=start, now=now)


# -- add to calendar ------------------------------------------------------------------------


def invitation_uid(*, booking: Booking) -> str | None:
    """The UID of the invitation the booker receives for ``booking``, when Yoyaku knows it.

    The "add to calendar" file must carry that same UID so that the booker's calendar app merges
    the two into one entry (RFC 5545 §3.8.4.7: UID identifies the event). CalDAV: Yoyaku mails the
    invitation itself with the booking's UID. Google: the event id is derived from that UID, and
    Google's invitations carry ``<event id>@google.com``. Microsoft 365 and Exchange choose their own
    UID, which Yoyaku does not keep: a file with another UID would make a second entry, so none is
    offered there (the provider's invitation already adds the meeting).
    """
    if booking.status != BookingStatus.CONFIRMED or booking.start is None:
        return None
    # The invitation came from the calendar the event is on, even one no longer connected.
    provider = event_calendar_of(booking=booking).provider
    if not provider:
        return None
    from yoyaku.scheduling.calendar_writes import booking_uid

    uid = booking_uid(booking=booking)
    if provider == Provider.CALDAV:
        return uid
    if provider == Provider.GOOGLE:
        return f"{booking.calendar_event_id or google_event_id(uid)}@google.com"
    return None


def add_to_calendar_ics(*, booking: Booking) -> bytes | None:
    """The meeting as an iCalendar file to import (METHOD:PUBLISH), or None when it is not offered."""
    uid = invitation_uid(booking=booking)
    if uid is None:
        return None
    from dataclasses import replace

    from yoyaku.scheduling.calendar_writes import booking_event_draft

    draft = booking_event_draft(booking=booking)
    # RFC 5546 §3.2.1: a PUBLISH carries no attendees; the organizer stays, naming the host.
    return event_to_ical(draft=replace(draft, uid=uid, attendees=()), method="PUBLISH")
