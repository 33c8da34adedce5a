"""Small helpers shared by the signed-in (host) pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest
from django.utils import timezone

from yoyaku.accounts.models import User


def host_user(request: HttpRequest) -> User:
    """The signed-in user (views call this behind ``login_required``)."""
    user = request.user
    assert isinstance(user, User)
    return user


@contextmanager
def in_user_zone(user: User) -> Iterator[None]:
    """Show times in the host's own zone, which is also the zone of their working hours."""
    try:
        zone = ZoneInfo(user.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    with timezone.override(zone):
        yield
