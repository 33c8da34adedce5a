"""Formatting shared by the host pages."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import dateformat, timezone
from django.utils.translation import gettext, pgettext

from yoyaku.crm.models import MeetingOutcome
from yoyaku.scheduling.models import Booking
from yoyaku.scheduling.selectors import booking_outcome

register = template.Library()


@register.simple_tag
def meeting_when(start: datetime | None, end: datetime | None = None) -> str:
    """Like "Fri, Nov 27, 2026 · 10:00-10:30" (with an en dash), in the active zone and language."""
    if start is None:
        return ""
    # Django date format characters; translators reorder them for their language.
    day = dateformat.format(timezone.localtime(start), pgettext("date format with weekday", "D, M j, Y"))
    begins = dateformat.time_format(timezone.localtime(start), "H:i")
    if end is None:
        return gettext("%(day)s · %(time)s") % {"day": day, "time": begins}
    ends = dateformat.time_format(timezone.localtime(end), "H:i")
    span = gettext("%(day)s · %(start)s–%(end)s")  # noqa: RUF001 - the en dash of a time range
    return span % {"day": day, "start": begins, "end": ends}


@register.simple_tag
def short_date(value: datetime | None) -> str:
    if value is None:
        return ""
    return dateformat.format(timezone.localtime(value), pgettext("short date", "M j, Y"))


@register.simple_tag
def outcome_label(booking: Booking) -> tuple[str, str]:
    """A past meeting's outcome: its key and its label in the active language."""
    key = booking_outcome(booking)
    labels = dict(MeetingOutcome.choices)
    return key, str(labels.get(key, key))
