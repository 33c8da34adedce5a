"""Host endpoints: working hours, meeting links, bookings and requests (API key required)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from yoyaku.accounts.models import User
from yoyaku.api.auth import ApiKeyAuth
from yoyaku.api.schemas import (
    AUTH_ERRORS,
    BODY_ERRORS,
    AvailabilityIn,
    AvailabilityOut,
    HostBookingOut,
    MeetingLinkIn,
    MeetingLinkOut,
    MeetingLinkPatch,
    SafeInstant,
    TakenOut,
    errors,
)
from yoyaku.calendars.base import CalendarOperationNotSupported
from yoyaku.scheduling.host_services import (
    CannotLeave,
    create_link,
    delete_link,
    leave_link,
    set_availability,
    update_link,
)
from yoyaku.scheduling.models import Availability, Booking, MeetingLink, default_weekly_hours
from yoyaku.scheduling.selectors import (
    HOST_LIST_LIMIT,
    booker_response,
    booking_outcome,
    bookings_of_host,
    calendar_conflict_notice,
    co_hosted_link,
    co_hosted_links,
    host_bookings,
    meeting_requests,
    past_host_bookings,
)
from yoyaku.scheduling.services import (
    BookingNotChangeable,
    CalendarUnreadable,
    cancel_booking,
    confirm_request,
    decline_request,
    reschedule_booking,
)
from yoyaku.scheduling.validation import BookingInputError

router = Router(auth=ApiKeyAuth(), tags=["host"])


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _availability_out(user: User, availability: Availability | None) -> dict[str, Any]:
    return {
        "time_zone": user.time_zone,
        "weekly": availability.weekly if availability else default_weekly_hours(),
        "overrides": availability.overrides if availability else {},
    }


@router.get("/me/availability", response={200: AvailabilityOut, **errors(*AUTH_ERRORS)})
def get_availability(request: HttpRequest) -> dict[str, Any]:
    user = _user(request)
    return _availability_out(user, Availability.objects.filter(user=user).first())


@router.put("/me/availability", response={200: AvailabilityOut, **errors(*AUTH_ERRORS, *BODY_ERRORS)})
def put_availability(request: HttpRequest, payload: AvailabilityIn) -> dict[str, Any]:
    user = _user(request)
    availability = set_availability(
        user=user, time_zone=payload.time_zone, weekly=payload.weekly, overrides=payload.overrides
    )
    return _availability_out(user, availability)


def link_out(request: HttpRequest, link: MeetingLink) -> dict[str, Any]:
    data = {field: getattr(link, field) for field in MeetingLinkOut.model_fields if hasattr(link, field)}
    data["host_usernames"] = [h.username for h in link.hosts.order_by("id")]
    data["url"] = request.build_absolute_uri(f"/m/{link.slug}")
    return data


def _own_link(request: HttpRequest, slug: str) -> MeetingLink:
    return get_object_or_404(MeetingLink, slug=slug, owner=_user(request))


@router.get("/meeting-links", response={200: list[MeetingLinkOut], **errors(*AUTH_ERRORS)})
def list_links(request: HttpRequest) -> list[dict[str, Any]]:
    links = MeetingLink.objects.filter(owner=_user(request)).order_by("slug").prefetch_related("hosts")
    return [link_out(request, link) for link in links]


@router.post("/meeting-links", response={201: MeetingLinkOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 409)})
def post_link(request: HttpRequest, payload: MeetingLinkIn) -> Status[Any]:
    data = payload.model_dump()
    link = create_link(owner=_user(request), **data)
    return Status(201, link_out(request, link))


@router.get("/meeting-links/{slug}", response={200: MeetingLinkOut, **errors(*AUTH_ERRORS, 404)})
def get_link(request: HttpRequest, slug: str) -> dict[str, Any]:
    return link_out(request, _own_link(request, slug))


@router.patch(
    "/meeting-links/{slug}", response={200: MeetingLinkOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)}
)
def patch_link(request: HttpRequest, slug: str, payload: MeetingLinkPatch) -> dict[str, Any]:
    link = _own_link(request, slug)
    data = payload.model_dump(exclude_unset=True)
    link = update_link(link=link, **data)
    return link_out(request, link)


@router.delete("/meeting-links/{slug}", response={204: None, **errors(*AUTH_ERRORS, 404)})
def remove_link(request: HttpRequest, slug: str) -> Status[Any]:
    delete_link(link=_own_link(request, slug))
    return Status(204, None)


@router.get(
    "/me/hosted-pages",
    response={200: list[MeetingLinkOut], **errors(*AUTH_ERRORS)},
    summary="Pages you co-host",
)
def list_hosted_pages(request: HttpRequest) -> list[dict[str, Any]]:
    """Pages of other owners of your workspace that list you as a host (their owner added you)."""
    links = co_hosted_links(user=_user(request)).prefetch_related("hosts")
    return [link_out(request, link) for link in links]


@router.post(
    "/me/hosted-pages/{slug}/leave",
    response={204: None, **errors(*AUTH_ERRORS, 404, 409)},
    summary="Stop co-hosting a page",
)
def leave_hosted_page(request: HttpRequest, slug: str) -> Status[Any]:
    """Take yourself off a page another owner added you to: it stops offering your free time and
    new meetings no longer land in your calendar. Meetings already booked stay.
    404 when you do not co-host a page of that slug (your own pages are deleted, not left)."""
    link = co_hosted_link(user=_user(request), slug=slug)
    if link is None:
        raise Http404
    try:
        leave_link(user=_user(request), link=link)
    except CannotLeave as error:
        raise HttpError(409, str(error)) from error
    return Status(204, None)


# -- bookings and requests ---------------------------------------------------------------


class BookingsQuery(Schema):
    when: Literal["upcoming", "past"] = Field(
        default="upcoming",
        description="upcoming: meetings that end after `after`, soonest first; past: meetings that ended "
        "by `after`, latest first, cancelled ones included, each with its outcome.",
    )
    after: SafeInstant | None = Field(
        default=None, description="The instant that divides upcoming from past (default: now)."
    )
    include_cancelled: bool = False
    limit: int = Field(default=50, ge=1, le=HOST_LIST_LIMIT)
    offset: int = Field(default=0, ge=0, le=100_000)


class RequestsQuery(Schema):
    include_past: bool = Field(default=False, description="Also list requests for a time that has passed.")
    limit: int = Field(default=50, ge=1, le=HOST_LIST_LIMIT)
    offset: int = Field(default=0, ge=0, le=100_000)


def host_booking_out(booking: Booking) -> dict[str, Any]:
    contact = booking.contact
    return {
        "id": booking.id,
        "link": booking.link.slug,
        "link_name": booking.link.name,
        "status": booking.status,
        "start": booking.start,
        "end": booking.end,
        "timezone": booking.time_zone,
        "host": booking.assigned_host.username,
        "first_name": booking.first_name,
        "last_name": booking.last_name,
        "email": booking.email,
        "contact": None
        if contact is None
        else {
            "id": contact.pk,
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
        },
        "meeting_id": booking.meeting_id,
        "answers": booking.answers,
        "message": booking.message,
        "calendar_write": booking.calendar_write,
        "calendar_event_id": booking.calendar_event_id or None,
        "calendar_error": booking.calendar_error,
        "outcome": booking_outcome(booking),
        "cancel_reason": booking.cancel_reason,
        "cancelled_by": booking.cancelled_by,
        "booker_response": booker_response(booking),
        "attendee_responses": booking.attendee_responses,
        "calendar_conflict": _calendar_conflict(booking),
        "created_at": booking.created_at,
    }


def _calendar_conflict(booking: Booking) -> dict[str, Any] | None:
    if booking.calendar_conflict_start is None:
        return None
    return {
        "start": booking.calendar_conflict_start,
        "end": booking.calendar_conflict_end,
        "with_booking_id": booking.calendar_conflict_with_id,
        "message": calendar_conflict_notice(booking=booking, zone=booking.assigned_host.time_zone),
    }


def _instant(value: datetime | None, *, field: str) -> datetime:
    if value is None:
        return timezone.now()
    # No offset means UTC; instants a database cannot store are refused, not crashed on.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not 1900 <= utc.year <= 9000:
        raise BookingInputError({field: gettext("Give an instant between the years 1900 and 9000.")})
    return utc


@router.get(
    "/me/bookings",
    response={200: list[HostBookingOut], **errors(*AUTH_ERRORS, 422)},
    summary="Meetings",
)
def list_bookings(request: HttpRequest, query: Query[BookingsQuery]) -> list[dict[str, Any]]:
    """Meetings on the host's pages (or assigned to the host): by default those that have not ended,
    soonest first; with `when=past` those that have, latest first, with their outcome."""
    instant = _instant(query.after, field="after")
    if query.when == "past":
        bookings = past_host_bookings(
            user=_user(request), before=instant, limit=query.limit, offset=query.offset
        )
    else:
        bookings = host_bookings(
            user=_user(request),
            after=instant,
            include_cancelled=query.include_cancelled,
            limit=query.limit,
            offset=query.offset,
        )
    return [host_booking_out(b) for b in bookings]


@router.get(
    "/me/requests",
    response={200: list[HostBookingOut], **errors(*AUTH_ERRORS, 422)},
    summary="Meeting requests",
)
def list_requests(request: HttpRequest, query: Query[RequestsQuery]) -> list[dict[str, Any]]:
    """Requests left on offline pages, or while the host's calendar could not be read; newest first."""
    requests = meeting_requests(
        user=_user(request),
        now=timezone.now(),
        include_past=query.include_past,
        limit=query.limit,
        offset=query.offset,
    )
    return [host_booking_out(b) for b in requests]


