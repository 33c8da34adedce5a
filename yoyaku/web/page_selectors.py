"""Reads of the page and hours editors: the host's own pages, the workspace's possible co-hosts and
the preview of a page's coming week."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet

from yoyaku.accounts.models import User
from yoyaku.scheduling.models import MeetingLink
from yoyaku.scheduling.selectors import SlotsResult, available_slots

PREVIEW_DAYS = 7


def own_links(*, user: User) -> QuerySet[MeetingLink]:
    """Pages the user owns (co-hosted pages are edited by their owner)."""
    return MeetingLink.objects.filter(owner=user).prefetch_related("hosts").order_by("name", "slug")


def own_link(*, user: User, slug: str) -> MeetingLink | None:
    return own_links(user=user).filter(slug=slug).first()


def co_host_choices(*, user: User) -> list[tuple[str, str]]:
    """(username, shown name) of the active users of the user's workspace, the user left out."""
    users = (
        User.objects.filter(workspace_id=user.workspace_id, is_active=True)
        .exclude(pk=user.pk)
        .order_by("first_name", "last_name", "username")
    )
    return [(u.username, f"{u.display_name} ({u.username})") for u in users]


@dataclass(frozen=True)
class Preview:
    link: MeetingLink
    duration: int
    days: list[tuple[date, list[datetime]]]
    offline: bool
    calendar_error: str
    time_zone: str


def week_preview(*, link: MeetingLink, viewer: User, now: datetime, duration: int | None = None) -> Preview:
    """The page's slots for the coming week as a booker in the viewer's zone sees them: the public
    availability selector itself, so the preview cannot disagree with the booking page."""
    minutes = duration if duration is not None and duration in link.durations else (link.durations or [30])[0]
    result: SlotsResult = available_slots(
        link=link,
        start=now,
        end=now + timedelta(days=PREVIEW_DAYS),
        time_zone=viewer.time_zone,
        duration=minutes,
        now=now,
    )
    return Preview(
        link=link,
        duration=minutes,
        days=sorted(result.slots.items()),
        offline=result.offline,
        calendar_error=result.calendar_error,
        time_zone=viewer.time_zone,
    )


def draft_preview(*, viewer: User, now: datetime, write: Callable[[], MeetingLink | None]) -> Preview | None:
    """The preview of changes not saved yet: ``write`` saves them (a page, or the viewer's hours)
    inside a transaction that is always rolled back, and the preview is read from that state by
    the same selector the booking page uses. Nothing is kept, and no mail goes out (notices wait
    for a commit that never comes). ``write`` returns the page to preview (None: nothing to show).
    """
    with transaction.atomic():
        link = write()
        preview = None if link is None else week_preview(link=link, viewer=viewer, now=now)
        transaction.set_rollback(True)
    viewer.refresh_from_db()
    return preview
