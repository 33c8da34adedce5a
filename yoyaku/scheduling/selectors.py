"""Read side of scheduling: turn stored hours, bookings and synced busy time into slots."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Max, Q, QuerySet

from yoyaku.accounts.busy import read_busy
from yoyaku.accounts.models import User
from yoyaku.accounts.selectors import meetings_connection
from yoyaku.availability import (
    HostAvailability,
    LinkRules,
    group_slots,
    host_slots,
    round_robin_slots,
    slots_by_local_date,
)
from yoyaku.calendars.base import CalendarError
from yoyaku.scheduling.models import Availability, Booking, BookingStatus, LinkKind, MeetingLink, Reservation

Interval = tuple[int, int]


@dataclass(frozen=True)
class SlotsResult:
    slots: dict[date, list[datetime]]
    # True when no host has a calendar: bookings become meeting requests.
    offline: bool
    # Set when a connected calendar could not be read: no slots are offered.
    calendar_error: str = ""
    time_zone: str = "UTC"
    durations: list[int] = field(default_factory=list)


def link_hosts(*, link: MeetingLink) -> list[User]:
    hosts = list(link.hosts.order_by("id"))
    return hosts or [link.owner]


def link_rules(*, link: MeetingLink, duration: int) -> LinkRules:
    return LinkRules(
        duration_minutes=duration,
        increment_minutes=link.increment_minutes,
        notice_minutes=link.notice_minutes,
        buffer_before_minutes=link.buffer_before_minutes,
        buffer_after_minutes=link.buffer_after_minutes,
        rolling_weeks=None if link.fixed_start and link.fixed_end else link.rolling_weeks,
        fixed_start=link.fixed_start,
        fixed_end=link.fixed_end,
        max_per_day=link.max_per_day,
        grid_time_zone=link.owner.time_zone,
    )


def host_hours(*, user: User) -> HostAvailability:
    """A host's working hours and date overrides alone (one query): no busy time, no bookings."""
    availability = Availability.objects.filter(user=user).first()
    weekly: dict[int, list[tuple[int, int]]] = {}
    overrides: dict[date, list[tuple[int, int]]] = {}
    if availability is not None:
        weekly = {int(day): [(a, b) for a, b in spans] for day, spans in availability.weekly.items()}
        overrides = {
            date.fromisoformat(day): [(a, b) for a, b in spans]
            for day, spans in availability.overrides.items()
        }
    return HostAvailability(
        host_id=str(user.pk), time_zone=user.time_zone, weekly=weekly, overrides=overrides
    )


def host_inputs(
    *,
    user: User,
    link: MeetingLink,
    busy: Sequence[Interval],
    window_start: datetime,
    window_end: datetime,
    exclude_booking: uuid.UUID | None = None,
) -> HostAvailability:
    """Everything the engine needs about one host, read with two small queries.

    Every active reservation of the host blocks its time, whatever the page; the per-day count is
    of ``link``'s bookings only, because ``MeetingLink.max_per_day`` is a rule of the page ("at most
    N meetings a day from this page"), counted per host: each host of a group or round robin page
    takes at most that many of the page's meetings a day, and meetings from the host's other pages
    do not use up this page's allowance.

    ``exclude_booking``: a booking being moved, whose own reservation must not block its new time.
    """
    hours = host_hours(user=user)
    zone = ZoneInfo(user.time_zone)
    # Reservations one day either side: buffers and per-day limits reach past the window.
    reservations = Reservation.objects.filter(
        host=user,
        active=True,
        end__gt=window_start - timedelta(days=1),
        start__lt=window_end + timedelta(days=1),
    )
    if exclude_booking is not None:
        reservations = reservations.exclude(booking_id=exclude_booking)
    spans = list(reservations.values_list("start", "end", "booking__start", "booking__link_id"))
    booked = sorted((int(s.timestamp()), int(e.timestamp())) for s, e, _, _ in spans)
    per_day = Counter(
        meeting_start.astimezone(zone).date()
        for _, _, meeting_start, link_id in spans
        if meeting_start and link_id == link.pk
    )
    return HostAvailability(
        host_id=hours.host_id,
        time_zone=hours.time_zone,
        weekly=hours.weekly,
        overrides=hours.overrides,
        busy=sorted(busy),
        booked=booked,
        bookings_per_day=dict(per_day),
    )


