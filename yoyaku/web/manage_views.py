"""The booker's manage pages (from the links on the confirmation page and in the mails) and the
meeting's calendar file. The pages are the booking page in another mode; what they change goes
through the manage API (``api/manage.py``), JSON only and rate limited."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from yoyaku.scheduling.manage_links import add_to_calendar_ics, booking_for_token, change_refusal
from yoyaku.web.views import booking_page_context


def _gone(request: HttpRequest) -> HttpResponse:
    # The same page for a forged token and for a meeting cancelled or past: it says nothing of which.
    return render(request, "web/manage_gone.html", status=404)


def manage_page(request: HttpRequest, token: str, action: Literal["reschedule", "cancel"]) -> HttpResponse:
    booking = booking_for_token(token=token)
    if booking is None:
        return _gone(request)
    assert booking.start is not None and booking.end is not None
    duration = int((booking.end - booking.start).total_seconds() // 60)
    context = booking_page_context(
        link=booking.link,
        durations=[duration],
        mode=action,
        availabilityUrl=reverse("api-v1:managed_availability", kwargs={"token": token}),
        rescheduleUrl=reverse("api-v1:managed_reschedule", kwargs={"token": token}),
        cancelUrl=reverse("api-v1:managed_cancel", kwargs={"token": token}),
        otherUrl=reverse(
            "manage-cancel" if action == "reschedule" else "manage-reschedule", kwargs={"token": token}
        ),
        current={"start": booking.start.isoformat(), "duration": duration, "timezone": booking.time_zone},
        host=booking.assigned_host.display_name,
    )
    context["refusal"] = change_refusal(booking=booking, now=timezone.now())
    response = render(request, "web/booking.html", context)
    # The address is the permission: keep it out of caches and of other sites' Referer.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def reschedule_page(request: HttpRequest, token: str) -> HttpResponse:
    return manage_page(request, token, "reschedule")


def cancel_page(request: HttpRequest, token: str) -> HttpResponse:
    return manage_page(request, token, "cancel")


def calendar_file(request: HttpRequest, token: str) -> HttpResponse:
    """The meeting as an iCalendar file (RFC 5545), with the UID of the invitation the booker gets."""
    booking = booking_for_token(token=token)
    ics = add_to_calendar_ics(booking=booking) if booking is not None else None
    if ics is None:
        return _gone(request)
    response = HttpResponse(ics, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="meeting.ics"'
    response["Cache-Control"] = "no-store"
    return response
