"""The meetings dashboard: scheduling pages, meetings, requests and the calendar connection panel.

Thin views: reads go through ``yoyaku.web.selectors``, writes through ``yoyaku.accounts.connections``
and ``yoyaku.scheduling.calendar_writes``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.http import require_GET, require_POST

from yoyaku.accounts.calendar_problems import calendar_problem
from yoyaku.accounts.connections import (
    ConnectionRefused,
    disconnect_calendar,
    disconnect_inbox,
    refresh_calendars,
    update_calendar_settings,
)
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.accounts.selectors import user_connections
from yoyaku.calendars.base import CalendarError, CalendarOperationNotSupported
from yoyaku.scheduling.calendar_writes import NothingToRetry, awaits_reconnect, retry_calendar_now
from yoyaku.scheduling.host_services import CannotLeave, leave_link
from yoyaku.scheduling.models import Booking, CalendarWrite
from yoyaku.scheduling.selectors import bookings_of_host, co_hosted_link
from yoyaku.scheduling.services import (
    BookingNotChangeable,
    CalendarUnreadable,
    SlotUnavailable,
    cancel_booking,
    reschedule_booking,
)
from yoyaku.scheduling.validation import BookingInputError
from yoyaku.web import selectors
from yoyaku.web.forms import CalendarSettingsForm, ReasonForm, RescheduleForm
from yoyaku.web.host import host_user, in_user_zone
from yoyaku.web.templatetags.host_tags import meeting_when

_AWAITS_RECONNECT = gettext_noop(
    "Your calendar must be reconnected first: Yoyaku sends the change to it as soon as you reconnect."
)


def _settings_form(panel: selectors.ConnectionPanel) -> CalendarSettingsForm:
    choices = panel.choices
    return CalendarSettingsForm(
        calendars=choices.calendars,
        initial={
            "conflict_calendar_ids": choices.checked_ids,
            "write_calendar_id": choices.write_id,
            "tentative_blocks": panel.connection.tentative_blocks,
        },
    )


def _render(
    request: HttpRequest, user: User, *, bound: dict[int, CalendarSettingsForm] | None = None
) -> HttpResponse:
    data = selectors.dashboard(user=user, now=timezone.now())
    panels = [
        {
            "panel": panel,
            "form": (bound or {}).get(panel.connection.pk) or _settings_form(panel),
        }
        for panel in data.panels
    ]
    with in_user_zone(user):
        # Bound to the host's zone: the picker shows the meeting's time as the host reads it.
        upcoming = [
            {"meeting": meeting, "form": _reschedule_form(meeting.booking)} for meeting in data.upcoming
        ]
    context: dict[str, Any] = {
        "section": "dashboard",
        "links": data.links,
        "upcoming": upcoming,
        "requests": data.requests,
        "past": data.past,
        "request_hold_hours": f"{settings.YOYAKU_REQUEST_HOLD_HOURS:g}",
        "panels": panels,
        "other_inboxes": data.other_inboxes,
        "calendar_problems": data.calendar_problems,
        "cancelled_on_calendar": data.cancelled_on_calendar,
        "user_zone": user.time_zone,
    }
    with in_user_zone(user):
        return render(request, "web/dashboard.html", context)


def _reschedule_form(booking: Booking) -> RescheduleForm:
    assert booking.start is not None and booking.end is not None
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    durations = sorted({*booking.link.durations, minutes})
    return RescheduleForm(
        durations=durations,
        initial={"start": timezone.localtime(booking.start), "duration": minutes},
        auto_id=f"move-{booking.pk}-%s",
    )


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return _render(request, host_user(request))


def _own_connection(user: User, connection_id: int) -> CalendarConnection:
    for connection in user_connections(user=user):
        if connection.pk == connection_id:
            return connection
    raise Http404


@login_required
@require_POST
def save_calendar_settings(request: HttpRequest, connection_id: int) -> HttpResponse:
    user = host_user(request)
    connection = _own_connection(user, connection_id)
    choices = selectors.calendar_choices(connection=connection)
    if not choices.listed:
        messages.error(request, gettext("The settings were not saved: refresh your calendars first."))
        return redirect("dashboard")
    if choices.error:
        messages.error(
            request,
            gettext("The settings were not saved: the calendars could not be read. %(reason)s")
            % {"reason": choices.error},
        )
        return redirect("dashboard")
    form = CalendarSettingsForm(request.POST, calendars=choices.calendars)
    if form.is_valid():
        try:
            update_calendar_settings(
                user=user,
                connection_id=connection.pk,
                conflict_calendar_ids=form.cleaned_data["conflict_calendar_ids"],
                write_calendar_id=form.cleaned_data["write_calendar_id"],
                tentative_blocks=form.cleaned_data["tentative_blocks"],
            )
        except ConnectionRefused as error:
            form.add_error(None, str(error))
        except CalendarError as error:
            form.add_error(None, calendar_problem(error))
        else:
            messages.success(request, gettext("Calendar settings saved."))
            return redirect("dashboard")
    return _render(request, user, bound={connection.pk: form})


@login_required
@require_POST
def remove_calendar(request: HttpRequest, connection_id: int) -> HttpResponse:
    user = host_user(request)
    try:
        disconnect_calendar(user=user, connection_id=connection_id)
    except ConnectionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, gettext("Your calendar is disconnected."))
    return redirect("dashboard")


@login_required
@require_POST
def remove_inbox(request: HttpRequest, inbox_id: int) -> HttpResponse:
    user = host_user(request)
    try:
        disconnect_inbox(user=user, inbox_id=inbox_id)
    except ConnectionRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, gettext("Your inbox is disconnected."))
    return redirect("dashboard")


# "Retry now" queues the write for the worker: the page that follows may come before its result.
RETRYING = gettext_noop("Trying again now: this page shows the result in a moment.")


@login_required
@require_POST
def retry_calendar(request: HttpRequest, booking_id: uuid.UUID) -> HttpResponse:
    """The "Retry now" button of a meeting whose calendar write or cancellation was given up."""
    try:
        booking = retry_calendar_now(user=host_user(request), booking_id=booking_id)
    except Booking.DoesNotExist as error:
        raise Http404 from error
    except NothingToRetry:
        messages.info(request, gettext("There is nothing to retry for this meeting."))
        return redirect("dashboard")
    state = booking.calendar_write
    if state in (CalendarWrite.PENDING, CalendarWrite.CANCEL_PENDING) and awaits_reconnect(booking=booking):
        messages.error(request, gettext(_AWAITS_RECONNECT))
    elif state in (CalendarWrite.PENDING, CalendarWrite.CANCEL_PENDING) and booking.calendar_attempts == 0:
        # Queued for the worker and not tried yet.
        messages.info(request, gettext(RETRYING))
    elif state == CalendarWrite.WRITTEN:
        messages.success(request, gettext("The meeting is on your calendar now."))
    elif state == CalendarWrite.CANCELLED:
        messages.success(request, gettext("The meeting is cancelled on your calendar now."))
    elif state in (CalendarWrite.PENDING, CalendarWrite.CANCEL_PENDING):
        messages.error(
            request,
            gettext("It still failed: %(reason)s Yoyaku keeps trying in the background.")
            % {"reason": booking.calendar_error},
        )
    elif state == CalendarWrite.NONE:
        messages.info(request, gettext("No calendar is connected any more, so there is nothing to retry."))
    else:  # refused outright: an Exchange cancellation
        messages.error(request, booking.calendar_error)
    return redirect("dashboard")


@login_required
@require_POST
def refresh_calendar_list(request: HttpRequest, connection_id: int) -> HttpResponse:
    """The "Refresh calendars" button: the only time the dashboard asks the provider for the list."""
    user = host_user(request)
    connection = _own_connection(user, connection_id)
    try:
        refresh_calendars(user=user, connection_id=connection.pk)
    except ConnectionRefused as error:
        messages.error(
            request,
            gettext("Your calendars could not be listed; the list shown is the one from before. %(reason)s")
            % {"reason": str(error)},
        )
    else:
        messages.success(request, gettext("Your calendar list is up to date."))
    return redirect("dashboard")


@login_required
@require_POST
def leave_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The "Leave" button of a page another owner of the workspace made the user a host of."""
    user = host_user(request)
    link = co_hosted_link(user=user, slug=slug)
    if link is None:
        raise Http404
    try:
        leave_link(user=user, link=link)
    except CannotLeave as error:
        messages.error(request, str(error))
    else:
        messages.success(request, gettext("You no longer host “%(page)s”.") % {"page": link.name})
    return redirect("dashboard")