class RescheduleIn(Schema):
    start: SafeInstant = Field(description="The new start with its UTC offset: a time the page offers.")
    duration: int | None = Field(
        default=None, ge=5, le=720, description="Minutes; one the page offers. Default: the meeting's own."
    )


def _own_booking(request: HttpRequest, booking_id: UUID) -> Booking:
    booking = bookings_of_host(user=_user(request)).filter(pk=booking_id).first()
    if booking is None:
        raise Http404
    return booking


def _refused(error: CalendarOperationNotSupported | BookingNotChangeable) -> HttpError:
    # 403: the calendar (Exchange) refuses such changes for good; 409: this meeting's state does.
    return HttpError(403 if isinstance(error, CalendarOperationNotSupported) else 409, str(error))


@router.post(
    "/me/bookings/{booking_id}/reschedule",
    response={200: HostBookingOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 403, 404, 409, 503)},
    summary="Move a meeting",
)
def reschedule(request: HttpRequest, booking_id: UUID, payload: RescheduleIn) -> dict[str, Any]:
    """Move a confirmed meeting to another time its page offers; its calendar event moves with it.

    422 with the rule on `start` when the page never offers that time (past, notice, window, grid,
    working hours), 409 when it is offered but taken, 403 for a meeting on an Exchange calendar,
    which Yoyaku cannot change (move it in Outlook), 503 when a host's calendar cannot be read.
    """
    booking = _own_booking(request, booking_id)
    try:
        booking = reschedule_booking(
            booking=booking, start=payload.start, duration=payload.duration, actor=_user(request)
        )
    except (CalendarOperationNotSupported, BookingNotChangeable) as error:
        raise _refused(error) from error
    except CalendarUnreadable as error:
        raise HttpError(
            503,
            gettext("Your calendar cannot be read right now, so the new time cannot be checked. %(reason)s")
            % {"reason": str(error)},
        ) from error
    return host_booking_out(booking)


