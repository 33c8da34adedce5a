"""Write side of scheduling: book a slot, or leave a meeting request.

A booking is accepted only if every host's calendar, read fresh, and every
active reservation leave the buffered span free. The final check and the
insert run in one transaction that the database serialises: SQLite takes its
write lock at BEGIN (IMMEDIATE mode); on PostgreSQL an exclusion constraint
refuses overlapping reservations of a host whatever happens, and where a rule
counts bookings (per-day limits) the transaction locks the hosts' rows first
(``lock_hosts``) so the count holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from yoyaku.accounts.calendar_problems import calendar_problem
from yoyaku.accounts.models import Provider, User
from yoyaku.accounts.selectors import meetings_connection
from yoyaku.availability import HostAvailability, choose_round_robin_host, is_slot_available
from yoyaku.calendar_sync.busy import read_busy, request_sync
from yoyaku.calendar_sync.models import OutboxOperation
from yoyaku.calendars.base import CalendarError
from yoyaku.crm.models import Contact, Meeting, MeetingSource
from yoyaku.crm.services import cancel_meeting, contact_for_booker, log_meeting
from yoyaku.formatting import full_name
from yoyaku.scheduling.calendar_writes import booking_event_draft, check_change_allowed, record_booking_write
from yoyaku.scheduling.event_calendar import event_connection, shows_own_event
from yoyaku.scheduling.models import (
    Booking,
    BookingStatus,
    CalendarWrite,
    LinkKind,
    MeetingLink,
    Reservation,
)
from yoyaku.scheduling.selectors import (
    has_hosts,
    host_inputs,
    hosts_hours,
    hosts_inputs,
    last_booked_at,
    link_hosts,
    link_rules,
    meetings_connections,
    reserved_hosts,
    without_own_event,
)
from yoyaku.scheduling.validation import (
    BookingInputError,
    check_start_offered,
    check_time_zone,
    clean_booker,
    durations_offered,
)

logger = logging.getLogger(__name__)
Interval = tuple[int, int]


class SlotUnavailable(Exception):
    """The slot was free when shown but is taken now."""


class CalendarUnreadable(Exception):
    """A host's calendar cannot be read, so the booking cannot be confirmed safely."""


class PageClosed(Exception):
    """The page takes no bookings or requests: its owner, or a host it cannot do without, was
    deactivated (``selectors.link_hosts``)."""


def _check_open(link: MeetingLink) -> None:
    if not has_hosts(link=link):
        raise PageClosed(link.slug)


@dataclass(frozen=True)
class BookingOutcome:
    booking: Booking
    created: bool


def book_meeting(
    *,
    link: MeetingLink,
    start: datetime,
    duration: int,
    time_zone: str,
    first_name: str,
    last_name: str,
    email: str,
    answers: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    language: str = "",
    now: datetime | None = None,
) -> BookingOutcome:
    fingerprint = request_fingerprint(
        kind="booking",
        start=start,
        duration=duration,
        time_zone=time_zone,
        first_name=first_name,
        last_name=last_name,
        email=email,
        answers=answers or {},
    )
    existing = _by_key(link=link, idempotency_key=idempotency_key, fingerprint=fingerprint)
    if existing is not None:
        return BookingOutcome(booking=existing, created=False)
    hosts = link_hosts(link=link)  # read once: the checks below and the booking use them
    if not hosts:
        raise PageClosed(link.slug)
    errors: dict[str, str] = {}
    if duration not in link.durations:
        errors["duration"] = durations_offered(link=link)
    if start.tzinfo is None:
        errors["start"] = gettext("Give the start with a UTC offset, e.g. 2027-03-01T09:00:00+01:00.")
    try:
        check_time_zone(time_zone)
    except BookingInputError as error:
        errors.update(error.errors)
    try:
        booker = clean_booker(
            link=link, first_name=first_name, last_name=last_name, email=email, answers=answers or {}
        )
    except BookingInputError as error:
        errors.update(error.errors)
    now = now or timezone.now()
    hours = hosts_hours(users=hosts)  # read once: the offer's check and the booking's use them
    if not errors.keys() & {"start", "duration"}:
        # A time the page never offers is the booker's to change (422), not taken (409).
        try:
            check_start_offered(link=link, start=start, duration=duration, now=now, hosts=hosts, hours=hours)
        except BookingInputError as error:
            errors.update(error.errors)
    if errors:
        raise BookingInputError(errors)
    end = start + timedelta(minutes=duration)
    busy, connected = _fresh_busy(link=link, hosts=hosts, start=start, end=end)
    candidates = [h for h in hosts if h.pk in busy]
    status = BookingStatus.CONFIRMED if connected else BookingStatus.REQUESTED
    for _attempt in range(3):
        try:
            booking, created = _reserve(
                link=link,
                hosts=candidates,
                hours=[h for h in hours if int(h.host_id) in busy],
                busy=busy,
                start=start,
                end=end,
                duration=duration,
                time_zone=time_zone,
                booker=booker,
                status=status,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                language=language,
                now=now,
            )
            break
        except SlotUnavailable:
            # A retry of a request whose first attempt won the slot finds it "taken" by itself.
            existing = _by_key(link=link, idempotency_key=idempotency_key, fingerprint=fingerprint)
            if existing is not None:
                return BookingOutcome(booking=existing, created=False)
            raise
        except IntegrityError as error:
            existing = _by_key(link=link, idempotency_key=idempotency_key, fingerprint=fingerprint)
            if existing is not None:
                return BookingOutcome(booking=existing, created=False)
            if "reservation_no_overlap" not in str(error):
                raise
            # PostgreSQL refused an overlap a concurrent booking committed first;
            # round robin may still find another free host, so choose again.
            if link.kind != LinkKind.ROUND_ROBIN:
                raise SlotUnavailable(gettext(_TAKEN)) from error
    else:
        raise SlotUnavailable(gettext(_TAKEN))
    if not created:
        return BookingOutcome(booking=booking, created=False)
    # The event is written by a worker from the outbox row recorded with the booking, and the mails are
    # queued with it (_reserve): the booker waits for neither.
    return BookingOutcome(booking=booking, created=True)


