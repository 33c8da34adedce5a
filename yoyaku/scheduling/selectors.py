"""Read side of scheduling: turn stored hours, bookings and synced busy time into slots."""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from functools import cached_property
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.accounts.selectors import pages_connection_of
from yoyaku.availability import (
    HostAvailability,
    LinkRules,
    group_slots,
    host_slots,
    round_robin_starts,
    slots_by_local_date,
)
from yoyaku.calendar_sync.busy import busy_of_connections
from yoyaku.calendars.base import CalendarError
from yoyaku.formatting import format_when, full_name
from yoyaku.scheduling.event_calendar import shows_own_event
from yoyaku.scheduling.models import Availability, Booking, BookingStatus, LinkKind, MeetingLink, Reservation

logger = logging.getLogger(__name__)

Interval = tuple[int, int]


@dataclass(frozen=True)
class SlotsResult:
    # True when no host has a calendar: bookings become meeting requests.
    offline: bool
    # Slot starts, epoch seconds ascending.
    starts: Sequence[int] = ()
    # Set when a connected calendar could not be read: no slots are offered.
    calendar_error: str = ""
    time_zone: str = "UTC"
    durations: list[int] = field(default_factory=list)

    @cached_property
    def slots(self) -> dict[date, list[datetime]]:
        """The starts as aware datetimes in ``time_zone``, by local date; made when first asked for (the
        API writes its answer from ``starts`` without them, see ``api/slot_times.py``)."""
        return slots_by_local_date(slots=self.starts, time_zone=self.time_zone)


def link_hosts(*, link: MeetingLink, only: Sequence[str] = (), with_hours: bool = False) -> list[User]:
    """The hosts whose times the page offers and books, by id; [] when it takes no bookings because a
    deactivated user is one it cannot do without: its owner, the host of a one-on-one page, any host of
    a group page (a group meeting needs them all). Round robin simply leaves deactivated hosts out.

    ``only``: the columns to read of each host (a page of many hosts reads as many rows).
    ``with_hours``: their working hours too, in the same query (``hosts_hours`` then reads none).
    """
    if not link.owner.is_active:
        return []
    rows = link.hosts.order_by("id")
    if with_hours:
        rows = rows.select_related("availability")
    if only:
        hours = ("availability__weekly", "availability__overrides") if with_hours else ()
        rows = rows.only(*only, "is_active", *hours)
    hosts = list(rows) or [link.owner]
    active = [host for host in hosts if host.is_active]
    if link.kind == LinkKind.ROUND_ROBIN or len(active) == len(hosts):
        return active
    return []


def has_hosts(*, link: MeetingLink) -> bool:
    """Whether ``link_hosts`` gives anyone, counted in one query without reading the hosts' rows (a
    round robin page of fifty hosts would build fifty users only to be asked for the slots next)."""
    if not link.owner.is_active:
        return False
    counts = link.hosts.aggregate(hosts=Count("id"), active=Count("id", filter=Q(is_active=True)))
    if counts["hosts"] == 0:
        return True  # a page without host rows is its owner's
    if link.kind == LinkKind.ROUND_ROBIN:
        return counts["active"] > 0
    return counts["active"] == counts["hosts"]


def switched_on_link(*, slug: str) -> MeetingLink | None:
    """The page at ``slug`` if switched on, whether or not its hosts let it take bookings: for the
    services that check that themselves as they read the hosts (``book_meeting`` raises
    ``PageClosed``, which the API answers like a page that does not exist)."""
    return MeetingLink.objects.select_related("owner__workspace").filter(slug=slug, active=True).first()


def public_link(*, slug: str) -> MeetingLink | None:
    """The page at ``slug`` when it takes bookings and requests: switched on, and with its hosts (see
    ``link_hosts``). Otherwise None: the public page and API answer as for a page that does not exist,
    which says nothing about the people behind it."""
    link = switched_on_link(slug=slug)
    if link is None or not has_hosts(link=link):
        return None
    return link


