"""Writes hosts make: their working hours and their meeting links."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext

from yoyaku.accounts.models import User
from yoyaku.accounts.selectors import workspace_users
from yoyaku.scheduling.models import Availability, LinkKind, MeetingLink
from yoyaku.scheduling.validation import BookingInputError, check_time_zone

Span = tuple[int, int]


def _clean_spans(spans: Sequence[Sequence[int]], *, field: str) -> list[list[int]]:
    cleaned = sorted((int(a), int(b)) for a, b in spans)
    for a, b in cleaned:
        if not (0 <= a < b <= 1440):
            raise BookingInputError(
                {field: f"[{a}, {b}] is not a span of minutes within a day (0 <= start < end <= 1440)."}
            )
    for (_, end), (start, _) in itertools.pairwise(cleaned):
        if start < end:
            raise BookingInputError({field: "Working hours on one day must not overlap."})
    return [[a, b] for a, b in cleaned]


def set_availability(
    *,
    user: User,
    time_zone: str,
    weekly: Mapping[Any, Sequence[Sequence[int]]],
    overrides: Mapping[date, Sequence[Sequence[int]]],
) -> Availability:
    check_time_zone(time_zone, field="time_zone")
    clean_weekly = {str(day): _clean_spans(spans, field=f"weekly.{day}") for day, spans in weekly.items()}
    clean_overrides = {
        day.isoformat(): _clean_spans(spans, field=f"overrides.{day.isoformat()}")
        for day, spans in overrides.items()
    }
    with transaction.atomic():
        user.time_zone = time_zone
        user.save(update_fields=["time_zone"])
        availability, _ = Availability.objects.update_or_create(
            user=user, defaults={"weekly": clean_weekly, "overrides": clean_overrides}
        )
    return availability


class LinkConflict(Exception):
    pass


LINK_FIELDS = (
    "name",
    "kind",
    "durations",
    "increment_minutes",
    "notice_minutes",
    "change_notice_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "rolling_weeks",
    "fixed_start",
    "fixed_end",
    "max_per_day",
    "prioritize_contact_owner",
    "form_fields",
    "location",
    "confirmation_message",
    "redirect_url",
    "active",
)


def _check_link(link: MeetingLink, hosts: list[User]) -> None:
    errors: dict[str, str] = {}
    if (link.fixed_start is None) != (link.fixed_end is None):
        errors["fixed_end"] = "Give both fixed_start and fixed_end, or neither."
    elif link.fixed_start and link.fixed_end and link.fixed_end < link.fixed_start:
        errors["fixed_end"] = "fixed_end must not be before fixed_start."
    if link.fixed_start is None and not link.rolling_weeks:
        errors["rolling_weeks"] = "Give rolling_weeks, or a fixed date range."
    if link.kind != LinkKind.ONE_ON_ONE and len(hosts) < 2:
        errors["host_usernames"] = "Group and round robin pages need at least two hosts."
    if link.kind == LinkKind.ONE_ON_ONE and len(hosts) > 1:
        errors["host_usernames"] = "A one-on-one page has one host."
    keys = [f["key"] for f in link.form_fields]
    if len(keys) != len(set(keys)):
        errors["form_fields"] = "Each form field needs its own key."
    if keys and set(keys) & {"first_name", "last_name", "email"}:
        errors["form_fields"] = "first_name, last_name and email are always asked; do not add them again."
    for spec in link.form_fields:
        if spec.get("type") == "select" and not spec.get("options"):
            errors["form_fields"] = f"The select field {spec['key']!r} needs options."
    if link.redirect_url and not link.redirect_url.startswith(("https://", "http://")):
        errors["redirect_url"] = "The redirect URL must start with https://."
    if errors:
        raise BookingInputError(errors)


def _resolve_hosts(*, owner: User, usernames: Sequence[str] | None) -> list[User]:
    if not usernames:
        return [owner]
    # Only users of the owner's workspace can host its pages. A name outside it gets the
    # message an unknown name gets, so the answer tells nothing about other workspaces.
    found = {u.username: u for u in workspace_users(workspace_id=owner.workspace_id, usernames=usernames)}
    missing = [name for name in dict.fromkeys(usernames) if name not in found]
    if missing:
        raise BookingInputError(
            {
                "host_usernames": gettext("No user of your workspace has the username: %(names)s.")
                % {"names": ", ".join(missing)}
            }
        )
    return [found[name] for name in dict.fromkeys(usernames)]


def _set_hosts(*, link: MeetingLink, hosts: list[User], before: set[int]) -> None:
    link.hosts.set(hosts)
    notify_added_hosts(link=link, before=before)


def notify_added_hosts(*, link: MeetingLink, before: set[int]) -> None:
    """Mail the page's hosts who were not among ``before`` (user ids) and are not its owner."""
    added = [pk for pk in link.hosts.values_list("pk", flat=True) if pk not in before and pk != link.owner_id]
    if added:
        from yoyaku.scheduling.notifications import send_co_host_notices

        # After commit, so no mail speaks of a page that was rolled back.
        transaction.on_commit(lambda: send_co_host_notices(link_id=link.pk, user_ids=added), robust=True)


def create_link(*, owner: User, slug: str, host_usernames: Sequence[str] = (), **fields: Any) -> MeetingLink:
    if MeetingLink.objects.filter(slug=slug).exists():
        raise LinkConflict(f"The address /m/{slug} is taken; choose another slug.")
    hosts = _resolve_hosts(owner=owner, usernames=host_usernames)
    link = MeetingLink(owner=owner, slug=slug, **{k: v for k, v in fields.items() if k in LINK_FIELDS})
    _check_link(link, hosts)
    with transaction.atomic():
        link.save()
        _set_hosts(link=link, hosts=hosts, before=set())
    return link


def update_link(
    *, link: MeetingLink, host_usernames: Sequence[str] | None = None, **fields: Any
) -> MeetingLink:
    for key, value in fields.items():
        if key in LINK_FIELDS:
            setattr(link, key, value)
    before = list(link.hosts.all())
    hosts = before
    if host_usernames is not None:
        hosts = _resolve_hosts(owner=link.owner, usernames=host_usernames)
    _check_link(link, hosts)
    with transaction.atomic():
        link.save()
        _set_hosts(link=link, hosts=hosts, before={h.pk for h in before})
    return link


class CannotLeave(Exception):
    """The user may not leave this page: they own it (owners delete pages instead)."""


def leave_link(*, user: User, link: MeetingLink) -> MeetingLink:
    """Take ``user`` off a page they co-host: its free/busy no longer shows theirs and new bookings
    no longer land in their calendar. Meetings already booked stay as they are.

    A group or round robin page left with one host is deactivated: it would no longer be the
    kind of page its owner made.
    """
    if link.owner_id == user.pk:
        raise CannotLeave(gettext("You own this page; delete it instead of leaving it."))
    with transaction.atomic():
        link.hosts.remove(user)
        if link.kind != LinkKind.ONE_ON_ONE and link.hosts.count() < 2 and link.active:
            link.active = False
            link.save(update_fields=["active"])
    return link


def delete_link(*, link: MeetingLink) -> None:
    """Remove a page. Pages with bookings are kept, deactivated, so their history stays intact."""
    if link.bookings.exists():
        link.active = False
        link.save(update_fields=["active"])
    else:
        link.delete()