def _own_booking(user: User, booking_id: uuid.UUID) -> Booking:
    booking = bookings_of_host(user=user).filter(pk=booking_id).first()
    if booking is None:
        raise Http404
    return booking


@login_required
@require_POST
def cancel_meeting(request: HttpRequest, booking_id: uuid.UUID) -> HttpResponse:
    """The Cancel dialog: cancels the meeting with an optional reason, which the contact's mail quotes."""
    user = host_user(request)
    booking = _own_booking(user, booking_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, gettext("The meeting was not cancelled. %(reason)s") % {"reason": reasons})
        return redirect("dashboard")
    try:
        cancelled = cancel_booking(booking=booking, reason=form.cleaned_data["reason"], actor=user)
    except CalendarOperationNotSupported as error:
        messages.error(request, str(error))
    else:
        messages.success(request, gettext("The meeting is cancelled."))
        if cancelled.calendar_write == CalendarWrite.CANCEL_PENDING and awaits_reconnect(booking=cancelled):
            messages.warning(request, gettext(_AWAITS_RECONNECT))
    return redirect("dashboard")


@login_required
@require_POST
def reschedule_meeting(request: HttpRequest, booking_id: uuid.UUID) -> HttpResponse:
    user = host_user(request)
    booking = _own_booking(user, booking_id)
    assert booking.start is not None and booking.end is not None
    minutes = int((booking.end - booking.start).total_seconds() // 60)
    with in_user_zone(user):
        # The picker's time is the host's wall-clock time.
        form = RescheduleForm(request.POST, durations=sorted({*booking.link.durations, minutes}))
        valid = form.is_valid()
    if not valid:
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, gettext("The meeting was not moved. %(reason)s") % {"reason": reasons})
        return redirect("dashboard")
    try:
        moved = reschedule_booking(
            booking=booking,
            start=form.cleaned_data["start"],
            duration=form.cleaned_data["duration"],
            actor=user,
        )
    except (SlotUnavailable, BookingNotChangeable, CalendarOperationNotSupported) as error:
        messages.error(request, gettext("The meeting was not moved. %(reason)s") % {"reason": str(error)})
    except BookingInputError as error:
        reasons = " ".join(error.errors.values())
        messages.error(request, gettext("The meeting was not moved. %(reason)s") % {"reason": reasons})
    except CalendarUnreadable as error:
        messages.error(
            request,
            gettext(
                "The meeting was not moved: your calendar cannot be read, so the new time cannot be "
                "checked. %(reason)s"
            )
            % {"reason": str(error)},
        )
    else:
        with in_user_zone(user):
            when = meeting_when(moved.start, moved.end)
        messages.success(request, gettext("The meeting was moved to %(when)s.") % {"when": when})
        moved.refresh_from_db()  # the worker may have tried the calendar already
        if moved.calendar_write == CalendarWrite.PENDING and awaits_reconnect(booking=moved):
            messages.warning(request, gettext(_AWAITS_RECONNECT))
        elif moved.calendar_write == CalendarWrite.PENDING and moved.calendar_attempts:
            messages.warning(
                request, gettext("Your calendar does not show the new time yet; Yoyaku keeps trying.")
            )
    return redirect("dashboard")
