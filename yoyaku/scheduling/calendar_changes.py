"""Bookings follow their events on the calendar (moved, cancelled, attendees' answers).

Called by the sync (``calendar_sync.changes.follow_store_changes``) inside the transaction that
applied the changes, so a failure here rolls the sync position back and the change is read again.

Rules:

- Only a booking whose calendar write is settled (``written``) follows: while Yoyaku's own write,
  move or cancellation is pending, the store may still show the old event, and following it would
  undo the host's change in Yoyaku.
- Only bookings whose event the syncing connection holds follow (``event_calendar``): the ones it
  wrote, the ones a connection to the same account wrote before the host connected it again, and,
  when it is the host's meetings connection, those written before connections were recorded. A
  booking written on a calendar since disconnected never follows an event of another calendar that
  happens to carry its id. Only the calendar that receives bookings counts.
- Moved: the booking, its reservations (with the page's buffers) and its CRM meeting take the new
  time; nothing is written back. A time that collides with another active reservation of one of its
  hosts is not taken: the booking and its reservations keep their time (so Yoyaku never holds two
  meetings for one host at once, which PostgreSQL's exclusion constraint would refuse anyway), the
  calendar's time and the meeting it collides with are recorded on the booking for the host to
  settle (dashboard, host API), and logged. A later move to a free time, or back, clears it.
- Deleted or cancelled: the booking is cancelled by "calendar", its time freed, its calendar state
  ``cancelled`` (nothing to write back), its CRM meeting cancelled.
- Who is told: Google and Microsoft 365 mail the attendees themselves. On CalDAV Yoyaku is the
  attendees' scheduling agent (SCHEDULE-AGENT=CLIENT, RFC 6638 §7.1), so the booker gets Yoyaku's
  update or cancellation mail. The host made the change and sees it on the dashboard.
- Attendees' answers are kept on the booking and its CRM meeting; a booker who declines does not
  cancel the booking (the host decides), the dashboard shows it.

Reads take a fixed number of queries whatever the number of events (one ``__in`` query per 500
ids for bookings, stored events and reservations); writes are batched, except a move, which
changes each booking's own times and runs in its own savepoint so a refused overlap is recorded.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q

from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.accounts.selectors import meetings_connection
from yoyaku.calendar_sync.changes import StoreChanges
from yoyaku.calendar_sync.followed import (
    StoredEvent,
    answers_of,
    chunked,
    fates_of,
    mail_sequence,
    queue_follow_up_mail,
    touched_ids,
    write_fields,
    writes_to,
)
from yoyaku.calendars.capabilities import capabilities
from yoyaku.crm.calendar_follow import follow_crm_meetings
from yoyaku.crm.models import Meeting, MeetingOutcome
from yoyaku.scheduling.calendar_writes import booking_event_draft, settled
from yoyaku.scheduling.event_calendar import calendar_account
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, MeetingLink, Reservation
from yoyaku.scheduling.notifications import send_cancellation, send_update
from yoyaku.scheduling.services import CONFLICT_FIELDS, lock_hosts

logger = logging.getLogger(__name__)

_ANSWER_FIELDS = ["attendee_responses"]


def follow_booked_events(*, connection: CalendarConnection, changes: StoreChanges, now: datetime) -> None:
    """Make the bookings and CRM meetings written on ``connection`` follow what the sync changed."""
    if not capabilities(connection.provider).event_sync:
        return  # Exchange: busy time only, nothing flows back (it never reaches the hook anyway)
    if not changes or not writes_to(connection=connection, calendar_id=changes.calendar_id):
        return
    ids = touched_ids(changes)
    serves_pages = meetings_connection(user=connection.user) == connection
    _follow_bookings(
        connection=connection, serves_pages=serves_pages, changes=changes, event_ids=ids, now=now
    )
    follow_crm_meetings(connection=connection, changes=changes, event_ids=ids, now=now)


# What following reads of a booking: model rows cost most of the time at 10,000 bookings, so only
# these columns (a mail about a booking reads it whole again).
_READ = (
    "id",
    "start",
    "end",
    "email",
    "link",
    "calendar_event_id",
    "attendee_responses",
    *CONFLICT_FIELDS,
    "meeting__id",
    "meeting__attendee_responses",
)


def _held_by(*, connection: CalendarConnection, serves_pages: bool) -> Q:
    """The bookings whose event ``connection`` holds, as ``event_calendar.event_calendar`` decides."""
    held = Q(calendar_connection=connection)
    if serves_pages:
        # The same account, connected again since the event was written (a new row); or an event
        # written before connections were recorded.
        held |= Q(calendar_connection__isnull=True, calendar_account__in=["", calendar_account(connection)])
    return held


def _linked_bookings(
    *, connection: CalendarConnection, serves_pages: bool, event_ids: list[str]
) -> list[Booking]:
    held = _held_by(connection=connection, serves_pages=serves_pages)
    found: list[Booking] = []
    for batch in chunked(event_ids):
        found += (
            Booking.objects.filter(
                held,
                assigned_host_id=connection.user_id,
                status=BookingStatus.CONFIRMED,
                calendar_write=CalendarWrite.WRITTEN,
                calendar_event_id__in=batch,
            )
            .select_related("meeting")
            .only(*_READ)
        )
    return found


@dataclass
class _Plan:
    # With the stored event, None when it is gone.
    cancelled: list[tuple[Booking, StoredEvent | None]] = field(default_factory=list)
    moved: list[tuple[Booking, StoredEvent]] = field(default_factory=list)
    # Bookings whose answers or conflict changed, by id.
    touched: dict[uuid.UUID, Booking] = field(default_factory=dict)
    meetings: list[Meeting] = field(default_factory=list)


def _follow_bookings(
    *,
    connection: CalendarConnection,
    serves_pages: bool,
    changes: StoreChanges,
    event_ids: list[str],
    now: datetime,
) -> None:
    bookings = _linked_bookings(connection=connection, serves_pages=serves_pages, event_ids=event_ids)
    if not bookings:
        return
    plan = _Plan()
    for booking, fate in fates_of(changes=changes, linked=bookings):
        if fate.fate in ("cancelled", "deleted"):
            plan.cancelled.append((booking, fate.row))
            continue
        if fate.row is None:
            continue
        _take_answers(booking=booking, row=fate.row, plan=plan)
        if (fate.row.start, fate.row.end) != (booking.start, booking.end):
            plan.moved.append((booking, fate.row))
        elif booking.calendar_conflict_start is not None:
            # The event is back at the booked time: nothing collides any more.
            _clear_conflict(booking)
            _touch(plan.touched, booking)
    _cancel(connection=connection, cancelled=plan.cancelled, now=now)
    _move(connection=connection, moves=plan.moved, plan=plan, now=now)
    write_fields(rows=plan.touched.values(), fields=[*_ANSWER_FIELDS, *CONFLICT_FIELDS])
    write_fields(rows=plan.meetings, fields=_ANSWER_FIELDS)


def _touch(rows: dict[uuid.UUID, Booking], booking: Booking) -> None:
    rows[booking.pk] = booking


def _take_answers(*, booking: Booking, row: StoredEvent, plan: _Plan) -> None:
    answers = answers_of(row)
    if answers != booking.attendee_responses:
        booking.attendee_responses = answers
        _touch(plan.touched, booking)
    meeting = booking.meeting
    if meeting is not None and meeting.attendee_responses != answers:
        meeting.attendee_responses = answers
        plan.meetings.append(meeting)


def _clear_conflict(booking: Booking) -> None:
    booking.calendar_conflict_start = None
    booking.calendar_conflict_end = None
    booking.calendar_conflict_with = None


def _cancel(
    *, connection: CalendarConnection, cancelled: list[tuple[Booking, StoredEvent | None]], now: datetime
) -> None:
    if not cancelled:
        return
    bookings = [booking for booking, _row in cancelled]
    ids = [b.pk for b in bookings]
    fields = {
        "status": BookingStatus.CANCELLED,
        "cancelled_by": "calendar",
        "cancel_reason": "",
        "calendar_conflict_start": None,
        "calendar_conflict_end": None,
        "calendar_conflict_with": None,
        # Cancelled on the calendar already: nothing is written back.
        **settled(CalendarWrite.CANCELLED),
    }
    for booking_ids in chunked(ids):
        Booking.objects.filter(pk__in=booking_ids).update(**fields)
        Reservation.objects.filter(booking_id__in=booking_ids).update(active=False)
    for meeting_ids in chunked([b.meeting_id for b in bookings if b.meeting_id is not None]):
        Meeting.objects.filter(pk__in=meeting_ids).update(outcome=MeetingOutcome.CANCELLED)
    for booking, row in cancelled:
        for name, value in fields.items():
            setattr(booking, name, value)
        logger.info(
            "Booking %s follows its event %s: cancelled on the calendar",
            booking.pk,
            booking.calendar_event_id,
        )
        if connection.provider == Provider.CALDAV:
            _mail_booker(connection=connection, booking=booking, row=row, now=now, send=send_cancellation)


def _whole(booking: Booking) -> Booking:
    """The booking as this transaction now holds it, every column and its page and host: what a mail
    about it reads."""
    return Booking.objects.select_related("link", "assigned_host", "calendar_connection").get(pk=booking.pk)


def _mail_booker(
    *,
    connection: CalendarConnection,
    booking: Booking,
    row: StoredEvent | None,
    now: datetime,
    send: Callable[..., None],
) -> None:
    """Queue ``send`` (``send_update`` or ``send_cancellation``) about the booking as it now stands."""
    sequence = mail_sequence(row=row, now=now)

    def queue() -> None:
        whole = _whole(booking)
        send(booking=whole, draft=booking_event_draft(booking=whole), sequence=sequence)

    queue_follow_up_mail(event_id=booking.calendar_event_id, connection_id=connection.pk, send=queue)


# Per host: each booking's reserved span (start, end), by booking id.
Spans = dict[int, dict[uuid.UUID, tuple[datetime, datetime]]]


def _move(
    *, connection: CalendarConnection, moves: list[tuple[Booking, StoredEvent]], plan: _Plan, now: datetime
) -> None:
    if not moves:
        return
    own: dict[uuid.UUID, set[int]] = defaultdict(set)
    for batch in chunked([b.pk for b, _row in moves]):
        for booking_id, host_id in Reservation.objects.filter(booking_id__in=batch, active=True).values_list(
            "booking_id", "host_id"
        ):
            own[booking_id].add(host_id)
    links = MeetingLink.objects.in_bulk({b.link_id for b, _row in moves})
    # The buffered spans the moved bookings ask for.
    wanted = {
        booking.pk: (
            row.start - timedelta(minutes=links[booking.link_id].buffer_before_minutes),
            row.end + timedelta(minutes=links[booking.link_id].buffer_after_minutes),
        )
        for booking, row in moves
    }
    host_ids = sorted({host for hosts in own.values() for host in hosts})
    # Under the hosts' lock, like a move made in Yoyaku: a booking racing for the new time waits.
    lock_hosts(host_ids=host_ids)
    spans = _spans_around(wanted=list(wanted.values()), host_ids=host_ids, now=now)
    for booking, row in moves:
        start, end = wanted[booking.pk]
        hosts = own[booking.pk]
        collides = _first_collision(spans=spans, hosts=hosts, start=start, end=end, booking_id=booking.pk)
        if collides is None and _take_time(booking=booking, row=row, start=start, end=end):
            for host in hosts:
                spans[host][booking.pk] = (start, end)
            logger.info(
                "Booking %s follows its event %s to %s", booking.pk, booking.calendar_event_id, row.start
            )
            if connection.provider == Provider.CALDAV:
                _mail_booker(connection=connection, booking=booking, row=row, now=now, send=send_update)
            continue
        if collides is None:
            # PostgreSQL refused the span: a booking committed it a moment ago.
            collides = _colliding_booking(hosts=hosts, start=start, end=end, booking_id=booking.pk, now=now)
        _record_conflict(booking=booking, row=row, collides=collides, plan=plan)


def _spans_around(*, wanted: list[tuple[datetime, datetime]], host_ids: list[int], now: datetime) -> Spans:
    """The hosts' active reservations over the wanted spans, in one query: what a move must not overlap."""
    low = min(start for start, _end in wanted)
    high = max(end for _start, end in wanted)
    spans: Spans = defaultdict(dict)
    reservations = (
        Reservation.objects.filter(host_id__in=host_ids, active=True, start__lt=high, end__gt=low)
        .exclude(expires_at__lte=now)  # a request's lapsed hold blocks nothing
        .values_list("host_id", "start", "end", "booking_id")
    )
    for host_id, start, end, booking_id in reservations:
        spans[host_id][booking_id] = (start, end)
    return spans


