"""Writes hosts make: their working hours and their meeting links."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils.translation import gettext

from yoyaku.accounts.models import User
from yoyaku.accounts.selectors import workspace_users
from yoyaku.availability.rules import MAX_INCREMENT, MIN_INCREMENT
from yoyaku.scheduling.models import Availability, LinkKind, MeetingLink
from yoyaku.scheduling.validation import BookingInputError, check_time_zone

Span = tuple[int, int]


def _clean_spans(spans: Sequence[Sequence[int]], *, field: str) -> list[list[int]]:
    cleaned = sorted((int(a), int(b)) for a, b in spans)
    for a, b in cleaned:
        if not (0 <= a < b <= 1440):
            raise BookingInputError(
                {
                    field: gettext(
                        "[%(start)s, %(end)s] is not a span of minutes within a day "
                        "(0 <= start < end <= 1440)."
                    )
                    % {"start": a, "end": b}
                }
            )
    for (_, end), (start, _) in itertools.pairwise(cleaned):
        if start < end:
            raise BookingInputError({field: gettext("Working hours on one day must not overlap.")})
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
    "rolling_days",
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


# Bounds of a page's rules. The API's schemas and the dashboard's page editor both end here, so a
# page is checked the same way whichever way it is made; the editor's script mirrors them only to
# answer while the host types.
DURATION_RANGE = (5, 720)
MAX_DURATIONS = 10
INCREMENT_RANGE = (MIN_INCREMENT, MAX_INCREMENT)
NOTICE_RANGE = (0, 60 * 24 * 60)
BUFFER_RANGE = (0, 720)
ROLLING_WEEKS_RANGE = (1, 104)
ROLLING_DAYS_RANGE = (1, 730)
MAX_PER_DAY_RANGE = (1, 100)
FIXED_YEARS = (2000, 2200)
FORM_FIELD_TYPES = ("text", "textarea", "select", "checkbox", "radio", "phone")
FORM_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_FORM_FIELDS = 30
MAX_OPTIONS = 50
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,79}")
ALWAYS_ASKED = frozenset({"first_name", "last_name", "email"})


def _out_of(value: Any, bounds: tuple[int, int]) -> bool:
    return not isinstance(value, int) or isinstance(value, bool) or not bounds[0] <= value <= bounds[1]


def _between(bounds: tuple[int, int]) -> str:
    return gettext("Give a whole number from %(low)d to %(high)d.") % {"low": bounds[0], "high": bounds[1]}


def _check_form_fields(specs: Any) -> str | None:
    if not isinstance(specs, list) or len(specs) > MAX_FORM_FIELDS:
        return gettext("Give at most %(count)d questions.") % {"count": MAX_FORM_FIELDS}
    keys: list[str] = []
    for spec in specs:
        if not isinstance(spec, dict):
            return gettext("Each question needs a key, a label and a type.")
        key = spec.get("key")
        if not isinstance(key, str) or not FORM_FIELD_KEY.fullmatch(key):
            return gettext(
                "A question's key is 1 to 40 lowercase letters, digits or _, starting with a letter."
            )
        keys.append(key)
        label = spec.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            return gettext("The question %(key)s needs a label of at most 200 characters.") % {"key": key}
        if spec.get("type", "text") not in FORM_FIELD_TYPES:
            return gettext("The question %(key)s has an unknown type; use one of: %(types)s.") % {
                "key": key,
                "types": ", ".join(FORM_FIELD_TYPES),
            }
        options = spec.get("options", [])
        if not isinstance(options, list) or len(options) > MAX_OPTIONS:
            return gettext("The question %(key)s has too many options (at most %(count)d).") % {
                "key": key,
                "count": MAX_OPTIONS,
            }
        if any(not isinstance(o, str) or not o.strip() or len(o) > 200 for o in options):
            return gettext("The options of %(key)s must be non-empty texts of at most 200 characters.") % {
                "key": key
            }
        if len(set(options)) != len(options):
            return gettext("The question %(key)s lists an option twice.") % {"key": key}
        if spec.get("type") in ("select", "radio") and not options:
            return gettext("The question %(key)s needs options to choose from.") % {"key": key}
    if len(keys) != len(set(keys)):
        return gettext("Each question needs its own key.")
    if set(keys) & ALWAYS_ASKED:
        return gettext("First name, last name and email are always asked; do not add them again.")
    return None


def _check_link(link: MeetingLink, hosts: list[User]) -> None:
    """Every rule of a page, with a message per field that says what to fix (RFC 9110 422 in the API)."""
    errors: dict[str, str] = {}
    if not isinstance(link.name, str) or not link.name.strip() or len(link.name) > 200:
        errors["name"] = gettext("Give the page a name of at most 200 characters.")
    if link.kind not in LinkKind.values:
        errors["kind"] = gettext("Choose one-on-one, group or round robin.")
    durations = link.durations
    if (
        not isinstance(durations, list)
        or not 1 <= len(durations) <= MAX_DURATIONS
        or any(_out_of(d, DURATION_RANGE) for d in durations)
    ):
        errors["durations"] = gettext(
            "Give 1 to %(count)d durations, each from %(low)d to %(high)d minutes."
        ) % {"count": MAX_DURATIONS, "low": DURATION_RANGE[0], "high": DURATION_RANGE[1]}
    for name, bounds in (
        ("increment_minutes", INCREMENT_RANGE),
        ("notice_minutes", NOTICE_RANGE),
        ("change_notice_minutes", NOTICE_RANGE),
        ("buffer_before_minutes", BUFFER_RANGE),
        ("buffer_after_minutes", BUFFER_RANGE),
    ):
        if _out_of(getattr(link, name), bounds):
            errors[name] = _between(bounds)
    for name, bounds in (
        ("rolling_weeks", ROLLING_WEEKS_RANGE),
        ("rolling_days", ROLLING_DAYS_RANGE),
        ("max_per_day", MAX_PER_DAY_RANGE),
    ):
        value = getattr(link, name)
        if value is not None and _out_of(value, bounds):
            errors[name] = _between(bounds)
    for name in ("fixed_start", "fixed_end"):
        day = getattr(link, name)
        # The engine turns these into instants in the owner's zone: years a zone cannot convert
        # (year 1, 9999) would fail there, and no booking window is meant to reach them.
        if day is not None and not FIXED_YEARS[0] <= day.year <= FIXED_YEARS[1]:
            errors[name] = gettext("Give a date from the year %(low)d to %(high)d.") % {
                "low": FIXED_YEARS[0],
                "high": FIXED_YEARS[1],
            }
    if errors:
        raise BookingInputError(errors)
    if (link.fixed_start is None) != (link.fixed_end is None):
        errors["fixed_end"] = gettext("Give both the first and the last day of the range, or neither.")
    elif link.fixed_start and link.fixed_end and link.fixed_end < link.fixed_start:
        errors["fixed_end"] = gettext("The last day must not be before the first day.")
    if link.fixed_start is None and not link.rolling_weeks and not link.rolling_days:
        errors["rolling_weeks"] = gettext("Say how far ahead people can book: days, weeks or a date range.")
    if link.kind == LinkKind.ONE_ON_ONE and len(hosts) > 1:
        errors["host_usernames"] = gettext("A one-on-one page has one host.")
    elif link.kind in LinkKind.values and link.kind != LinkKind.ONE_ON_ONE and len(hosts) < 2:
        errors["host_usernames"] = gettext("Group and round robin pages need at least two hosts.")
    form_error = _check_form_fields(link.form_fields)
    if form_error:
        errors["form_fields"] = form_error
    if len(link.location or "") > 500:
        errors["location"] = gettext("The location is at most 500 characters.")
    if len(link.confirmation_message or "") > 2000:
        errors["confirmation_message"] = gettext("The confirmation message is at most 2000 characters.")
    if link.redirect_url:
        errors.update(_check_redirect(link.redirect_url))
    if errors:
        raise BookingInputError(errors)


def _check_redirect(url: str) -> dict[str, str]:
    # https only: the booker's browser is sent there with the booking's answer, so a plain-http
    # address would hand it to anyone on the network path.
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or len(url) > 500:
        return {
            "redirect_url": gettext(
                "The redirect URL must be a full https:// address, such as https://example.com/thanks."
            )
        }
    if parts.username or parts.password or any(c.isspace() for c in url):
        return {"redirect_url": gettext("The redirect URL must not hold a user name, password or spaces.")}
    return {}


def _horizon(fields: dict[str, Any]) -> dict[str, Any]:
    """A page keeps rolling days or rolling weeks, not both: the one given wins over the other."""
    if fields.get("rolling_days") is not None:
        fields["rolling_weeks"] = None
    elif fields.get("rolling_weeks") is not None:
        fields["rolling_days"] = None
    return fields


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

        # Queued in the page's transaction, so no mail speaks of a page that was rolled back.
        send_co_host_notices(link_id=link.pk, user_ids=added)


def _check_slug(slug: Any) -> str:
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise BookingInputError(
            {
                "slug": gettext(
                    "The address is 2 to 80 lowercase letters, digits or hyphens, "
                    "starting with a letter or digit."
                )
            }
        )
    if MeetingLink.objects.filter(slug=slug).exists():
        raise LinkConflict(gettext("The address /m/%(slug)s is taken; choose another.") % {"slug": slug})
    return slug


def _draft(
    *, owner: User, slug: str, host_usernames: Sequence[str], fields: Mapping[str, Any]
) -> tuple[MeetingLink, list[User]]:
    _check_slug(slug)
    hosts = _resolve_hosts(owner=owner, usernames=host_usernames)
    given = _horizon({k: v for k, v in fields.items() if k in LINK_FIELDS})
    link = MeetingLink(owner=owner, slug=slug, **given)
    _check_link(link, hosts)
    return link, hosts


def create_link(*, owner: User, slug: str, host_usernames: Sequence[str] = (), **fields: Any) -> MeetingLink:
    link, hosts = _draft(owner=owner, slug=slug, host_usernames=host_usernames, fields=fields)
    with transaction.atomic():
        link.save()
        _set_hosts(link=link, hosts=hosts, before=set())
    return link


def check_link(
    *,
    owner: User,
    link: MeetingLink | None = None,
    slug: str = "",
    host_usernames: Sequence[str] | None = None,
    **fields: Any,
) -> None:
    """Run every check ``create_link`` (``link`` None) or ``update_link`` would, and save nothing.

    The page editor calls it while the host types, so what it shows by a field is the server's
    own answer. Raises ``BookingInputError`` or ``LinkConflict`` as they do.
    """
    if link is None:
        _draft(owner=owner, slug=slug, host_usernames=host_usernames or (), fields=fields)
        return
    draft = MeetingLink(owner=link.owner, slug=link.slug, pk=link.pk)
    for name in LINK_FIELDS:
        setattr(draft, name, getattr(link, name))
    for key, value in _horizon({k: v for k, v in fields.items() if k in LINK_FIELDS}).items():
        setattr(draft, key, value)
    hosts = (
        list(link.hosts.all())
        if host_usernames is None
        else _resolve_hosts(owner=link.owner, usernames=host_usernames)
    )
    _check_link(draft, hosts)


def update_link(
    *, link: MeetingLink, host_usernames: Sequence[str] | None = None, **fields: Any
) -> MeetingLink:
    for key, value in _horizon({k: v for k, v in fields.items() if k in LINK_FIELDS}).items():
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


def duplicate_link(*, link: MeetingLink) -> MeetingLink:
    """A copy of ``link`` with the same rules, hosts and questions, at a free address ending in -copy.

    The copy starts switched off: it shows the same times as the original, and a booker should
    not meet two identical pages while the host is still changing it.
    """
    base = f"{link.slug[:70]}-copy"
    slug = base
    taken = set(MeetingLink.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    number = 2
    while slug in taken:
        slug = f"{base}-{number}"
        number += 1
    name = gettext("%(name)s (copy)") % {"name": link.name}
    fields = {name_: getattr(link, name_) for name_ in LINK_FIELDS}
    fields.update(name=name[:200], active=False)
    return create_link(
        owner=link.owner,
        slug=slug,
        host_usernames=[h.username for h in link.hosts.order_by("id")],
        **fields,
    )


def set_link_active(*, link: MeetingLink, active: bool) -> MeetingLink:
    """Switch a page on or off. An off page shows bookers that it takes no bookings."""
    if active:
        # A page is only switched on as a whole valid page (its hosts may have left meanwhile).
        _check_link(link, list(link.hosts.all()) or [link.owner])
    link.active = active
    link.save(update_fields=["active"])
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
