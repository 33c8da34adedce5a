"""Emails about bookings: iMIP invitations and cancellations (RFC 6047) in the booker's page language;
for a meeting request, a receipt to the booker and a notice to the host (in the host's language).
Each is queued (``yoyaku/mail``) and sent by the worker after the change commits."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.utils import translation
from django.utils.translation import gettext as _

from yoyaku.accounts.models import User
from yoyaku.calendars.base import EventDraft
from yoyaku.calendars.ical_build import event_to_ical
from yoyaku.formatting import format_moment, format_when, format_when_zoned, full_name, greeting
from yoyaku.mail.services import queue_mail, queue_mails
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
    queue_mail(message)


def _booker_language(booking: Booking) -> str:
    return booking.language or settings.LANGUAGE_CODE


def _meeting_body(*, booking: Booking, draft: EventDraft, sentence: str, closing: str) -> str:
    """The booker's mail about a meeting: the greeting, ``sentence`` (translated, with the page and
    host placeholders), when it is (weekday, start and end, and the zone), the location if any, then
    ``closing``."""
    parts = [
        greeting(first_name=booking.first_name, last_name=booking.last_name),
        sentence % {"page": booking.link.name, "host": booking.assigned_host.display_name},
        # Told in the booker's zone, which the text names (the iCalendar object carries UTC).
        _("When: %(when)s") % {"when": format_when_zoned(draft.start, draft.end, booking.time_zone)},
    ]
    if draft.location:
        parts.append(_("Location: %(location)s") % {"location": draft.location})
    parts.append(closing)
    manage = manage_text(booking=booking)
    if manage:
        parts.append(manage)
    return "\n\n".join(parts)


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
                sentence=_("Your meeting “%(page)s” with %(host)s is booked."),
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
                sentence=_("Your meeting “%(page)s” with %(host)s was moved to a new time."),
                closing=_("The attached update moves it in your calendar."),
            ),
            ical=event_to_ical(draft=draft, method="REQUEST", sequence=sequence),
            method="REQUEST",
        )


def send_cancellation(
    *, booking: Booking, draft: EventDraft, sequence: int = 1, with_ical: bool = True
) -> None:
    """Which meeting was cancelled, so the booker can tell it from another one: its title, when it
    was, and with whom; with the host's reason if one was given. ``with_ical=False`` when the calendar
    provider sends its own cancellation and this mail only carries the reason."""
    with translation.override(_booker_language(booking)):
        body = _meeting_body(
            booking=booking,
            draft=draft,
            sentence=_("Your meeting “%(page)s” with %(host)s was cancelled."),
            closing=_("The attached cancellation removes it from your calendar.") if with_ical else "",
        ).rstrip()
        if booking.cancel_reason and booking.cancelled_by != "booker":
            # The host's words for the contact; a booker's own reason is for the hosts only.
            body += "\n\n" + _("Message from %(host)s:") % {"host": booking.assigned_host.display_name}
            body += "\n" + booking.cancel_reason
        _send(
            booking=booking,
            draft=draft,
            subject=_("Cancelled: %(title)s") % {"title": draft.title},
            body=body,
            ical=event_to_ical(draft=draft, method="CANCEL", sequence=sequence, status="CANCELLED")
            if with_ical
            else None,
            method="CANCEL",
        )


# -- meeting requests ---------------------------------------------------------------------


def send_request_notices(*, booking: Booking, hold: datetime | None = None) -> None:
    """Tell the booker their request arrived and the host that one is waiting.

    ``hold``: until when the requested time is held, when the caller knows it (else it is read).
    Queued in the request's transaction; a mail that cannot be written is logged and never undoes
    the request.
    """
    messages = []
    receipt = partial(_request_receipt, hold=hold)
    for write in (receipt, _host_notice):
        try:
            message = write(booking=booking)
        except Exception:
            name = "receipt" if write is receipt else "host notice"
            logger.exception("Could not write the %s for request %s", name, booking.pk)
            continue
        if message is not None:
            messages.append(message)
    if messages:
        queue_mails(messages)


def _local_time(booking: Booking, zone: str) -> str:
    assert booking.start is not None
    return format_when_zoned(booking.start, booking.end, zone)


def _request_receipt(*, booking: Booking, hold: datetime | None = None) -> EmailMessage:
    host = booking.assigned_host
    names = {"page": booking.link.name, "host": host.display_name}
    with translation.override(_booker_language(booking)):
        body = greeting(first_name=booking.first_name, last_name=booking.last_name) + "\n\n"
        body += _("We've received your request for “%(page)s”. %(host)s will reply by email.") % names
        if booking.start is not None:
            body += "\n\n" + _("You asked for %(when)s.") % {"when": _local_time(booking, booking.time_zone)}
            if hold is None:
                hold = booking.reservations.filter(active=True).values_list("expires_at", flat=True).first()
            if hold is not None:
                until = format_moment(hold, booking.time_zone)
                body += " " + _(
                    "The time is held for you until %(until)s while %(host)s confirms it; after that it may "
                    "be given to someone else, and %(host)s will offer you another time."
                ) % {**names, "until": until}
        if booking.message:
            body += "\n\n" + _("Your message:") + "\n" + booking.message
        subject = _("Request received: %(page)s") % names
    return EmailMessage(
        subject=subject, body=body, to=[booking.email], reply_to=[host.email] if host.email else None
    )


def _host_notice(*, booking: Booking) -> EmailMessage | None:
    host: User = booking.assigned_host
    if not host.email:
        return None
    with translation.override(host.language or settings.LANGUAGE_CODE):
        booker = full_name(first_name=booking.first_name, last_name=booking.last_name)
        names = {"name": booker, "email": booking.email, "page": booking.link.name}
        body = _("%(name)s (%(email)s) left a meeting request on your page “%(page)s”.") % names
        if booking.start is not None:
            body += "\n\n" + _("Requested time: %(when)s.") % {"when": _local_time(booking, host.time_zone)}
        else:
            body += "\n\n" + _("No time was requested: reply to find one together.")
        if booking.message:
            body += "\n\n" + _("Message:") + "\n" + booking.message
        body += "\n\n" + _(
            "Nothing was added to your calendar. Reply to this email to answer %(name)s. "
            "Your open requests: %(url)s"
        ) % {"name": booker, "url": f"{settings.YOYAKU_BASE_URL.rstrip('/')}/dashboard/"}
        subject = _("New meeting request from %(name)s") % names
    return EmailMessage(subject=subject, body=body, to=[host.email], reply_to=[booking.email])


def send_request_declined(*, booking: Booking) -> None:
    """Tell the requester, in their page's language, that the host declined, with the host's message."""
    host = booking.assigned_host
    names = {"name": booking.first_name, "page": booking.link.name, "host": host.display_name}
    with translation.override(_booker_language(booking)):
        body = _("Hello %(name)s,\n\n%(host)s cannot take your meeting request for “%(page)s”.") % names
        if booking.start is not None:
            body += "\n\n" + _("You asked for %(when)s (%(zone)s).") % {
                "when": _local_time(booking, booking.time_zone),
                "zone": booking.time_zone,
            }
        if booking.cancel_reason:
            body += "\n\n" + _("Message from %(host)s:") % names + "\n" + booking.cancel_reason
        subject = _("Request declined: %(page)s") % names
    queue_mail(
        EmailMessage(
            subject=subject, body=body, to=[booking.email], reply_to=[host.email] if host.email else None
        )
    )


# -- telling hosts of their meetings -------------------------------------------------------


def send_host_change_notices(*, booking: Booking, change: str, hosts: list[User]) -> None:
    """Tell each host, in the host's own language (User.language), that a meeting of theirs was booked
    (``change="booked"``), moved (``"moved"``) or cancelled (``"cancelled"``). Queued in the change's
    transaction; a notice that cannot be written is logged and changes nothing."""
    for host in hosts:
        if not host.email:
            continue
        try:
            _send_host_change_notice(booking=booking, change=change, host=host)
        except Exception:
            logger.exception("Could not tell host %s of %s booking %s", host.pk, change, booking.pk)


def _send_host_change_notice(*, booking: Booking, change: str, host: User) -> None:
    names = {
        "email": booking.email,
        "page": booking.link.name,
        "url": f"{settings.YOYAKU_BASE_URL.rstrip('/')}/dashboard/",
    }
    with translation.override(host.language or settings.LANGUAGE_CODE):
        # In the host's language's order (姓 名 in Japanese), as the dashboard shows it.
        names["name"] = full_name(first_name=booking.first_name, last_name=booking.last_name)
        if booking.start is not None:
            # The sentences name the zone themselves: the day and times alone here.
            names["when"] = format_when(booking.start, booking.end, host.time_zone)
            names["zone"] = host.time_zone
        if change == "booked":
            subject = _("New meeting: %(name)s, %(when)s") % names
            opening = _("%(name)s (%(email)s) booked “%(page)s” for %(when)s (%(zone)s).") % names
        elif change == "moved":
            subject = _("Meeting moved: %(name)s, %(when)s") % names
            opening = (
                _("The meeting “%(page)s” with %(name)s (%(email)s) was moved to %(when)s (%(zone)s).")
                % names
            )
        else:
            subject = _("Meeting cancelled: %(name)s, %(when)s") % names
            opening = (
                _("The meeting “%(page)s” with %(name)s (%(email)s) on %(when)s (%(zone)s) was cancelled.")
                % names
            )
        body = opening
        if change == "cancelled" and booking.cancel_reason:
            if booking.cancelled_by == "booker":
                body += "\n\n" + _("%(name)s cancelled it and wrote:") % names + "\n" + booking.cancel_reason
            else:
                body += "\n\n" + _("Reason given:") + "\n" + booking.cancel_reason
        body += "\n\n" + _("Your meetings: %(url)s") % names
    queue_mail(EmailMessage(subject=subject, body=body, to=[host.email], reply_to=[booking.email]))


# -- co-hosts ------------------------------------------------------------------------------


def send_co_host_notices(*, link_id: int, user_ids: list[int]) -> None:
    """Tell each user just made a co-host of a page, in their own language, what that means and how
    to leave. Queued in the page's transaction; a notice that cannot be written is logged."""

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
        "owner": link.owner.display_name,
        "page": link.name,
        "url": f"{base}/m/{link.slug}",
        "dashboard": f"{base}/dashboard/",
    }
    with translation.override(host.language or settings.LANGUAGE_CODE):
        subject = _("You were added as a host of “%(page)s”") % names
        body = "\n\n".join(
            [
                greeting(first_name=host.first_name or host.username, last_name=host.last_name),
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
    queue_mail(EmailMessage(subject=subject, body=body, to=[host.email]))