def _first_collision(
    *, spans: Spans, hosts: set[int], start: datetime, end: datetime, booking_id: uuid.UUID
) -> uuid.UUID | None:
    for host in sorted(hosts):
        for other, (other_start, other_end) in spans.get(host, {}).items():
            if other != booking_id and other_start < end and start < other_end:
                return other
    return None


def _take_time(*, booking: Booking, row: StoredEvent, start: datetime, end: datetime) -> bool:
    """Move the booking, its reservations and its CRM meeting; False when the database refuses the span."""
    try:
        with transaction.atomic():
            Reservation.objects.filter(booking=booking, active=True).update(start=start, end=end)
            Booking.objects.filter(pk=booking.pk).update(
                start=row.start,
                end=row.end,
                calendar_conflict_start=None,
                calendar_conflict_end=None,
                calendar_conflict_with=None,
                attendee_responses=booking.attendee_responses,
            )
            if booking.meeting_id is not None:
                Meeting.objects.filter(pk=booking.meeting_id).update(start=row.start, end=row.end)
    except IntegrityError as error:
        if "reservation_no_overlap" not in str(error):
            raise
        return False
    booking.start, booking.end = row.start, row.end
    _clear_conflict(booking)
    return True


def _colliding_booking(
    *, hosts: set[int], start: datetime, end: datetime, booking_id: uuid.UUID, now: datetime
) -> uuid.UUID | None:
    return (
        Reservation.objects.filter(host_id__in=hosts, active=True, start__lt=end, end__gt=start)
        .exclude(booking_id=booking_id)
        .exclude(expires_at__lte=now)
        .values_list("booking_id", flat=True)
        .first()
    )


def _record_conflict(*, booking: Booking, row: StoredEvent, collides: uuid.UUID | None, plan: _Plan) -> None:
    booking.calendar_conflict_start = row.start
    booking.calendar_conflict_end = row.end
    booking.calendar_conflict_with_id = collides
    _touch(plan.touched, booking)
    logger.warning(
        "Booking %s: its event %s was moved on the calendar to %s-%s, which collides with booking %s; "
        "the booking keeps its time until the host settles it",
        booking.pk,
        booking.calendar_event_id,
        row.start.isoformat(),
        row.end.isoformat(),
        collides,
    )
