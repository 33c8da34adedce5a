"""The booker's manage endpoints: a signed token from the confirmation page or a mail, no sign-in.

JSON only, and counted like the booking endpoints (reads with the availability reads, changes with
bookings and requests). A token that is forged, or whose meeting was cancelled or has passed, is 404
with the same answer as any unknown address, so it tells nothing about the booking.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from yoyaku.api.public import READ_LIMIT, WRITE_LIMIT, AvailabilityQuery, availability_answer
from yoyaku.api.schemas import BODY_ERRORS, ErrorOut, PublicAvailabilityOut, SafeInstant, errors
from yoyaku.calendars.base import CalendarOperationNotSupported
from yoyaku.scheduling.manage_links import (
    ChangeRefused,
    booker_links,
    booking_for_token,
    cancel_by_booker,
    change_refusal,
    reschedule_by_booker,
)
from yoyaku.scheduling.models import Booking, BookingStatus
from yoyaku.scheduling.services import BookingNotChangeable

router = Router(tags=["manage"])


class ManagedBookingOut(Schema):
    id: str
    status: str
    start: datetime | None
    end: datetime | None
    timezone: str
    duration: int
    host: str
    page: str
    slug: str
    location: str
    can_change: bool
    change_refusal: str = Field(
        description="Why the meeting cannot be moved or cancelled here; empty if it can."
    )
    reschedule_url: str
    cancel_url: str
    calendar_file_url: str = Field(description="The meeting as an .ics file; empty when not offered.")


class RescheduleIn(Schema):
    start: SafeInstant = Field(
        description="The new start with its UTC offset: a time the availability offers."
    )


class CancelIn(Schema):
    reason: str = Field(default="", max_length=2000, description="Optional, passed on to the host.")


def managed_out(booking: Booking) -> dict[str, Any]:
    confirmed = booking.status == BookingStatus.CONFIRMED
    refusal = change_refusal(booking=booking, now=timezone.now()) if confirmed else ""
    links = booker_links(booking=booking)
    assert booking.start is not None and booking.end is not None
    return {
        "id": str(booking.pk),
        "status": booking.status,
        "start": booking.start,
        "end": booking.end,
        "timezone": booking.time_zone,
        "duration": int((booking.end - booking.start).total_seconds() // 60),
        "host": booking.assigned_host.display_name,
        "page": booking.link.name,
        "slug": booking.link.slug,
        "location": booking.link.location,
        "can_change": confirmed and not refusal,
        "change_refusal": refusal,
        "reschedule_url": links.get("reschedule_url", ""),
        "cancel_url": links.get("cancel_url", ""),
        "calendar_file_url": links.get("calendar_file_url", ""),
    }


def _booking(token: str) -> Booking:
    booking = booking_for_token(token=token)
    if booking is None:
        raise Http404
    return booking


def _json_only(request: HttpRequest) -> None:
    # A form or text/plain body is what a cross-site form posts; the manage page always sends JSON.
    if request.content_type != "application/json":
        raise HttpError(415, "Send the body as JSON (Content-Type: application/json).")


def _refused(error: Exception) -> HttpError:
    return HttpError(403, str(error))


@router.get(
    "/manage/{token}",
    response={200: ManagedBookingOut, 404: ErrorOut, 429: ErrorOut},
    summary="The booker's meeting, from a manage link",
    throttle=[READ_LIMIT],
)
def managed_booking(request: HttpRequest, token: str) -> dict[str, Any]:
    return managed_out(_booking(token))


@router.get(
    "/manage/{token}/availability",
    response={200: PublicAvailabilityOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="Free slots to move the meeting to (same page, same host, same length)",
    throttle=[READ_LIMIT],
)
def managed_availability(request: HttpRequest, token: str, query: Query[AvailabilityQuery]) -> dict[str, Any]:
    booking = _booking(token)
    assert booking.start is not None and booking.end is not None
    # The meeting keeps its length: a booker moves it, the host changes what it is.
    query.duration = int((booking.end - booking.start).total_seconds() // 60)
    link = booking.link
    answer = availability_answer(link=link, query=query, only_host_id=booking.assigned_host_id)
    answer["durations"] = [query.duration]
    return answer


@router.post(
    "/manage/{token}/reschedule",
    response={200: ManagedBookingOut, **errors(*BODY_ERRORS, 403, 404, 409, 429, 503)},
    summary="Move the meeting to another free time",
    throttle=[WRITE_LIMIT],
)
def managed_reschedule(request: HttpRequest, token: str, payload: RescheduleIn) -> dict[str, Any]:
    """422 with the rule on `start` when the page never offers that time, 409 when it is taken,
    403 when the page's notice for changes has passed or the host's calendar (Exchange) refuses
    changes, 503 when the host's calendar cannot be read."""
    _json_only(request)
    booking = _booking(token)
    try:
        booking = reschedule_by_booker(booking=booking, start=payload.start, now=timezone.now())
    except (ChangeRefused, CalendarOperationNotSupported) as error:
        raise _refused(error) from error
    except BookingNotChangeable as error:
        raise Http404 from error
    return managed_out(booking)


@router.post(
    "/manage/{token}/cancel",
    response={200: ManagedBookingOut, **errors(*BODY_ERRORS, 403, 404, 429)},
    summary="Cancel the meeting, with an optional reason for the host",
    throttle=[WRITE_LIMIT],
)
def managed_cancel(request: HttpRequest, token: str, payload: CancelIn) -> dict[str, Any]:
    """403 when the page's notice for changes has passed or the host's calendar (Exchange) refuses it."""
    _json_only(request)
    booking = _booking(token)
    try:
        booking = cancel_by_booker(booking=booking, reason=payload.reason, now=timezone.now())
    except (ChangeRefused, CalendarOperationNotSupported) as error:
        raise _refused(error) from error
    return managed_out(booking)
