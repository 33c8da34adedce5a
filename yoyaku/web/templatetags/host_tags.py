"""Formatting shared by the host pages (the helpers themselves are in ``yoyaku.formatting``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone

from yoyaku.crm.models import MeetingOutcome
from yoyaku.formatting import family_name_first, format_date, format_when, full_name
from yoyaku.scheduling.models import AttendeeResponse, Booking
from yoyaku.scheduling.selectors import booking_outcome, calendar_conflict_notice

register = template.Library()


@register.simple_tag
def meeting_when(start: datetime | None, end: datetime | None = None) -> str:
    """Like "Fri, Nov 27, 2026 · 10:00-10:30", in the active zone and language."""
    if start is None:
        return ""
    return format_when(start, end, timezone.get_current_timezone())


@register.simple_tag
def short_date(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_date(value, timezone.get_current_timezone())


@register.filter
def person_name(person: Any) -> str:
    """A contact's or booker's name in the active language's order ("山田 花子" in Japanese)."""
    return full_name(first_name=person.first_name or "", last_name=person.last_name or "")


@register.simple_tag(name="family_name_first")
def family_name_first_tag() -> bool:
    """Whether forms ask the family name first in the active language (Japanese does)."""
    return family_name_first()


@register.simple_tag
def outcome_label(booking: Booking) -> tuple[str, str]:
    """A past meeting's outcome: its key and its label in the active language."""
    key = booking_outcome(booking)
    labels = dict(MeetingOutcome.choices)
    return key, str(labels.get(key, key))


@register.simple_tag
def answer_of(row: Any, email: str) -> tuple[str, str]:
    """An attendee's answer on the calendar event of a booking or CRM meeting: its key and its label
    in the active language; ("", "") when the calendar has given none."""
    key = str(row.attendee_responses.get(email.lower(), ""))
    if key not in AttendeeResponse.values:
        return "", ""
    return key, str(AttendeeResponse(key).label)


@register.simple_tag
def conflict_notice(booking: Booking) -> str:
    """The calendar move Yoyaku could not take, in the active zone and language ("" if none)."""
    return calendar_conflict_notice(booking=booking, zone=timezone.get_current_timezone())
