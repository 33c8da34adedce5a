"""Formatting shared by the host pages (the helpers themselves are in ``yoyaku.formatting``)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from yoyaku.formatting import format_date, format_when

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