def booking_language(language: str) -> str:
    """The page language to keep on a booking: one the site speaks, or empty for the default."""
    if not language:
        return ""
    try:
        return translation.get_supported_language_variant(language)
    except LookupError:
        return ""


_KEY_REUSED = gettext_noop(
    "This idempotency key was already used for a different booking on this page. Send the same "
    "details again to get that booking, or a new key for a new booking."
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def request_fingerprint(*, kind: str, **fields: Any) -> str:
    """SHA-256 (hex) of a booking or request in canonical form: what an idempotency key stands for.

    Canonical JSON (sorted keys, no spaces, UTF-8) of the fields as sent, so the order of keys and
    the spacing of the body do not matter; datetimes count as instants (UTC), so one start written
    with another offset is the same request.
    """

    def plain(value: object) -> object:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.isoformat()
            # The instant as time since the epoch: exact, and unlike astimezone(UTC) it cannot
            # overflow for a start near year 1 or 9999 with an offset (which is then refused, not a 500).
            since = value - _EPOCH
            return f"{since.days}d{since.seconds}s{since.microseconds}us"
        return str(value)

    canonical = json.dumps(
        {"kind": kind, **fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=plain
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _by_key(*, link: MeetingLink, idempotency_key: str | None, fingerprint: str) -> Booking | None:
    """The booking an idempotency key already made on this page, if it was made by the same request.

    Raises BookingInputError when the key was used with a different request: answering with the
    first booking would tell the client its new request succeeded when nothing was done.
    """
    if not idempotency_key:
        return None
    existing = Booking.objects.filter(link=link, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint not in ("", fingerprint):
        raise BookingInputError({"idempotency_key": gettext(_KEY_REUSED)})
    return existing


_TAKEN = gettext_noop("Sorry, that time was just booked. Please pick another time.")


def fresh_span(*, link: MeetingLink, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """What a booking asks the calendar itself about: the meeting with the page's buffers.

    The engine forbids a start only for busy time overlapping the buffered meeting, so nothing
    outside this span can make the time taken; asking for more made a CalDAV server send, and
    Yoyaku parse, every event of the surrounding days.
    """
    return (
        start - timedelta(minutes=link.buffer_before_minutes),
        end + timedelta(minutes=link.buffer_after_minutes),
    )


def _fresh_busy(
    *, link: MeetingLink, hosts: list[User], start: datetime, end: datetime
) -> tuple[dict[int, list[Interval]], bool]:
    """Each host's busy time around the slot, read from the calendar itself (never the copy).

    Returns busy time by host id (hosts whose calendar failed are left out for
    round robin) and whether any host has a calendar at all.
    """
    span_start, span_end = fresh_span(link=link, start=start, end=end)
    busy: dict[int, list[Interval]] = {}
    connected = False
    failures: list[str] = []
    readable: set[int] = set()
    connections = meetings_connections(users=hosts, whole=True)
    for host in hosts:
        connection = connections.get(host.pk)
        if connection is None:
            busy[host.pk] = []
            continue
        connected = True
        try:
            busy[host.pk] = read_busy(connection=connection, start=span_start, end=span_end, fresh=True)
            readable.add(host.pk)
        except CalendarError as error:
            failures.append(calendar_problem(error))
            if link.kind != LinkKind.ROUND_ROBIN:
                raise CalendarUnreadable(calendar_problem(error)) from error
    if link.kind == LinkKind.ROUND_ROBIN and connected:
        # Round robin confirms only with a host whose calendar is connected and was just read:
        # a host without a calendar would get a meeting nobody checked against their time.
        busy = {pk: spans for pk, spans in busy.items() if pk in readable}
    if not busy:
        raise CalendarUnreadable(failures[0] if failures else gettext("No host calendar could be read."))
    return busy, connected


def lock_hosts(*, host_ids: Iterable[int]) -> None:
    """Serialise, per host, every check that counts bookings with the insert or move it allows.

    Call inside the booking transaction, before reading the host's reservations. The exclusion
    constraint refuses overlapping reservations, but a per-day limit is a count: two bookings of
    different free times of one day would both see the day below its limit under PostgreSQL's
    READ COMMITTED and both commit. Locking the hosts' user rows makes the second wait until the
    first commits; its next statement then sees that booking. Ids are locked in ascending order so
    two transactions locking overlapping sets of hosts (group and round robin pages) cannot
    deadlock. FOR NO KEY UPDATE does not conflict with the key-share locks that inserting rows
    which reference a user takes, so nothing else waits on it. SQLite needs nothing: IMMEDIATE
    transactions already hold the database's write lock from BEGIN, and Django skips FOR UPDATE there.
    """
    ids = sorted(set(host_ids))
    if ids:
        locked = User.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
        list(locked.values_list("pk", flat=True))


def _lock_for_new_booking(*, link: MeetingLink, host_ids: list[int]) -> None:
    """Take the hosts' lock only where a new booking needs it, so one host's bookings do not queue.

    Overlaps need no lock: PostgreSQL's exclusion constraint (``reservation_no_overlap``) refuses the
    second of two overlapping reservations, which ``book`` answers as a taken time, and on SQLite the
    IMMEDIATE transaction already serialises bookings. A count does: a page with a per-day limit
    locks, see ``lock_hosts``. So does round robin, whose choice reads the hosts' last bookings and
    whose few retries after a refused overlap could otherwise run out while a host is still free.
    Lapsed holds are freed under the lock too, so two bookings never update the same reservation rows
    in different orders; a booking that finds none (the usual case) takes no lock.
    """
    now = timezone.now()
    counts = link.max_per_day is not None or link.kind == LinkKind.ROUND_ROBIN
    if not counts and not _lapsed_holds(now=now).filter(host_id__in=host_ids).exists():
        return
    lock_hosts(host_ids=host_ids)
    release_lapsed_holds(host_ids=host_ids, now=now)


def _reserve(
    *,
    link: MeetingLink,
    hosts: list[User],
    hours: Sequence[HostAvailability],
    busy: Mapping[int, list[Interval]],
    start: datetime,
    end: datetime,
    duration: int,
    time_zone: str,
    booker: Any,
    status: str,
    idempotency_key: str | None,
    fingerprint: str,
    language: str,
    now: datetime,
) -> tuple[Booking, bool]:
    rules = link_rules(link=link, duration=duration)
    start_ts, now_ts = int(start.timestamp()), int(now.timestamp())
    with transaction.atomic():
        _lock_for_new_booking(link=link, host_ids=[h.pk for h in hosts])
        # Checked again in the transaction: a concurrent retry may have just committed it (and one still
        # in flight fails on the idempotency key's unique index once it commits, see ``book``).
        existing = _by_key(link=link, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if existing is not None:
            return existing, False
        inputs = hosts_inputs(
            users=hosts, link=link, busy=busy, window_start=start, window_end=end, hours=hours
        )
        free = [
            host
            for host, host_input in zip(hosts, inputs, strict=True)
            if is_slot_available(host=host_input, rules=rules, start=start_ts, now=now_ts)
        ]
        # The page owner's workspace holds the contact; another workspace's contacts are never matched.
        contacts = Contact.objects.filter(workspace_id=link.owner.workspace_id)
        contact = contacts.filter(email__iexact=booker.email).first()
        if link.kind == LinkKind.GROUP:
            if len(free) != len(hosts):
                raise SlotUnavailable(gettext(_TAKEN))
            assigned, reserved = link.owner, free
        elif link.kind == LinkKind.ROUND_ROBIN:
            if not free:
                raise SlotUnavailable(gettext(_TAKEN))
            chosen = choose_round_robin_host(
                free_host_ids=[str(h.pk) for h in free],
                last_booked_at=last_booked_at(link=link, host_ids=[h.pk for h in free]),
                owner_id=str(contact.owner_id) if contact and contact.owner_id else None,
                prioritize_owner=link.prioritize_contact_owner,
            )
            assigned = next(h for h in free if str(h.pk) == chosen)
            reserved = [assigned]
        else:
            if not free:
                raise SlotUnavailable(gettext(_TAKEN))
            assigned, reserved = free[0], free[:1]
        # An existing contact is left as the CRM holds it (contact_for_booker would return it as is).
        contact = contact or contact_for_booker(
            workspace=link.owner.workspace,
            email=booker.email,
            first_name=booker.first_name,
            last_name=booker.last_name,
            owner=assigned,
            time_zone=time_zone,
            properties=booker.answers,
        )
        # The name in the booker's language's order ("Intro call: 佐藤 愛子" from a Japanese page).
        title = f"{link.name}: {full_name(first_name=booker.first_name, last_name=booker.last_name)}"
        meeting = log_meeting(
            workspace=link.owner.workspace,
            title=title,
            start=start,
            end=end,
            source=MeetingSource.BOOKING,
            contacts=[contact],
            hosts=reserved,
            location=link.location,
            outcome="scheduled" if status == BookingStatus.CONFIRMED else "requested",
        )
        booking = Booking.objects.create(
            link=link,
            status=status,
            start=start,
            end=end,
            time_zone=time_zone,
            first_name=booker.first_name,
            last_name=booker.last_name,
            email=booker.email,
            answers=booker.answers,
            assigned_host=assigned,
            contact=contact,
            meeting=meeting,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            language=booking_language(language),
            calendar_write=CalendarWrite.PENDING if status == BookingStatus.CONFIRMED else CalendarWrite.NONE,
            calendar_pending_since=timezone.now() if status == BookingStatus.CONFIRMED else None,
        )
        # A request for a time holds it for a bounded time only (the receipt and the booking page say
        # so), not for as long as it waits: then the time is offered again, and confirming the request
        # checks it again (``confirm_request``).
        hold = None if status == BookingStatus.CONFIRMED else now + request_hold()
        _reserve_spans(booking=booking, hosts=reserved, start=start, end=end, expires_at=hold)
        if status == BookingStatus.CONFIRMED:
            record_booking_write(booking=booking, operation=OutboxOperation.CREATE)
            _notify_hosts(booking, change="booked", hosts=sorted(reserved, key=lambda h: h.pk), actor=None)
        else:
            _queue_request_notices(booking, hold=hold)
    return booking, True


def request_hold() -> timedelta:
    return timedelta(hours=settings.YOYAKU_REQUEST_HOLD_HOURS)


def _reserve_spans(
    *,
    booking: Booking,
    hosts: Iterable[User],
    start: datetime,
    end: datetime,
    expires_at: datetime | None = None,
) -> None:
    link = booking.link
    before = timedelta(minutes=link.buffer_before_minutes)
    after = timedelta(minutes=link.buffer_after_minutes)
    Reservation.objects.bulk_create(
        [
            Reservation(booking=booking, host=h, start=start - before, end=end + after, expires_at=expires_at)
            for h in hosts
        ]
    )


def _lapsed_holds(*, now: datetime) -> QuerySet[Reservation]:
    return Reservation.objects.filter(active=True, expires_at__lte=now)


def release_lapsed_holds(*, host_ids: Iterable[int], now: datetime) -> None:
    """Free the requests' holds that have lapsed, so the database's exclusion constraint (which sees
    every active row) lets a booking take their time. Call under the hosts' lock, before inserting."""
    _lapsed_holds(now=now).filter(host_id__in=list(host_ids)).update(active=False)


def release_lapsed_holds_everywhere(*, now: datetime) -> int:
    """Free every lapsed hold of every host; returns how many were freed. For a periodic sweep, so the
    table does not keep holds of requests nobody books over. No lock is needed: every check already
    ignores a lapsed hold (``selectors.holding``), so freeing one changes no decision, and a booking
    freeing the same rows meanwhile only waits for this update's row locks."""
    return _lapsed_holds(now=now).update(active=False)


def request_meeting(
    *,
    link: MeetingLink,
    time_zone: str,
    first_name: str,
    last_name: str,
    email: str,
    message: str,
    answers: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    language: str = "",
) -> BookingOutcome:
    """Leave a request without a time, for when the host's calendar cannot be read.

    Nothing is reserved and nothing is written to a calendar; the host sees it
    on the dashboard and replies.
    """
    fingerprint = request_fingerprint(
        kind="request",
        time_zone=time_zone,
        first_name=first_name,
        last_name=last_name,
        email=email,
        message=message,
        answers=answers or {},
    )
    existing = _by_key(link=link, idempotency_key=idempotency_key, fingerprint=fingerprint)
    if existing is not None:
        return BookingOutcome(booking=existing, created=False)
    _check_open(link)
    errors: dict[str, str] = {}
    try:
        check_time_zone(time_zone)
    except BookingInputError as error:
        errors.update(error.errors)
    try:
        booker = clean_booker(
            link=link, first_name=first_name, last_name=last_name, email=email, answers=answers or {}
        )
    except BookingInputError as error:
        errors.update(error.errors)
    if len(message) > 2000:
        errors["message"] = gettext("The message is limited to 2,000 characters.")
    if errors:
        raise BookingInputError(errors)
    try:
        with transaction.atomic():
            contact = contact_for_booker(
                workspace=link.owner.workspace,
                email=booker.email,
                first_name=booker.first_name,
                last_name=booker.last_name,
                owner=link.owner,
                time_zone=time_zone,
                properties=booker.answers,
            )
            booking = Booking.objects.create(
                link=link,
                status=BookingStatus.REQUESTED,
                time_zone=time_zone,
                first_name=booker.first_name,
                last_name=booker.last_name,
                email=booker.email,
                answers=booker.answers,
                message=message.strip(),
                assigned_host=link.owner,
                contact=contact,
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                language=booking_language(language),
            )
            _queue_request_notices(booking)
    except IntegrityError:
        # A concurrent request with the same key committed first (the key is unique per page).
        existing = _by_key(link=link, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if existing is None:
            raise
        return BookingOutcome(booking=existing, created=False)
    return BookingOutcome(booking=booking, created=True)


# The mails below are queued in the transaction of the change (yoyaku/mail): a rolled-back change
# leaves no mail, a committed one always has its mail, and the worker sends it after commit.


def _queue_request_notices(booking: Booking, *, hold: datetime | None = None) -> None:
    from yoyaku.scheduling.notifications import send_request_notices

    send_request_notices(booking=booking, hold=hold)


def _notify_hosts(booking: Booking, *, change: str, hosts: Iterable[User], actor: User | None) -> None:
    """Tell the meeting's hosts (not the one who made the change) of a booking, move or cancellation."""
    from yoyaku.scheduling.notifications import send_host_change_notices

    told = [h for h in hosts if actor is None or h.pk != actor.pk]
    if told:
        send_host_change_notices(booking=booking, change=change, hosts=told)


def _mail_cancellation(booking: Booking, *, with_ical: bool = True) -> None:
    from yoyaku.scheduling.notifications import send_cancellation

    send_cancellation(booking=booking, draft=booking_event_draft(booking=booking), with_ical=with_ical)


_CALENDAR_FIELDS = (
    "calendar_event_id",
    "calendar_write",
    "calendar_error",
    "calendar_attempts",
    "calendar_pending_since",
    "calendar_retry_at",
)


# What the sync records when a move on the calendar collides with another meeting (calendar_changes).
CONFLICT_FIELDS = ("calendar_conflict_start", "calendar_conflict_end", "calendar_conflict_with")


MAX_REASON_CHARS = 2000


def _clean_reason(reason: str, *, field: str) -> str:
    reason = reason.strip()
    if len(reason) > MAX_REASON_CHARS:
        raise BookingInputError(
            {field: gettext("The message is limited to %(count)s characters.") % {"count": "2,000"}}
        )
    return reason


def cancel_booking(
    *, booking: Booking, reason: str = "", actor: User | None = None, by_booker: bool = False
) -> Booking:
    """Free the time and take the event off the calendar.

    ``reason`` (optional): the host's is quoted to the contact in the cancellation mail; the
    booker's (``by_booker``, through the manage link) is passed on to the hosts. ``actor`` is the
    user who cancels, if a host: the meeting's other hosts are told by mail, not the actor.

    Raises CalendarOperationNotSupported, changing nothing, when the event is
    on a calendar Yoyaku may not cancel on (Exchange); BookingInputError for a reason too long.
    """
    if booking.status == BookingStatus.CANCELLED:
        return booking  # a repeated cancel must not mail the booker again
    reason = _clean_reason(reason, field="reason")
    check_change_allowed(booking=booking, change="cancel")
    hosts = reserved_hosts(booking=booking)
    with transaction.atomic():
        # Read again under the row lock (SQLite: the write lock): a retried write may have put the
        # event on the calendar since this booking was loaded, and that event must come off.
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        if current.status == BookingStatus.CANCELLED:
            booking.refresh_from_db()
            return booking  # a concurrent cancel got there first
        for name in _CALENDAR_FIELDS:
            setattr(booking, name, getattr(current, name))
        booking.calendar_connection_id = current.calendar_connection_id
        booking.calendar_account = current.calendar_account
        booking.status = BookingStatus.CANCELLED
        booking.cancel_reason = reason
        booking.cancelled_by = "booker" if by_booker else "host"
        if current.calendar_event_id:
            # Cancelled on the calendar by a worker from the outbox, retried until it is (like the write).
            booking.calendar_write = CalendarWrite.CANCEL_PENDING
            booking.calendar_pending_since = timezone.now()
            booking.calendar_attempts = 0
            booking.calendar_retry_at = None
            record_booking_write(booking=booking, operation=OutboxOperation.CANCEL)
        elif current.calendar_write in (CalendarWrite.PENDING, CalendarWrite.FAILED):
            # Not on the calendar yet, and now it never should be: stop the retries. A write in
            # flight sees the cancellation when it stores its result, and cancels its event.
            booking.calendar_write = CalendarWrite.NONE
            booking.calendar_retry_at = None
        booking.save(update_fields=["status", "cancel_reason", "cancelled_by", *_CALENDAR_FIELDS])
        Reservation.objects.filter(booking=booking).update(active=False)
        if booking.meeting is not None:
            cancel_meeting(meeting=booking.meeting)
        _notify_hosts(booking, change="cancelled", hosts=hosts, actor=actor)
        if booking.calendar_write == CalendarWrite.CANCEL_PENDING:
            # The calendar the event is on cancels it (none when it is no longer connected).
            connection = event_connection(booking=booking)
            if reason and not by_booker and connection is not None and connection.provider != Provider.CALDAV:
                # Google and Microsoft mail the cancellation themselves, without a word of the reason: the
                # reason comes in Yoyaku's own mail, without an .ics (the provider's cancels the entry).
                _mail_cancellation(booking, with_ical=False)
        elif current.status == BookingStatus.CONFIRMED and current.calendar_write == CalendarWrite.NONE:
            # No calendar, so none tells the contact: Yoyaku does (a meeting confirmed without a
            # calendar was announced by Yoyaku's own invitation). A write still pending or failed
            # invited nobody, so its cancellation mails nobody either.
            _mail_cancellation(booking)
    connection = meetings_connection(user=booking.assigned_host)
    if connection is not None:
        request_sync(connection=connection)
    return booking


class BookingNotChangeable(Exception):
    """Only a confirmed meeting with a time can be moved or cancelled by its host."""


_NOT_FREE = gettext_noop(
    "That time is not free: it is taken, or not offered on this page. Please pick another time."
)
_NOT_CHANGEABLE = gettext_noop("Only a confirmed meeting can be moved or cancelled here.")


def reschedule_booking(
    *,
    booking: Booking,
    start: datetime,
    duration: int | None = None,
    now: datetime | None = None,
    actor: User | None = None,
) -> Booking:
    """Move a confirmed meeting to a new time, with the same safety as booking it.

    The hosts' calendars are read fresh (the meeting's own event does not count
    as busy), the time is checked again under the database's lock, and the
    meeting's reservations move in that one transaction, so a booking racing
    for the same time either wins or sees it taken. The calendar event is then
    updated like a write: retried until it is, and marked failed for the host
    if it never is. The same hosts keep the meeting (round robin is not drawn again).

    Raises CalendarOperationNotSupported, changing nothing, for a meeting on an
    Exchange calendar; BookingNotChangeable for a cancelled meeting or a request;
    BookingInputError for a bad duration or a start the page never offers (past, notice, window,
    grid, working hours); SlotUnavailable when the time is offered but not free;
    CalendarUnreadable when a host's calendar cannot be read.
    """
    if booking.status != BookingStatus.CONFIRMED or booking.start is None or booking.end is None:
        raise BookingNotChangeable(gettext(_NOT_CHANGEABLE))
    check_change_allowed(booking=booking, change="reschedule")
    link = booking.link
    current_minutes = int((booking.end - booking.start).total_seconds() // 60)
    duration = current_minutes if duration is None else duration
    errors: dict[str, str] = {}
    if duration != current_minutes and duration not in link.durations:
        errors["duration"] = durations_offered(link=link)
    if start.tzinfo is None:
        errors["start"] = gettext("Give the start with a UTC offset, e.g. 2027-03-01T09:00:00+01:00.")
    if errors:
        raise BookingInputError(errors)
    now = now or timezone.now()
    check_start_offered(link=link, start=start, duration=duration, now=now)
    end = start + timedelta(minutes=duration)
    hosts = reserved_hosts(booking=booking)
    own = (int(booking.start.timestamp()), int(booking.end.timestamp()))
    busy: dict[int, list[Interval]] = {}
    for host in hosts:
        connection = meetings_connection(user=host)
        if connection is None:
            busy[host.pk] = []
            continue
        try:
            span_start, span_end = fresh_span(link=link, start=start, end=end)
            intervals = read_busy(connection=connection, start=span_start, end=span_end, fresh=True)
        except CalendarError as error:
            raise CalendarUnreadable(calendar_problem(error)) from error
        written = shows_own_event(booking=booking, host_id=host.pk, connection=connection)
        busy[host.pk] = without_own_event(intervals, own=own, written=written)
    try:
        moved = _move(
            booking=booking,
            hosts=hosts,
            busy=busy,
            start=start,
            end=end,
            duration=duration,
            now=now,
            actor=actor,
        )
    except IntegrityError as error:
        if "reservation_no_overlap" not in str(error):
            raise
        # PostgreSQL refused the move: a booking for that time committed first.
        raise SlotUnavailable(gettext(_NOT_FREE)) from error
    for host in hosts:
        connection = meetings_connection(user=host)
        if connection is not None:
            request_sync(connection=connection)
    return moved


def _move(
    *,
    booking: Booking,
    hosts: list[User],
    busy: Mapping[int, list[Interval]],
    start: datetime,
    end: datetime,
    duration: int,
    now: datetime,
    actor: User | None,
) -> Booking:
    link = booking.link
    rules = link_rules(link=link, duration=duration)
    start_ts, now_ts = int(start.timestamp()), int(now.timestamp())
    with transaction.atomic():
        # Under the locks (SQLite: the write lock from BEGIN; PostgreSQL: the hosts' rows, for the
        # per-day count, then the booking's row).
        lock_hosts(host_ids=[h.pk for h in hosts])
        release_lapsed_holds(host_ids=[h.pk for h in hosts], now=timezone.now())
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        if current.status != BookingStatus.CONFIRMED:
            raise BookingNotChangeable(gettext(_NOT_CHANGEABLE))
        for host in hosts:
            inputs = host_inputs(
                user=host,
                link=link,
                busy=busy[host.pk],
                window_start=start,
                window_end=end,
                exclude_booking=booking.pk,
            )
            if not is_slot_available(host=inputs, rules=rules, start=start_ts, now=now_ts):
                raise SlotUnavailable(gettext(_NOT_FREE))
        # In place: on PostgreSQL each row is checked against the other hosts' reservations as it changes.
        before = timedelta(minutes=link.buffer_before_minutes)
        after = timedelta(minutes=link.buffer_after_minutes)
        Reservation.objects.filter(booking=booking, active=True).update(start=start - before, end=end + after)
        for name in _CALENDAR_FIELDS:
            setattr(booking, name, getattr(current, name))
        booking.start, booking.end = start, end
        # A time the calendar moved it to and Yoyaku could not take (calendar_changes) is settled now.
        booking.calendar_conflict_start = booking.calendar_conflict_end = None
        booking.calendar_conflict_with = None
        fields = ["start", "end", *CONFLICT_FIELDS]
        if current.calendar_write != CalendarWrite.NONE or current.calendar_event_id:
            # The event moves like a first write: retried until it is, failed for the host if never.
            booking.calendar_write = CalendarWrite.PENDING
            booking.calendar_error = ""
            booking.calendar_attempts = 0
            booking.calendar_pending_since = timezone.now()
            booking.calendar_retry_at = None
            fields += list(_CALENDAR_FIELDS)
            record_booking_write(booking=booking, operation=OutboxOperation.UPDATE)
        booking.save(update_fields=fields)
        if booking.meeting_id is not None:
            Meeting.objects.filter(pk=booking.meeting_id).update(start=start, end=end)
        _notify_hosts(booking, change="moved", hosts=hosts, actor=actor)
    return booking


# -- answering meeting requests ------------------------------------------------------------


class RequestTimeTaken(SlotUnavailable):
    """The requested time is no longer free; ``alternatives`` are free starts near it (UTC)."""

    def __init__(self, message: str, *, alternatives: list[datetime]) -> None:
        super().__init__(message)
        self.alternatives = alternatives


_NOT_A_REQUEST = gettext_noop("Only an open meeting request can be confirmed or declined.")
_REQUEST_TAKEN = gettext_noop(
    "The requested time is no longer free (a request holds its time only for a while). Confirm it for "
    "one of the free times offered, or decline it with a message."
)


def confirm_request(
    *,
    booking: Booking,
    start: datetime | None = None,
    duration: int | None = None,
    now: datetime | None = None,
) -> Booking:
    """Turn a meeting request into a booking, with every rule a booking has.

    The rule for timed requests: a request holds its time for YOYAKU_REQUEST_HOLD_HOURS only (its
    reservation expires), so confirming checks the time again exactly as a booking would (its own hold
    not counting): the page's rules (422), the
    hosts' calendars read fresh (503 when one cannot be), and under the hosts' lock their reservations
    and per-day limits. A time taken meanwhile raises RequestTimeTaken with free times near it. A
    request without a time needs ``start``. Then the event is written and the invitation goes out as
    for a booking; without any calendar Yoyaku mails the invitation itself.

    Raises BookingNotChangeable when ``booking`` is not an open request.
    """
    if booking.status != BookingStatus.REQUESTED:
        raise BookingNotChangeable(gettext(_NOT_A_REQUEST))
    link = booking.link
    start = start or booking.start
    if duration is None:
        if booking.start is not None and booking.end is not None:
            duration = int((booking.end - booking.start).total_seconds() // 60)
        else:
            duration = link.durations[0] if link.durations else 30
    errors: dict[str, str] = {}
    if start is None:
        errors["start"] = gettext("This request has no time: give the start of the meeting.")
    elif start.tzinfo is None:
        errors["start"] = "Give the start with a UTC offset, e.g. 2027-03-01T09:00:00+01:00."
    if duration not in link.durations and not (
        booking.start is not None and booking.end is not None and start == booking.start
    ):
        allowed = ", ".join(str(d) for d in link.durations)
        errors["duration"] = f"This page offers {allowed} minute meetings."
    if errors:
        raise BookingInputError(errors)
    assert start is not None
    now = now or timezone.now()
    check_start_offered(link=link, start=start, duration=duration, now=now)
    end = start + timedelta(minutes=duration)
    hosts = link_hosts(link=link)
    busy, _connected = _fresh_busy(link=link, hosts=hosts, start=start, end=end)
    candidates = [h for h in hosts if h.pk in busy]
    rules = link_rules(link=link, duration=duration)
    start_ts, now_ts = int(start.timestamp()), int(now.timestamp())
    try:
        with transaction.atomic():
            lock_hosts(host_ids=[h.pk for h in candidates])
            release_lapsed_holds(host_ids=[h.pk for h in candidates], now=timezone.now())
            current = Booking.objects.select_for_update().get(pk=booking.pk)
            if current.status != BookingStatus.REQUESTED:
                raise BookingNotChangeable(gettext(_NOT_A_REQUEST))
            free = [
                host
                for host in candidates
                if is_slot_available(
                    host=host_inputs(
                        user=host,
                        link=link,
                        busy=busy[host.pk],
                        window_start=start,
                        window_end=end,
                        exclude_booking=booking.pk,  # its own hold does not count against it
                    ),
                    rules=rules,
                    start=start_ts,
                    now=now_ts,
                )
            ]
            if link.kind == LinkKind.GROUP:
                if not free or len(free) != len(candidates):
                    raise SlotUnavailable(gettext(_REQUEST_TAKEN))
                assigned, reserved = link.owner, free
            elif not free:
                raise SlotUnavailable(gettext(_REQUEST_TAKEN))
            elif link.kind == LinkKind.ROUND_ROBIN:
                # The host the request went to keeps it when free; otherwise the usual draw.
                kept = [h for h in free if h.pk == booking.assigned_host_id]
                if kept:
                    assigned = kept[0]
                else:
                    chosen = choose_round_robin_host(
                        free_host_ids=[str(h.pk) for h in free],
                        last_booked_at=last_booked_at(link=link, host_ids=[h.pk for h in free]),
                        owner_id=None,
                        prioritize_owner=False,
                    )
                    assigned = next(h for h in free if str(h.pk) == chosen)
                reserved = [assigned]
            else:
                assigned, reserved = free[0], free[:1]
            writes = meetings_connection(user=assigned) is not None
            booking.status = BookingStatus.CONFIRMED
            booking.start, booking.end, booking.assigned_host = start, end, assigned
            booking.calendar_write = CalendarWrite.PENDING if writes else CalendarWrite.NONE
            booking.calendar_pending_since = timezone.now() if writes else None
            booking.save(
                update_fields=[
                    "status",
                    "start",
                    "end",
                    "assigned_host",
                    "calendar_write",
                    "calendar_pending_since",
                ]
            )
            if writes:
                record_booking_write(booking=booking, operation=OutboxOperation.CREATE)
            # The hold (if any) becomes the booking's reservation: rows replaced in this transaction.
            Reservation.objects.filter(booking=booking).delete()
            _reserve_spans(booking=booking, hosts=reserved, start=start, end=end)
            if booking.meeting_id is not None:
                Meeting.objects.filter(pk=booking.meeting_id).update(
                    start=start, end=end, outcome="scheduled"
                )
                assert booking.meeting is not None
                booking.meeting.hosts.set(reserved)
            elif booking.contact is not None:
                booking.meeting = log_meeting(
                    workspace=link.owner.workspace,
                    title=f"{link.name}: {booking.first_name} {booking.last_name}",
                    start=start,
                    end=end,
                    source=MeetingSource.BOOKING,
                    contacts=[booking.contact],
                    hosts=reserved,
                    location=link.location,
                    outcome="scheduled",
                )
                booking.save(update_fields=["meeting"])
            if not writes:
                # No calendar will invite the contact, so Yoyaku's own mail (with the .ics) does.
                from yoyaku.scheduling.notifications import send_invitation

                send_invitation(booking=booking, draft=booking_event_draft(booking=booking))
    except IntegrityError as error:
        if "reservation_no_overlap" not in str(error):
            raise
        # PostgreSQL refused the span: a booking for that time committed first.
        raise RequestTimeTaken(
            gettext(_REQUEST_TAKEN),
            alternatives=_alternatives(booking, duration=duration, near=start, now=now),
        ) from error
    except SlotUnavailable as error:
        booking.refresh_from_db()
        raise RequestTimeTaken(
            str(error), alternatives=_alternatives(booking, duration=duration, near=start, now=now)
        ) from error
    for host in reserved:
        connection = meetings_connection(user=host)
        if connection is not None:
            request_sync(connection=connection)
    return booking


def _alternatives(booking: Booking, *, duration: int, near: datetime, now: datetime) -> list[datetime]:
    from yoyaku.scheduling.selectors import free_starts

    return free_starts(link=booking.link, duration=duration, start=max(near, now), days=14, limit=6, now=now)


def decline_request(*, booking: Booking, message: str = "") -> Booking:
    """Decline a meeting request; the requester is told by mail, with the host's ``message``.

    Its hold on the time, if any, is released.
    Raises BookingNotChangeable when ``booking`` is not an open request, BookingInputError when the
    message is too long.
    """
    message = _clean_reason(message, field="message")
    with transaction.atomic():
        current = Booking.objects.select_for_update().get(pk=booking.pk)
        if current.status != BookingStatus.REQUESTED:
            raise BookingNotChangeable(gettext(_NOT_A_REQUEST))
        booking.status = BookingStatus.CANCELLED
        booking.cancel_reason = message
        booking.save(update_fields=["status", "cancel_reason"])
        Reservation.objects.filter(booking=booking).update(active=False)
        if booking.meeting is not None:
            cancel_meeting(meeting=booking.meeting)
        from yoyaku.scheduling.notifications import send_request_declined

        send_request_declined(booking=booking)
    return booking
