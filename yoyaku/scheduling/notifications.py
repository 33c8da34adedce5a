"""Emails about bookings: iMIP invitations and cancellations (RFC 6047) in the booker's page language;
for a meeting request, a receipt to the booker and a notice to the host (in the host's language)."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.utils import translation
from django.utils.translation import gettext as _

from yoyaku.accounts.models import User
from yoyaku.calendars.base import EventDraft
from yoyaku.calendars.ical_build import event_to_ical
from yoyaku.scheduling.manage_links import manage_text
from yoyaku.scheduling.models import Booking, MeetingLink

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


def _meeting_body(*, booking: Booking, draft: EventDraft, opening: str, closing: str) -> str:
    """The booker's mail about a booked meeting: ``opening`` (translated, with the name, page, host, when
    and zone placeholders), the location if any, then ``closing``."""
    # Told in the booker's zone, which the text names (the iCalendar object carries UTC).
    when = draft.start.astimezone(ZoneInfo(booking.time_zone)).strftime("%Y-%m-%d %H:%M")
    body = opening % {
        "name": booking.first_name,
        "page": booking.link.name,
        "host": booking.assigned_host.display_name,
        "when": when,
        "zone": booking.time_zone,
    }
    if draft.location:
        body += "\n\n" + _("Location: %(location)s") % {"location": draft.location}
    body += "\n\n" + closing
    manage = manage_text(booking=booking)
    return body + ("\n\n" + manage if manage else "")


def send_invitation(*, booking: Booking, draft: EventDraft) -> None:
    # In the language of the page the booker used, whatever language is active where this runs
    # (a host's request, a background retry).
    with translation.override(_booker_language(booking)):
        _send(
            booking=booking,
            draft=draft,
            subject=_("Invitation: %(title)s") % {"title": draft.title},
            body=_meeting_body(
                booking=booking,
                draft=draft,
                opening=_(
                    "Hello %(name)s,\n\n"
                    "your meeting “%(page)s” with %(host)s is booked for %(when)s (%(zone)s)."
                ),
                closing=_("The attached invitation adds it to your calendar."),
            ),
            ical=event_to_ical(draft=draft, method="REQUEST"),
            method="REQUEST",
        )


def send_update(*, booking: Booking, draft: EventDraft, sequence: int) -> None:
    """The meeting moved: a REQUEST with the same UID and a higher SEQUENCE replaces the booker's copy."""
    with translation.override(_booker_language(booking)):
        _send(
            booking=booking,
            draft=draft,
            subject=_("Updated invitation: %(title)s") % {"title": draft.title},
            body=_meeting_body(
                booking=booking,
                draft=draft,
                opening=_(
                    "Hello %(name)s,\n\n"
                    "your meeting “%(page)s” with %(host)s was moved to %(when)s (%(zone)s)."
                ),
                closing=_("The attached update moves it in your calendar."),
            ),
            ical=event_to_ical(draft=draft, method="REQUEST", sequence=sequence),
            method="REQUEST",
        )


def send_cancellation(*, booking: Booking, draft: EventDraft, sequence: int = 1) -> None:
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
            ical=event_to_ical(draft=draft, method="CANCEL", sequence=sequence, status="CANCELLED"),
            method="CANCEL",
        )


# -- meeting requests ---------------------------------------------------------------------


def send_request_notices(*, booking: Booking) -> None:
    """Tell the booker their request arrived and the host that one is waiting.

    Runs after the request is committed; mail trouble is logged and never undoes the request.
    """
    for send in (_send_request_receipt, _send_host_notice):
        try:
            send(booking=booking)
        except Exception:
            logger.exception("Could not send %s for request %s", send.__name__.strip("_"), booking.pk)