class CancelIn(Schema):
    reason: str = Field(
        default="", max_length=2000, description="Optional: for the contact; the cancellation mail quotes it."
    )


@router.post(
    "/me/bookings/{booking_id}/cancel",
    response={200: HostBookingOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 403, 404, 409)},
    summary="Cancel a meeting",
)
def cancel(request: HttpRequest, booking_id: UUID, payload: CancelIn | None = None) -> dict[str, Any]:
    """Cancel a meeting and free its time; its calendar event is cancelled too (cancelling twice is fine).
    An optional `reason` goes to the contact in the cancellation mail.

    403 for a meeting on an Exchange calendar, which Yoyaku cannot change (cancel it in Outlook).
    """
    booking = _own_booking(request, booking_id)
    try:
        booking = cancel_booking(
            booking=booking, reason=payload.reason if payload else "", actor=_user(request)
        )
    except CalendarOperationNotSupported as error:
        raise _refused(error) from error
    return host_booking_out(booking)


# -- answering meeting requests ------------------------------------------------------------


class ConfirmIn(Schema):
    start: SafeInstant | None = Field(
        default=None,
        description="The meeting's start with its UTC offset. Default: the time requested (required for a "
        "request left without a time).",
    )
    duration: int | None = Field(
        default=None, ge=5, le=720, description="Minutes; one the page offers. Default: the request's."
    )


class DeclineIn(Schema):
    message: str = Field(
        default="", max_length=2000, description="Optional: for the requester, quoted in the mail."
    )


def _own_request(request: HttpRequest, booking_id: UUID) -> Booking:
    # Any booking of the host's is found (so a confirmed one answers 409, not 404).
    return _own_booking(request, booking_id)


@router.post(
    "/me/requests/{request_id}/confirm",
    response={200: HostBookingOut, 409: TakenOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 503)},
    summary="Confirm a meeting request",
)
def confirm(request: HttpRequest, request_id: UUID, payload: ConfirmIn | None = None) -> dict[str, Any]:
    """Make a meeting request a booking: every rule of a booking applies, the event is written to the
    calendar and the invitation goes out.

    A request holds its time only for a while (`YOYAKU_REQUEST_HOLD_HOURS`), so the time is checked
    again: 422 with the rule on `start` when the page no longer offers it (past, notice, window, grid,
    working hours), 409 when it is taken, with `alternatives` (free starts near it) to confirm instead,
    503 when a host's calendar cannot be read.
    409 too for something that is not an open request.
    """
    booking = _own_request(request, request_id)
    payload = payload or ConfirmIn()
    try:
        booking = confirm_request(booking=booking, start=payload.start, duration=payload.duration)
    except BookingNotChangeable as error:
        raise _refused(error) from error
    except CalendarUnreadable as error:
        raise HttpError(
            503,
            gettext("Your calendar cannot be read right now, so the time cannot be checked. %(reason)s")
            % {"reason": error},
        ) from error
    return host_booking_out(booking)


@router.post(
    "/me/requests/{request_id}/decline",
    response={200: HostBookingOut, **errors(*AUTH_ERRORS, *BODY_ERRORS, 404, 409)},
    summary="Decline a meeting request",
)
def decline(request: HttpRequest, request_id: UUID, payload: DeclineIn | None = None) -> dict[str, Any]:
    """Decline a meeting request: the requester is told by mail, with the optional `message`.
    409 for something that is not an open request."""
    booking = _own_request(request, request_id)
    try:
        booking = decline_request(booking=booking, message=payload.message if payload else "")
    except BookingNotChangeable as error:
        raise _refused(error) from error
    return host_booking_out(booking)
