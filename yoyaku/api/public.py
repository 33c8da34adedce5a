"""Public booking endpoints (no authentication, rate limited per client)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext
from ninja import Query, Router, Schema, Status
from pydantic import Field

from yoyaku.api.schemas import (
    BODY_ERRORS,
    BookingIn,
    BookingOut,
    PublicAvailabilityOut,
    RequestIn,
    SafeDate,
    errors,
)
from yoyaku.api.slot_times import slot_days
from yoyaku.api.throttling import ClientRateThrottle
from yoyaku.scheduling.manage_links import booker_links
from yoyaku.scheduling.models import Booking, BookingStatus, MeetingLink
from yoyaku.scheduling.selectors import available_slots, public_link, switched_on_link
from yoyaku.scheduling.services import book_meeting, request_meeting
from yoyaku.scheduling.validation import BookingInputError, check_time_zone, durations_offered

router = Router(tags=["public"])

# Reads are cheap and a booking page makes several; bookings and requests write, so they get a
# stricter limit of their own (one count for both).
READ_LIMIT = ClientRateThrottle(scope="availability", setting="YOYAKU_PUBLIC_RATE_LIMIT")
WRITE_LIMIT = ClientRateThrottle(scope="booking", setting="YOYAKU_BOOKING_RATE_LIMIT")

MAX_WINDOW = timedelta(days=366)


class AvailabilityQuery(Schema):
    start: SafeDate | None = Field(default=None, description="First local date (default: today).")
    end: SafeDate | None = Field(
        default=None, description="Last local date, inclusive (default: start + 6 days)."
    )
    timezone: str = Field(default="UTC", max_length=64)
    duration: int | None = Field(default=None, ge=5, le=720)


def _active_link(slug: str) -> MeetingLink:
    link = public_link(slug=slug)
    if link is None:
        raise Http404
    return link


def _switched_on_link(slug: str) -> MeetingLink:
    """For the services that check the page's hosts as they read them (``PageClosed`` is a 404 too)."""
    link = switched_on_link(slug=slug)
    if link is None:
        raise Http404
    return link


@router.get(
    "/book/{slug}/availability",
    response={200: PublicAvailabilityOut, **errors(404, 422, 429)},
    summary="Free slots of a scheduling page",
    throttle=[READ_LIMIT],
)
def availability(request: HttpRequest, slug: str, query: Query[AvailabilityQuery]) -> dict[str, Any]:
    return availability_answer(link=_active_link(slug), query=query)


def availability_answer(
    *, link: MeetingLink, query: AvailabilityQuery, only_host_id: int | None = None
) -> dict[str, Any]:
    """The availability endpoints' answer for ``link`` (``only_host_id``: see ``available_slots``)."""
    check_time_zone(query.timezone)
    zone = ZoneInfo(query.timezone)
    today = timezone.now().astimezone(zone).date()
    first = query.start or today
    last = query.end or first + timedelta(days=6)
    if last < first:
        raise BookingInputError({"end": gettext("The end must not be before the start.")})
    if last - first > MAX_WINDOW:
        raise BookingInputError({"end": gettext("Ask for at most one year of availability at a time.")})
    duration = query.duration or link.durations[0]
    if duration not in link.durations:
        raise BookingInputError({"duration": durations_offered(link=link)})
    window_start = datetime.combine(first, time(0), zone)
    window_end = datetime.combine(last + timedelta(days=1), time(0), zone)
    result = available_slots(
        link=link,
        start=window_start,
        end=window_end,
        time_zone=query.timezone,
        duration=duration,
        now=timezone.now(),
        only_host_id=only_host_id,
    )
    return {
        "slug": link.slug,
        "name": link.name,
        "timezone": query.timezone,
        "duration": duration,
        "durations": link.durations,
        "offline": result.offline,
        "calendar_error": result.calendar_error,
        "days": slot_days(starts=result.starts, time_zone=query.timezone),
    }


def booking_out(booking: Booking) -> dict[str, Any]:
    # Public answers name the booking by its UUID only: sequential row ids (contacts, meetings, users)
    # would tell anyone how many there are and invite guessing the others.
    return {
        "id": booking.id,
        "status": booking.status,
        "start": booking.start,
        "end": booking.end,
        "timezone": booking.time_zone,
        "host": booking.assigned_host.display_name,
        "calendar_event_id": booking.calendar_event_id or None,
        "calendar_write": booking.calendar_write,
        "offline": booking.status == BookingStatus.REQUESTED,
        "confirmation_message": booking.link.confirmation_message,
        "redirect_url": booking.link.redirect_url,
        **booker_links(booking=booking),
    }


@router.post(
    "/book/{slug}",
    response={200: BookingOut, 201: BookingOut, **errors(*BODY_ERRORS, 404, 409, 429, 503)},
    summary="Book a slot (or request it when the page is offline)",
    throttle=[WRITE_LIMIT],
)
def book(request: HttpRequest, slug: str, payload: BookingIn) -> Status[Any]:
    link = _switched_on_link(slug)
    outcome = book_meeting(
        link=link,
        start=payload.start,
        duration=payload.duration,
        time_zone=payload.timezone,
        first_name=payload.first_name,
        last_name=payload.last_name,
        email=payload.email,
        answers=payload.answers,
        idempotency_key=payload.idempotency_key,
        # The page's language (LocaleMiddleware: its cookie, else Accept-Language): mails speak it.
        language=translation.get_language() or "",
    )
    return Status(201 if outcome.created else 200, booking_out(outcome.booking))


@router.post(
    "/book/{slug}/request",
    response={200: BookingOut, 201: BookingOut, **errors(*BODY_ERRORS, 404, 429)},
    summary="Leave a meeting request without a time (when no slots can be offered)",
    throttle=[WRITE_LIMIT],
)
def leave_request(request: HttpRequest, slug: str, payload: RequestIn) -> Status[Any]:
    link = _switched_on_link(slug)
    outcome = request_meeting(
        link=link,
        time_zone=payload.timezone,
        first_name=payload.first_name,
        last_name=payload.last_name,
        email=payload.email,
        message=payload.message,
        answers=payload.answers,
        idempotency_key=payload.idempotency_key,
        # The page's language (LocaleMiddleware: its cookie, else Accept-Language): mails speak it.
        language=translation.get_language() or "",
    )
    return Status(201 if outcome.created else 200, booking_out(outcome.booking))