def _local_time(booking: Booking, zone: str) -> str:
    assert booking.start is not None
    return booking.start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _send_request_receipt(*, booking: Booking) -> None:
    host = booking.assigned_host
    names = {"name": booking.first_name, "page": booking.link.name, "host": host.display_name}
    with translation.override(_booker_language(booking)):
        body = _(
            "Hello %(name)s,\n\n"
            "we've received your request for “%(page)s”. %(host)s will reply by email."
        ) % names
        if booking.start is not None:
            body += "\n\n" + _(
                "You asked for %(when)s (%(zone)s). The time is not reserved until %(host)s confirms it."
            ) % {**names, "when": _local_time(booking, booking.time_zone), "zone": booking.time_zone}
        if booking.message:
            body += "\n\n" + _("Your message:") + "\n" + booking.message
        subject = _("Request received: %(page)s") % names
    EmailMessage(
        subject=subject, body=body, to=[booking.email], reply_to=[host.email] if host.email else None
    ).send()


def _send_host_notice(*, booking: Booking) -> None:
    host: User = booking.assigned_host
    if not host.email:
        return
    booker = f"{booking.first_name} {booking.last_name}".strip()
    names = {"name": booker, "email": booking.email, "page": booking.link.name}
    with translation.override(host.language or settings.LANGUAGE_CODE):
        body = _("%(name)s (%(email)s) left a meeting request on your page “%(page)s”.") % names
        if booking.start is not None:
            body += "\n\n" + _("Requested time: %(when)s (%(zone)s).") % {
                "when": _local_time(booking, host.time_zone),
                "zone": host.time_zone,
            }
        else:
            body += "\n\n" + _("No time was requested: reply to find one together.")
        if booking.message:
            body += "\n\n" + _("Message:") + "\n" + booking.message
        body += "\n\n" + _(
            "Nothing was added to your calendar. Reply to this email to answer %(name)s. "
            "Your open requests: %(url)s"
        ) % {"name": booking.first_name, "url": f"{settings.YOYAKU_BASE_URL.rstrip('/')}/dashboard/"}
        subject = _("New meeting request from %(name)s") % names
    EmailMessage(subject=subject, body=body, to=[host.email], reply_to=[booking.email]).send()


# -- co-hosts ------------------------------------------------------------------------------


def send_co_host_notices(*, link_id: int, user_ids: list[int]) -> None:
    """Tell each user just made a co-host of a page, in their own language, what that means and how
    to leave. Runs after commit; mail trouble is logged and changes nothing."""

    link = MeetingLink.objects.select_related("owner").filter(pk=link_id).first()
    if link is None:
        return
    # Still hosts of the page, and of its owner's workspace (never mail across workspaces).
    hosts = link.hosts.filter(pk__in=user_ids, workspace_id=link.owner.workspace_id)
    for host in hosts:
        if not host.email:
            continue
        try:
            _send_co_host_notice(link=link, host=host)
        except Exception:
            logger.exception("Could not tell user %s they co-host page %s", host.pk, link.pk)


def _send_co_host_notice(*, link: MeetingLink, host: User) -> None:
    base = settings.YOYAKU_BASE_URL.rstrip("/")
    names = {
        "name": host.first_name or host.username,
        "owner": link.owner.display_name,
        "page": link.name,
        "url": f"{base}/m/{link.slug}",
        "dashboard": f"{base}/dashboard/",
    }
    with translation.override(host.language or settings.LANGUAGE_CODE):
        subject = _("You were added as a host of “%(page)s”") % names
        body = "\n\n".join(
            [
                _("Hello %(name)s,") % names,
                _("%(owner)s added you as a host of the scheduling page “%(page)s” (%(url)s).") % names,
                _(
                    "The page now offers times from your calendar's free/busy, meetings booked on it "
                    "are added to your calendar, and %(owner)s can cancel or move them."
                )
                % names,
                _("If you do not want to host this page, leave it from your dashboard: %(dashboard)s")
                % names,
            ]
        )
    EmailMessage(subject=subject, body=body, to=[host.email]).send()