def link_rules(*, link: MeetingLink, duration: int) -> LinkRules:
    return LinkRules(
        duration_minutes=duration,
        increment_minutes=link.increment_minutes,
        notice_minutes=link.notice_minutes,
        buffer_before_minutes=link.buffer_before_minutes,
        buffer_after_minutes=link.buffer_after_minutes,
        rolling_weeks=None if link.fixed_start and link.fixed_end else link.rolling_weeks,
        rolling_days=None if link.fixed_start and link.fixed_end else link.rolling_days,
        fixed_start=link.fixed_start,
        fixed_end=link.fixed_end,
        max_per_day=link.max_per_day,
        grid_time_zone=link.owner.time_zone,
    )


def hosts_hours(*, users: Sequence[User]) -> list[HostAvailability]:
    """Each host's working hours and date overrides, in ``users``' order, in one query: no busy time,
    no bookings (``hosts_inputs`` adds those)."""
    # Read with the hosts (``link_hosts(with_hours=True)``), or here in one query.
    availabilities: dict[int, Availability | None] = {
        u.pk: getattr(u, "availability", None) for u in users if User.availability.is_cached(u)
    }
    unread = [u.pk for u in users if u.pk not in availabilities]
    if unread:
        rows = Availability.objects.filter(user_id__in=unread).only("user_id", "weekly", "overrides")
        availabilities.update({a.user_id: a for a in rows})
    result: list[HostAvailability] = []
    for user in users:
        availability = availabilities.get(user.pk)
        weekly: dict[int, list[tuple[int, int]]] = {}
        overrides: dict[date, list[tuple[int, int]]] = {}
        if availability is not None:
            weekly = {int(day): [(a, b) for a, b in spans] for day, spans in availability.weekly.items()}
            overrides = {
                date.fromisoformat(day): [(a, b) for a, b in spans]
                for day, spans in availability.overrides.items()
            }
        result.append(
            HostAvailability(
                host_id=str(user.pk), time_zone=user.time_zone, weekly=weekly, overrides=overrides
            )
        )
    return result


