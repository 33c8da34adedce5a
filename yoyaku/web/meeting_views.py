"""The dashboard's meeting actions that need more than a button: answering meeting requests (confirm,
decline with a message), the in-page picker of free times for moving a meeting or confirming a request,
and cancelling with a reason for the contact.

Thin views: reads through ``yoyaku.scheduling.selectors``, writes through ``yoyaku.scheduling.services``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import dateformat, timezone
from django.utils.translation import gettext, pgettext
from django.views.decorators.http import require_GET, require_POST

from yoyaku.accounts.models import User
from yoyaku.scheduling.calendar_writes import awaits_reconnect
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite
from yoyaku.scheduling.selectors import SlotsResult, available_slots, bookings_of_host, reschedule_slots
from yoyaku.scheduling.services import (
    BookingNotChangeable,
    CalendarUnreadable,
    RequestTimeTaken,
    confirm_request,
    decline_request,
)
from yoyaku.scheduling.validation import BookingInputError
from yoyaku.web.dashboard import _AWAITS_RECONNECT
from yoyaku.web.forms import ConfirmRequestForm, ReasonForm
from yoyaku.web.host import host_user, in_user_zone
from yoyaku.web.templatetags.host_tags import meeting_when

PICKER_DAYS = 7


def _own_booking(user: User, booking_id: uuid.UUID) -> Booking:
    booking = bookings_of_host(user=user).filter(pk=booking_id).first()
    if booking is None:
        raise Http404
    return booking


def _first_day(request: HttpRequest, zone: ZoneInfo) -> date:
    today = timezone.now().astimezone(zone).date()
    try:
        asked = date.fromisoformat(request.GET.get("from", ""))
    except ValueError:
        return today
    # Never before today, and within the range a page can offer (a year or so ahead).
    return min(max(asked, today), today + timedelta(days=800))


def _slots_json(result: SlotsResult, *, first: date, zone: ZoneInfo) -> JsonResponse:
    days = []
    for offset in range(PICKER_DAYS):
        day = first + timedelta(days=offset)
        starts = result.slots.get(day, [])
        noon = datetime.combine(day, time(12), zone)
        days.append(
            {
                "date": day.isoformat(),
                "label": dateformat.format(noon, pgettext("short date with weekday", "D, M j")),
                "times": [
                    {
                        "value": s.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
                        "label": s.astimezone(zone).strftime("%H:%M"),
                    }
                    for s in starts
                ],
            }
        )
    return JsonResponse(
        {
            "days": days,
            "error": result.calendar_error,
            "previous": (first - timedelta(days=PICKER_DAYS)).isoformat(),
            "next": (first + timedelta(days=PICKER_DAYS)).isoformat(),
            "at_start": first <= timezone.now().astimezone(zone).date(),
        }
    )


@login_required
@require_GET
def booking_free_times(request: HttpRequest, booking_id: uuid.UUID) -> JsonResponse:
    """Free times a confirmed meeting can move to, a week from ``?from=`` (the host's dates), same hosts."""
    user = host_user(request)
    booking = _own_booking(user, booking_id)
    if booking.status != BookingStatus.CONFIRMED or booking.start is None:
        raise Http404
    zone = ZoneInfo(user.time_zone)
    first = _first_day(request, zone)
    start = datetime.combine(first, time(0), zone)
    # A length the page offers (or the meeting's own); anything else is the meeting's own.
    own = int((booking.end - booking.start).total_seconds() // 60) if booking.end else None
    asked = request.GET.get("duration", "")
    duration = int(asked) if asked.isdigit() and int(asked) in {*booking.link.durations, own} else own
    result = reschedule_slots(
        booking=booking,
        start=start,
        end=start + timedelta(days=PICKER_DAYS),
        time_zone=user.time_zone,
        now=timezone.now(),
        duration=duration,
    )
    return _slots_json(result, first=first, zone=zone)


@login_required
@require_GET
def request_free_times(request: HttpRequest, request_id: uuid.UUID) -> JsonResponse:
    """Free times of a request's page, a week from ``?from=``: what the host can confirm it for."""
    user = host_user(request)
    booking = _own_booking(user, request_id)
    if booking.status != BookingStatus.REQUESTED:
        raise Http404
    zone = ZoneInfo(user.time_zone)
    first = _first_day(request, zone)
    start = datetime.combine(first, time(0), zone)
    link = booking.link
    if booking.start is not None and booking.end is not None:
        duration = int((booking.end - booking.start).total_seconds() // 60)
    else:
        duration = link.durations[0] if link.durations else 30
    result = available_slots(
        link=link,
        start=start,
        end=start + timedelta(days=PICKER_DAYS),
        time_zone=user.time_zone,
        duration=duration,
        now=timezone.now(),
    )
    return _slots_json(result, first=first, zone=zone)


@login_required
@require_POST
def confirm_meeting_request(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    user = host_user(request)
    booking = _own_booking(user, request_id)
    with in_user_zone(user):
        # The picker's time is the host's wall-clock time.
        form = ConfirmRequestForm(request.POST)
        valid = form.is_valid()
    if not valid:
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, gettext("The request was not confirmed. %(reason)s") % {"reason": reasons})
        return redirect("dashboard")
    try:
        confirmed = confirm_request(booking=booking, start=form.cleaned_data["start"])
    except RequestTimeTaken as error:
        with in_user_zone(user):
            free = ", ".join(meeting_when(a) for a in error.alternatives[:3])
        text = gettext("The request was not confirmed. %(reason)s") % {"reason": str(error)}
        if free:
            text += " " + gettext("Free times near it: %(times)s.") % {"times": free}
        messages.error(request, text)
    except BookingNotChangeable as error:
        messages.error(request, gettext("The request was not confirmed. %(reason)s") % {"reason": str(error)})
    except BookingInputError as error:
        reasons = " ".join(error.errors.values())
        messages.error(request, gettext("The request was not confirmed. %(reason)s") % {"reason": reasons})
    except CalendarUnreadable as error:
        messages.error(
            request,
            gettext(
                "The request was not confirmed: your calendar cannot be read, so the time cannot be "
                "checked. %(reason)s"
            )
            % {"reason": str(error)},
        )
    else:
        with in_user_zone(user):
            when = meeting_when(confirmed.start, confirmed.end)
        messages.success(
            request,
            gettext("Confirmed: %(name)s, %(when)s. %(name)s gets the invitation.")
            % {"name": confirmed.first_name, "when": when},
        )
        if confirmed.calendar_write == CalendarWrite.PENDING and awaits_reconnect(booking=confirmed):
            messages.warning(request, gettext(_AWAITS_RECONNECT))
    return redirect("dashboard")


@login_required
@require_POST
def decline_meeting_request(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    user = host_user(request)
    booking = _own_booking(user, request_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, gettext("The request was not declined. %(reason)s") % {"reason": reasons})
        return redirect("dashboard")
    try:
        decline_request(booking=booking, message=form.cleaned_data["reason"])
    except (BookingNotChangeable, BookingInputError) as error:
        reason = " ".join(error.errors.values()) if isinstance(error, BookingInputError) else str(error)
        messages.error(request, gettext("The request was not declined. %(reason)s") % {"reason": reason})
    else:
        messages.success(
            request, gettext("Declined. %(name)s is told by email.") % {"name": booking.first_name}
        )
    return redirect("dashboard")