def available_slots(
    *,
    link: MeetingLink,
    start: datetime,
    end: datetime,
    time_zone: str,
    duration: int,
    now: datetime,
    only_host_id: int | None = None,
) -> SlotsResult:
    """The page's free slots; ``only_host_id`` keeps one host of a round robin page (a booker moving
    their meeting keeps its host, so only that host's times are offered)."""
    hosts = link_hosts(link=link)
    if only_host_id is not None and link.kind == LinkKind.ROUND_ROBIN:
        hosts = [host for host in hosts if host.pk == only_host_id]
        if not hosts:  # no longer a host of the page: nothing to offer
            return SlotsResult(slots={}, offline=False, time_zone=time_zone)
    rules = link_rules(link=link, duration=duration)
    # Busy time is needed a little beyond the window because of buffers.
    margin = timedelta(minutes=link.buffer_before_minutes + link.buffer_after_minutes + duration)
    inputs: list[HostAvailability] = []
    connected = 0
    errors: list[str] = []
    for host in hosts:
        connection = meetings_connection(user=host)
        busy: list[Interval] = []
        if connection is not None:
            connected += 1
            try:
                busy = read_busy(connection=connection, start=start - margin, end=end + margin)
            except CalendarError as error:
                errors.append(str(error))
                if link.kind != LinkKind.ROUND_ROBIN:
                    # Fail closed: never offer a time computed without a host's calendar.
                    return SlotsResult(
                        slots={}, offline=True, calendar_error=str(error), time_zone=time_zone
                    )
                continue  # round robin: this host is simply not offered
        inputs.append(host_inputs(user=host, link=link, busy=busy, window_start=start, window_end=end))
    if not inputs:
        return SlotsResult(slots={}, offline=True, calendar_error=errors[0], time_zone=time_zone)
    window_start, window_end, now_ts = int(start.timestamp()), int(end.timestamp()), int(now.timestamp())
    starts: list[int]
    if link.kind == LinkKind.GROUP:
        starts = group_slots(
            hosts=inputs, rules=rules, window_start=window_start, window_end=window_end, now=now_ts
        )
    elif link.kind == LinkKind.ROUND_ROBIN:
        starts = list(
            round_robin_slots(
                hosts=inputs, rules=rules, window_start=window_start, window_end=window_end, now=now_ts
            )
        )
    else:
        starts = host_slots(
            host=inputs[0], rules=rules, window_start=window_start, window_end=window_end, now=now_ts
        )
    return SlotsResult(
        slots=slots_by_local_date(slots=starts, time_zone=time_zone),
        offline=connected == 0,
        time_zone=time_zone,
    )


def last_booked_at(*, link: MeetingLink, host_ids: Sequence[int]) -> dict[str, int | None]:
    rows = dict(
        Booking.objects.filter(link=link, assigned_host_id__in=host_ids)
        .exclude(status=BookingStatus.CANCELLED)
        .values_list("assigned_host_id")
        .annotate(latest=Max("created_at"))
    )
    return {str(h): int(rows[h].timestamp()) if h in rows else None for h in host_ids}


# -- what hosts see of their bookings and requests ---------------------------------------

HOST_LIST_LIMIT = 200


def bookings_of_host(*, user: User) -> QuerySet[Booking]:
    # A host sees meetings assigned to them, meetings that reserve their time (group
    # pages assign the owner but reserve every host) and everything on pages they own.
    ids = (
        Booking.objects.filter(
            Q(assigned_host=user)
            | Q(reservations__host=user, reservations__active=True)
            | Q(link__owner=user)
        )
        .values("pk")
        .distinct()
    )
    return Booking.objects.filter(pk__in=ids).select_related("link", "contact", "assigned_host")


def host_bookings(
    *,
    user: User,
    after: datetime,
    include_cancelled: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[Booking]:
    """Meetings with a time that ends after ``after``, soonest first (the host's upcoming meetings).

    Requests for a time are left out: they are not meetings until the host confirms them
    (``meeting_requests`` lists them).
    """
    statuses = [BookingStatus.CONFIRMED] + ([BookingStatus.CANCELLED] if include_cancelled else [])
    rows = (
        bookings_of_host(user=user)
        .filter(status__in=statuses, end__gt=after)
        .order_by("start", "created_at", "pk")
    )
    return list(rows[offset : offset + min(limit, HOST_LIST_LIMIT)])


def meeting_requests(
    *, user: User, now: datetime, include_past: bool = False, limit: int = 50, offset: int = 0
) -> list[Booking]:
    """Requests left on the host's pages (offline pages, unreadable calendars), newest first.

    A request for a time that has passed can no longer be met as asked; it is left out
    unless ``include_past``. Requests without a time never expire.
    """
    rows = bookings_of_host(user=user).filter(status=BookingStatus.REQUESTED)
    if not include_past:
        rows = rows.filter(Q(start__isnull=True) | Q(start__gt=now))
    return list(rows.order_by("-created_at", "pk")[offset : offset + min(limit, HOST_LIST_LIMIT)])


# -- pages a user co-hosts ----------------------------------------------------------------


def co_hosted_links(*, user: User) -> QuerySet[MeetingLink]:
    """Pages of another owner of the user's workspace on which the user is a host."""
    return (
        MeetingLink.objects.filter(hosts=user, owner__workspace_id=user.workspace_id)
        .exclude(owner=user)
        .select_related("owner")
        .order_by("slug")
    )


def co_hosted_link(*, user: User, slug: str) -> MeetingLink | None:
    return co_hosted_links(user=user).filter(slug=slug).first()