def holding(*, now: datetime) -> Q:
    """Reservations that block time at ``now``: a booking's, and a meeting request's until its hold lapses."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


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
    return hosts_inputs(
        users=[user],
        link=link,
        busy={user.pk: busy},
        window_start=window_start,
        window_end=window_end,
        exclude_booking=exclude_booking,
    )[0]


def hosts_inputs(
    *,
    users: Sequence[User],
    link: MeetingLink,
    busy: Mapping[int, Sequence[Interval]],
    window_start: datetime,
    window_end: datetime,
    exclude_booking: uuid.UUID | None = None,
    hours: Sequence[HostAvailability] | None = None,
) -> list[HostAvailability]:
    """What the engine needs about each host, in ``users``' order: two queries whatever their number.

    ``hours``: the hosts' ``hosts_hours``, when the caller has read them already (then one query).
    """
    ids = [u.pk for u in users]
    known = {h.host_id: h for h in hours or hosts_hours(users=users)}
    # A page's per-day limit counts the whole local day: reservations one day either side. Without
    # one, only what the page's buffers reach matters (a reservation's span carries its own buffers),
    # which keeps a booking's read small on a busy host's calendar.
    if link.max_per_day is not None:
        reach_before = reach_after = timedelta(days=1)
    else:
        reach_before = timedelta(minutes=link.buffer_before_minutes)
        reach_after = timedelta(minutes=link.buffer_after_minutes)
    reservations = Reservation.objects.filter(
        host_id__in=ids,
        active=True,
        end__gt=window_start - reach_before,
        start__lt=window_end + reach_after,
    ).filter(holding(now=timezone.now()))
    if exclude_booking is not None:
        reservations = reservations.exclude(booking_id=exclude_booking)
    spans: dict[int, list[tuple[datetime, datetime, datetime | None, int]]] = {pk: [] for pk in ids}
    for host_id, start, end, meeting_start, link_id in reservations.values_list(
        "host_id", "start", "end", "booking__start", "booking__link_id"
    ):
        spans[host_id].append((start, end, meeting_start, link_id))
    result: list[HostAvailability] = []
    for user in users:
        hours_of = known[str(user.pk)]
        zone = ZoneInfo(user.time_zone)
        mine = spans[user.pk]
        booked = sorted((int(s.timestamp()), int(e.timestamp())) for s, e, _, _ in mine)
        per_day = Counter(
            meeting_start.astimezone(zone).date()
            for _, _, meeting_start, link_id in mine
            if meeting_start and link_id == link.pk
        )
        result.append(
            HostAvailability(
                host_id=str(user.pk),
                time_zone=user.time_zone,
                weekly=hours_of.weekly,
                overrides=hours_of.overrides,
                busy=busy.get(user.pk, ()),
                booked=booked,
                bookings_per_day=dict(per_day),
            )
        )
    return result


# What ``calendar_sync.busy.index_busy`` reads of a connection's sync row.
_INDEX_READS = (
    "sync__busy_index",
    "sync__tentative_index",
    "sync__last_success_at",
    "sync__consecutive_failures",
    "sync__last_error",
    "sync__covered_until",
)


def meetings_connections(
    *, users: Sequence[User], whole: bool = False, with_sync: bool = False
) -> dict[int, CalendarConnection]:
    """Each user's meetings connection (as ``accounts.selectors.meetings_connection``), in one query.

    ``whole``: every column and the user, for calling the calendar (a booking's fresh read); else
    only what reading the index and logging its failure use, and the account a booking's event is
    matched against (``event_calendar``): a page of many hosts reads as many rows. ``with_sync``: each
    connection's sync row (its busy index) in the same query, for ``busy_of_connections``.
    """
    by_user: dict[int, list[CalendarConnection]] = defaultdict(list)
    rows = CalendarConnection.objects.filter(user_id__in=[u.pk for u in users])
    if with_sync:
        rows = rows.select_related("sync")
    if whole:
        rows = rows.select_related("user")
    else:
        rows = rows.only(
            "user_id",
            "provider",
            "purpose",
            "status",
            "status_message",
            "tentative_blocks",
            "account_email",
            "username",
            "server_url",
            *(_INDEX_READS if with_sync else ()),
        )
    for connection in rows:
        by_user[connection.user_id].append(connection)
    found = {user_id: pages_connection_of(connections) for user_id, connections in by_user.items()}
    return {user_id: connection for user_id, connection in found.items() if connection is not None}


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
    """Slots of a page, from the synced busy index: a fixed number of queries whatever the number of
    hosts, and no provider is called. ``only_host_id`` keeps one host of a round robin page (a booker
    moving their meeting keeps its host, so only that host's times are offered)."""
    # Only what the slots need of each host (a page of many hosts reads as many rows).
    hosts = link_hosts(link=link, only=("username", "time_zone"), with_hours=True)
    if not hosts:  # the page takes no bookings (a deactivated owner or host): nothing to offer
        return SlotsResult(offline=False, time_zone=time_zone)
    if only_host_id is not None and link.kind == LinkKind.ROUND_ROBIN:
        hosts = [host for host in hosts if host.pk == only_host_id]
        if not hosts:  # no longer a host of the page: nothing to offer
            return SlotsResult(offline=False, time_zone=time_zone)
    rules = link_rules(link=link, duration=duration)
    # Busy time is needed a little beyond the window because of buffers.
    margin = timedelta(minutes=link.buffer_before_minutes + link.buffer_after_minutes + duration)
    connections = meetings_connections(users=hosts, with_sync=True)
    read = busy_of_connections(connections=list(connections.values()), start=start - margin, end=end + margin)
    taking_part: list[User] = []
    busy: dict[int, Sequence[Interval]] = {}
    errors: list[str] = []
    with_calendar = bool(connections)
    for host in hosts:
        connection = connections.get(host.pk)
        if connection is None and link.kind == LinkKind.ROUND_ROBIN and with_calendar:
            # Round robin confirms only with hosts whose calendar is connected and readable
            # (services._fresh_busy); offering this host's times would offer what cannot be booked.
            continue
        if connection is not None:
            host_busy = read[connection.pk]
            if isinstance(host_busy, CalendarError):
                errors.append(str(host_busy))
                # An operator needs to know why a page offers nothing: which connection, and what failed.
                logger.warning(
                    "Calendar connection %s (%s) of %s could not be read; page %s %s: %s",
                    connection.pk,
                    connection.provider,
                    host.username,
                    link.slug,
                    "leaves this host out" if link.kind == LinkKind.ROUND_ROBIN else "offers no slots",
                    host_busy,
                )
                if link.kind != LinkKind.ROUND_ROBIN:
                    # Fail closed: never offer a time computed without a host's calendar.
                    return SlotsResult(offline=True, calendar_error=str(host_busy), time_zone=time_zone)
                continue  # round robin: this host is simply not offered
            busy[host.pk] = host_busy
        taking_part.append(host)
    if not taking_part:
        return SlotsResult(offline=True, calendar_error=errors[0], time_zone=time_zone)
    inputs = hosts_inputs(users=taking_part, link=link, busy=busy, window_start=start, window_end=end)
    window_start, window_end, now_ts = int(start.timestamp()), int(end.timestamp()), int(now.timestamp())
    starts: list[int]
    if link.kind == LinkKind.GROUP:
        starts = group_slots(
            hosts=inputs, rules=rules, window_start=window_start, window_end=window_end, now=now_ts
        )
    elif link.kind == LinkKind.ROUND_ROBIN:
        starts = round_robin_starts(
            hosts=inputs, rules=rules, window_start=window_start, window_end=window_end, now=now_ts
        )
    else:
        starts = host_slots(
            host=inputs[0], rules=rules, window_start=window_start, window_end=window_end, now=now_ts
        )
    return SlotsResult(offline=not connections, starts=starts, time_zone=time_zone)


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
    # The connection holding each event comes along: what a meeting's calendar refuses
    # (``calendar_writes.change_refusal``) is judged by it without a query per meeting.
    return Booking.objects.filter(pk__in=ids).select_related(
        "link", "contact", "assigned_host", "calendar_conflict_with__link", "calendar_connection"
    )


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


def cancelled_on_calendar(*, user: User, now: datetime, limit: int = 50) -> list[Booking]:
    """Meetings not yet over that the host deleted or cancelled on the calendar, soonest first:
    Yoyaku cancelled them to follow, and the dashboard says so."""
    rows = (
        bookings_of_host(user=user)
        .filter(status=BookingStatus.CANCELLED, cancelled_by="calendar", end__gt=now)
        .order_by("start", "created_at", "pk")
    )
    return list(rows[: min(limit, HOST_LIST_LIMIT)])


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


def free_starts(
    *, link: MeetingLink, duration: int, start: datetime, days: int, limit: int, now: datetime
) -> list[datetime]:
    """The first ``limit`` free starts of ``link`` from ``start`` over ``days`` days (UTC, soonest first):
    what a booker would be offered, e.g. to suggest instead of a time that was taken."""
    result = available_slots(
        link=link,
        start=start,
        end=start + timedelta(days=days),
        time_zone="UTC",
        duration=duration,
        now=now,
    )
    starts = [slot for day in sorted(result.slots) for slot in result.slots[day]]
    return starts[:limit]


def past_host_bookings(*, user: User, before: datetime, limit: int = 50, offset: int = 0) -> list[Booking]:
    """Meetings with a time that ended by ``before``, latest first, cancelled ones included: the host's
    past meetings, each with its outcome (the CRM meeting's: completed, no show, cancelled...)."""
    rows = (
        bookings_of_host(user=user)
        .filter(status__in=[BookingStatus.CONFIRMED, BookingStatus.CANCELLED], end__lte=before)
        .select_related("meeting")
        .order_by("-start", "-created_at", "pk")
    )
    return list(rows[offset : offset + min(limit, HOST_LIST_LIMIT)])


def booking_outcome(booking: Booking) -> str:
    """What became of a meeting: its CRM meeting's outcome, else what its state says."""
    if booking.meeting is not None:
        return booking.meeting.outcome
    return "cancelled" if booking.status == BookingStatus.CANCELLED else "scheduled"


# -- moving a meeting: the free times of the hosts who hold it -------------------------------


def reserved_hosts(*, booking: Booking) -> list[User]:
    """The hosts whose time the meeting holds (every host of a group page, else the assigned one)."""
    ids = list(Reservation.objects.filter(booking=booking, active=True).values_list("host_id", flat=True))
    if not ids:
        return [booking.assigned_host]
    return list(User.objects.filter(pk__in=ids).order_by("pk"))


def without_own_event(intervals: list[Interval], *, own: Interval, written: bool) -> list[Interval]:
    """Busy time less the meeting's own event, which is about to move.

    Adapters report busy spans without their events, so the event is known by its span: one span
    equal to the meeting's is dropped (a second event at exactly that time still blocks it).
    """
    if not written or own not in intervals:
        return intervals
    rest = list(intervals)
    rest.remove(own)
    return rest


def reschedule_slots(
    *,
    booking: Booking,
    start: datetime,
    end: datetime,
    time_zone: str,
    now: datetime,
    duration: int | None = None,
) -> SlotsResult:
    """The times a confirmed meeting can move to, as its page would offer them to the same hosts
    (round robin is not drawn again; a group page needs all its hosts), its own time not counting
    as taken. Served from the synced busy copy like the booking page; the move itself reads the
    calendars fresh. Fails closed: an unreadable calendar gives no slots and the reason."""
    assert booking.start is not None and booking.end is not None
    link = booking.link
    own_minutes = int((booking.end - booking.start).total_seconds() // 60)
    duration = duration or own_minutes
    rules = link_rules(link=link, duration=duration)
    margin = timedelta(minutes=link.buffer_before_minutes + link.buffer_after_minutes + duration)
    own = (int(booking.start.timestamp()), int(booking.end.timestamp()))
    inputs: list[HostAvailability] = []
    hosts = reserved_hosts(booking=booking)
    connections = meetings_connections(users=hosts)
    read = busy_of_connections(connections=list(connections.values()), start=start - margin, end=end + margin)
    for host in hosts:
        connection = connections.get(host.pk)
        busy: list[Interval] = []
        if connection is not None:
            host_busy = read[connection.pk]
            if isinstance(host_busy, CalendarError):
                return SlotsResult(offline=False, calendar_error=str(host_busy), time_zone=time_zone)
            written = shows_own_event(booking=booking, host_id=host.pk, connection=connection)
            busy = without_own_event(list(host_busy), own=own, written=written)
        inputs.append(
            host_inputs(
                user=host,
                link=link,
                busy=busy,
                window_start=start,
                window_end=end,
                exclude_booking=booking.pk,
            )
        )
    window_start, window_end, now_ts = int(start.timestamp()), int(end.timestamp()), int(now.timestamp())
    if len(inputs) > 1:
        starts = group_slots(
            hosts=inputs, rules=rules, window_start=window_start, window_end=window_end, now=now_ts
        )
    else:
        starts = host_slots(
            host=inputs[0], rules=rules, window_start=window_start, window_end=window_end, now=now_ts
        )
    if duration == own_minutes:
        starts = [s for s in starts if s != own[0]]  # where it is already
    return SlotsResult(offline=False, starts=starts, time_zone=time_zone)


def booker_response(booking: Booking) -> str:
    """The booker's answer on the host's calendar event ("" when the calendar has given none)."""
    return str(booking.attendee_responses.get(booking.email.lower(), ""))


def calendar_conflict_notice(*, booking: Booking, zone: str | tzinfo) -> str:
    """What the host reads about a move on the calendar Yoyaku could not take ("" when there is none).

    Times are told in ``zone`` (the host's), in the active language.
    """
    if booking.calendar_conflict_start is None:
        return ""
    names = {"when": format_when(booking.calendar_conflict_start, booking.calendar_conflict_end, zone)}
    other = booking.calendar_conflict_with
    if other is not None and other.start is not None:
        names["name"] = full_name(first_name=other.first_name, last_name=other.last_name)
        names["page"] = other.link.name
        names["other"] = format_when(other.start, other.end, zone)
        return (
            gettext(
                "Moved on your calendar to %(when)s, which collides with your meeting with %(name)s "
                "(%(page)s, %(other)s). Yoyaku keeps this meeting at its booked time so nobody is booked "
                "twice: move or cancel one of the two."
            )
            % names
        )
    return (
        gettext(
            "Moved on your calendar to %(when)s, which collides with another of your meetings. Yoyaku keeps "
            "this meeting at its booked time so nobody is booked twice: move or cancel one of the two."
        )
        % names
    )
