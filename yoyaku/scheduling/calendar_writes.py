"""Put bookings on the host's calendar, and take them off again: the bookings' side of the outbox.

A booking, move, confirmation or cancellation records its outbox row in its own transaction
(``record_booking_write``, see ``calendar_sync/outbox.py``) and answers; a worker then performs
the row (``perform_booking_write``), so nothing that goes wrong here may reach the booker. The
event's UID comes from the booking, so a retried write finds the event it already made. A failed
write (a provider error, a bug in an adapter, a lost connection surfacing as some other exception)
leaves the booking pending and the row is tried again at the time the provider asked for
(Retry-After) or after a growing back-off. Retries are bounded by attempts and age (settings); what
is given up is marked failed, with its last error, for the host to see and retry.

A refused sign-in (a revoked grant, a rejected password) is not a failure to
retry: nothing will work until the host reconnects. It turns the connection to
"needs reconnect" (the same transition a read makes, so the host is mailed once),
and the operation waits, pending, without using up its attempts; reconnecting
sends what waited (``calendar_sync/tasks.resume_calendar_writes``).
"""

from __future__ import annotations

import logging
import uuid
from contextlib import closing, suppress
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from yoyaku.accounts.calendar_problems import calendar_problem_in
from yoyaku.accounts.calendar_registry import adapter_for
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, Provider, User
from yoyaku.accounts.selectors import meetings_connection
from yoyaku.calendar_sync.busy import mark_connection, request_sync
from yoyaku.calendar_sync.models import OutboxOperation, OutboxTarget
from yoyaku.calendar_sync.outbox import AGAIN, DONE, WAITING, Outcome, retry_at
from yoyaku.calendar_sync.writes import queue_calendar_write
from yoyaku.calendars.base import (
    Attendee,
    CalendarAuthError,
    CalendarError,
    CalendarOperationNotSupported,
    CalendarUnavailable,
    EventDraft,
    EventGone,
)
from yoyaku.calendars.capabilities import capabilities
from yoyaku.crm.models import Meeting
from yoyaku.formatting import full_name
from yoyaku.scheduling.event_calendar import (
    calendar_account,
    event_calendar,
    event_calendar_of,
    write_target,
)
from yoyaku.scheduling.manage_links import manage_text
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, LinkKind

logger = logging.getLogger(__name__)

Operation = Literal["write", "cancel"]
# (pending, given up) states of each operation.
_STATES: dict[Operation, tuple[CalendarWrite, CalendarWrite]] = {
    "write": (CalendarWrite.PENDING, CalendarWrite.FAILED),
    "cancel": (CalendarWrite.CANCEL_PENDING, CalendarWrite.CANCEL_FAILED),
}
# Without a Retry-After, the wait doubles from the first to the ceiling: soon after a blip, hourly in
# an outage.
RETRY_FIRST = timedelta(seconds=30)
RETRY_CEILING = timedelta(hours=1)


def next_try(*, error: BaseException, attempts: int, now: datetime) -> datetime:
    """When a failed calendar write is tried again: never sooner than the provider asked (Retry-After,
    RFC 9110 §10.2.3), else after a back-off that doubles with each attempt."""
    asked = error.retry_after if isinstance(error, CalendarUnavailable) else None
    if asked is not None:
        return now + timedelta(seconds=asked)
    return now + min(RETRY_FIRST * 2 ** min(attempts - 1, 16), RETRY_CEILING)


def record_booking_write(*, booking: Booking, operation: OutboxOperation) -> None:
    """Record, in the caller's transaction, that the booking's calendar must follow it (the outbox)."""
    queue_calendar_write(
        target=OutboxTarget.BOOKING,
        target_id=str(booking.pk),
        host_id=booking.assigned_host_id,
        operation=operation,
    )


def booking_uid(*, booking: Booking) -> str:
    """The UID of the booking's event, the same on every write (and in its invitations)."""
    return f"yoyaku-{booking.pk}"


def booking_event_draft(*, booking: Booking) -> EventDraft:
    link = booking.link
    host = booking.assigned_host
    # Written in the booker's language (the page they booked on): they read the title and description
    # in their invitation; the host reads the same event.
    with translation.override(booking.language or settings.LANGUAGE_CODE):
        booker = full_name(first_name=booking.first_name, last_name=booking.last_name)
        booked_on = _("Booked with Yoyaku on the page “%(page)s”.") % {"page": link.name}
    attendees = [Attendee(email=booking.email, name=booker)]
    if link.kind == LinkKind.GROUP:
        attendees += [
            Attendee(email=h.email, name=h.display_name) for h in link.hosts.exclude(pk=host.pk) if h.email
        ]
    answers = "\n".join(f"{k}: {v}" for k, v in booking.answers.items())
    description = booked_on + (f"\n\n{answers}" if answers else "")
    # The booker's links to move or cancel it travel with every invitation, in the booker's language.
    with translation.override(booking.language or settings.LANGUAGE_CODE):
        manage = manage_text(booking=booking)
    if manage:
        description += "\n\n" + manage
    assert booking.start is not None and booking.end is not None
    return EventDraft(
        uid=booking_uid(booking=booking),
        title=f"{link.name}: {booker}",
        start=booking.start,
        end=booking.end,
        time_zone=host.time_zone,
        description=description,
        location=link.location,
        organizer_email=host.email,
        organizer_name=host.display_name,
        attendees=tuple(attendees),
    )


def _locked(booking_id: uuid.UUID) -> Booking:
    """The booking's row as committed now, locked until the transaction ends.

    A row lock on PostgreSQL; SQLite ignores it, but its IMMEDIATE transactions
    hold the database's write lock from BEGIN, which serialises just the same.
    """
    return Booking.objects.select_for_update().get(pk=booking_id)


def save_write_state(row: Booking | Meeting, **fields: object) -> None:
    """Set ``fields`` on ``row`` (a booking or a CRM meeting) and store just those columns."""
    for name, value in fields.items():
        setattr(row, name, value)
    if isinstance(row, Booking):
        Booking.objects.filter(pk=row.pk).update(**fields)
    else:
        Meeting.objects.filter(pk=row.pk).update(**fields)


def settled(state: str, *, error: str = "") -> dict[str, object]:
    """Fields of a row whose calendar operation is over (done, or nothing left to do)."""
    return {
        "calendar_write": state,
        "calendar_error": error,
        "calendar_attempts": 0,
        "calendar_pending_since": None,
        "calendar_retry_at": None,
    }


def _error_text(error: BaseException, *, language: str) -> str:
    """The stored error, written in the host's language (they read it on their dashboard)."""
    return calendar_problem_in(error, language=language)


def _record_failure(*, booking: Booking, operation: Operation, error: Exception) -> Outcome:
    """Mark the operation pending again (retried at its time), or failed once its attempts or age run out."""
    if isinstance(error, CalendarError):
        logger.warning("Calendar %s for booking %s failed: %s", operation, booking.pk, error)
    else:
        # Not a provider's answer but a bug or an unforeseen failure: the traceback is what finds it.
        logger.error("Calendar %s for booking %s failed unexpectedly", operation, booking.pk, exc_info=error)
    pending, failed = _STATES[operation]
    now = timezone.now()
    with transaction.atomic():
        current = _locked(booking.pk)
        since = current.calendar_pending_since or now
        attempts = current.calendar_attempts + 1
        max_age = timedelta(hours=settings.YOYAKU_CALENDAR_RETRY_MAX_HOURS)
        if operation == "write" and current.status == BookingStatus.CANCELLED:
            # Cancelled while its write was being tried: it must never reach the calendar now.
            state = CalendarWrite.NONE
        elif (
            isinstance(error, EventGone)
            or attempts >= settings.YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS
            or now - since >= max_age
        ):
            # An event deleted on the calendar does not come back by trying again: the host is told at once.
            state = failed
        else:
            state = pending
        retry = next_try(error=error, attempts=attempts, now=now)
        save_write_state(
            booking,
            calendar_write=state,
            calendar_error=_error_text(error, language=booking.assigned_host.language),
            calendar_attempts=attempts,
            calendar_pending_since=since,
            calendar_retry_at=retry if state == pending else None,
        )
    if state == failed:
        logger.error(
            "Calendar %s for booking %s given up after %s attempts: %s",
            operation,
            booking.pk,
            attempts,
            booking.calendar_error,
        )
    return retry_at(retry) if state == pending else DONE


def _wait_for_reconnect(*, booking: Booking, operation: Operation, message: str) -> None:
    """Keep the operation pending until the host reconnects the calendar, its attempts untouched.

    No retry is scheduled and the sweep passes it by: every try would be refused the same way.
    """
    pending, _failed = _STATES[operation]
    with transaction.atomic():
        current = _locked(booking.pk)
        if operation == "write" and current.status == BookingStatus.CANCELLED:
            state = CalendarWrite.NONE  # cancelled meanwhile: never to be written now
        else:
            state = pending
        save_write_state(
            booking,
            calendar_write=state,
            calendar_error=(message or "The calendar connection must be reconnected.")[:500],
            calendar_pending_since=current.calendar_pending_since or timezone.now(),
            calendar_retry_at=None,
        )
    logger.info("Calendar %s for booking %s waits for the calendar to be reconnected", operation, booking.pk)


def _refused_sign_in(
    *, booking: Booking, operation: Operation, connection: CalendarConnection, error: CalendarAuthError
) -> None:
    logger.warning("Calendar %s for booking %s was refused: %s", operation, booking.pk, error)
    told = calendar_problem_in(error, language=connection.user.language)
    mark_connection(connection=connection, status=ConnectionStatus.NEEDS_RECONNECT, message=told)
    _wait_for_reconnect(booking=booking, operation=operation, message=told)


def awaits_reconnect(*, booking: Booking) -> bool:
    """True when the calendar the booking's write or cancellation goes to must be reconnected first."""
    current = meetings_connection(user=booking.assigned_host)
    if booking.calendar_write == CalendarWrite.CANCEL_PENDING:
        connection = event_calendar(booking=booking, current=current).connection
    else:
        connection = write_target(booking=booking, current=current)
    return connection is not None and connection.status == ConnectionStatus.NEEDS_RECONNECT


def perform_booking_write(booking_id: str) -> Outcome:
    """The outbox's performer for bookings: make the calendar show what the booking is now."""
    booking = (
        Booking.objects.filter(pk=booking_id)
        .select_related("link", "assigned_host", "calendar_connection__user")
        .first()
    )
    if booking is None:
        return DONE
    if booking.calendar_write == CalendarWrite.PENDING:
        if booking.status != BookingStatus.CONFIRMED:
            # Cancelled while the write was pending: it must never be written now.
            Booking.objects.filter(pk=booking.pk, calendar_write=CalendarWrite.PENDING).update(
                calendar_write=CalendarWrite.NONE, calendar_retry_at=None
            )
            return DONE
        return write_booking_event(booking=booking)
    if booking.calendar_write == CalendarWrite.CANCEL_PENDING:
        try:
            return cancel_booking_event(booking=booking)
        except CalendarOperationNotSupported:
            return DONE  # refused by design (Exchange): recorded as failed on the booking, never retried
    return DONE  # written, given up, or nothing to do


def write_booking_event(*, booking: Booking) -> Outcome:
    """Make the calendar show the booking (a worker's part: the request path records the outbox row).

    Creates the event on the host's meetings connection, or updates it where it is when the booking
    already has one (the meeting was moved; see ``event_calendar``). An event on a calendar no longer
    connected is forgotten and written afresh on the meetings connection. Never raises for a failed
    write: it is recorded on the booking and the outcome says when to try again.
    """
    current = meetings_connection(user=booking.assigned_host)
    held = event_calendar(booking=booking, current=current)
    connection = held.connection if held.connection is not None else current
    if connection is None:
        save_write_state(booking, **settled(CalendarWrite.NONE))
        return DONE
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        _wait_for_reconnect(booking=booking, operation="write", message=connection.status_message)
        return WAITING
    if held.gone:
        # Its id means nothing to the calendar connected now (updating it there fails, or worse finds
        # another event): the meeting is created there instead, and on CalDAV invited, not updated.
        logger.info(
            "Booking %s: its event %s is on %s, no longer connected; writing it afresh on connection %s",
            booking.pk,
            booking.calendar_event_id,
            booking.calendar_account,
            connection.pk,
        )
        save_write_state(booking, calendar_event_id="", calendar_connection=None, calendar_account="")
    existing = booking.calendar_event_id
    sequence = 0
    try:
        draft = booking_event_draft(booking=booking)
        calendar_id = connection.write_calendar_id or None
        with closing(adapter_for(connection)) as adapter:
            if existing:
                adapter.update_event(event_id=existing, draft=draft, calendar_id=calendar_id)
                event_id = existing
                if connection.provider == Provider.CALDAV:
                    sequence = _caldav_sequence(adapter, event_id)
            else:
                event_id = adapter.create_event(draft=draft, calendar_id=calendar_id)
    except CalendarAuthError as error:
        _refused_sign_in(booking=booking, operation="write", connection=connection, error=error)
        return WAITING
    except Exception as error:
        return _record_failure(booking=booking, operation="write", error=error)
    stored = _store_written(
        booking=booking, connection=connection, event_id=event_id, draft=draft, created=not existing
    )
    if stored == "cancelled":
        # Cancelled while the event was being written: take it off again. No invitation went out,
        # so no cancellation mail either.
        try:
            return cancel_booking_event(booking=booking, notify=False)
        except CalendarOperationNotSupported:
            return DONE  # recorded on the booking for the host, who cancels it in Outlook
    if stored == "moved":
        # Moved again while this write was on its way: the calendar may now hold the older time.
        return AGAIN
    request_sync(connection=connection)
    if connection.provider == Provider.CALDAV:
        # Yoyaku sends CalDAV invitations (and updates) itself as iMIP mail (RFC 6047):
        # plain servers (Radicale) schedule nothing, and the stored event marks its
        # attendees SCHEDULE-AGENT=CLIENT so servers that do (RFC 6638) send nothing.
        from yoyaku.scheduling.notifications import send_invitation, send_update

        try:
            if existing:
                send_update(booking=booking, draft=draft, sequence=sequence)
            else:
                send_invitation(booking=booking, draft=draft)
        except Exception:  # the event is written: a broken mail must not make it look unwritten
            logger.exception("Invitation mail for booking %s failed", booking.pk)
    return DONE


def _caldav_sequence(adapter: object, event_id: str) -> int:
    """The SEQUENCE the CalDAV server now holds for the event, for the mailed update to carry.

    An update only counts for attendees' clients with a SEQUENCE above the one they
    have (RFC 5546 §2.1.4), and the adapter bumped the stored one.
    """
    from yoyaku.calendars.caldav import CalDAVAdapter

    assert isinstance(adapter, CalDAVAdapter)
    return adapter.event_sequence(event_id=event_id)


def _store_written(
    *, booking: Booking, connection: CalendarConnection, event_id: str, draft: EventDraft, created: bool
) -> Literal["written", "cancelled", "moved"]:
    """Record the event and where it is; or say the booking was cancelled, or moved again, while it was
    being written.

    The booking is read again under the row lock: a cancel that landed while the
    event was on its way found no event to cancel, so this is where it is seen;
    a reschedule that landed meanwhile may have been written first, so this write
    may have put the older time back and must be done again. So must a create
    that raced another write of the booking which stored its event first: the
    create may have found that event (same UID) and left its time as it was.
    """
    with transaction.atomic():
        current = _locked(booking.pk)
        cancelled = current.status == BookingStatus.CANCELLED
        raced = created and bool(current.calendar_event_id)
        moved = not cancelled and (raced or (current.start, current.end) != (draft.start, draft.end))
        booking.status = current.status
        # Where the event is, so that its move, cancellation and following go there whatever the host
        # connects later (``event_calendar``).
        where = {"calendar_connection": connection, "calendar_account": calendar_account(connection)}
        if moved:
            save_write_state(
                booking,
                calendar_event_id=event_id,
                **where,
                calendar_write=CalendarWrite.PENDING,
                calendar_pending_since=current.calendar_pending_since or timezone.now(),
                calendar_retry_at=None,
            )
        else:
            fields = settled(CalendarWrite.CANCEL_PENDING if cancelled else CalendarWrite.WRITTEN)
            if cancelled:
                fields["calendar_pending_since"] = timezone.now()
            save_write_state(booking, calendar_event_id=event_id, **where, **fields)
        if booking.meeting_id:
            Meeting.objects.filter(pk=booking.meeting_id).update(calendar_event_id=event_id)
    return "cancelled" if cancelled else "moved" if moved else "written"


def check_change_allowed(*, booking: Booking, change: Literal["cancel", "reschedule"]) -> None:
    """Refuse, before anything changes, what the calendar holding the booking's event cannot take.

    Exchange calendars are one-way: Yoyaku adds meetings and nothing else, so a
    booking already on (or on its way to) an Exchange calendar is cancelled or
    moved in Outlook, never here, or Yoyaku and the calendar would disagree.
    That stays true after the host connects another calendar: the event is
    still in Outlook, with the booker's invitation from it.
    """
    refusal = change_refusal(
        booking=booking, change=change, connection=meetings_connection(user=booking.assigned_host)
    )
    if refusal:
        raise CalendarOperationNotSupported(refusal)


def change_refusal(
    *, booking: Booking, change: Literal["cancel", "reschedule"], connection: CalendarConnection | None
) -> str:
    """Why the calendar the booking's event is on refuses ``change``; "" if it does not.

    ``connection`` is the assigned host's meetings connection: it holds the event unless the event
    records another (``event_calendar``), and receives it when none is written yet. The event's own
    calendar decides, even once it is no longer connected: Yoyaku never changes that calendar then,
    but a meeting on Exchange is still there for the host to change in Outlook. For pages that show
    many meetings, look each host's connection up once and load ``calendar_connection`` with the
    bookings.
    """
    on_calendar = booking.calendar_write in (CalendarWrite.WRITTEN, CalendarWrite.PENDING)
    if not on_calendar and not booking.calendar_event_id:
        return ""
    provider = event_calendar(booking=booking, current=connection).provider
    if not provider:
        return ""
    allowed = capabilities(provider)
    if allowed.can_cancel if change == "cancel" else allowed.can_reschedule:
        return ""
    if change == "cancel":
        return _(
            "This meeting is on an Exchange calendar, which Yoyaku cannot change: "
            "cancel it in Outlook instead."
        )
    return _(
        "This meeting is on an Exchange calendar, which Yoyaku cannot change: "
        "reschedule it in Outlook instead."
    )


def cancel_booking_event(*, booking: Booking, notify: bool = True) -> Outcome:
    """Cancel the booking's event on the calendar holding it (a worker's part, like
    ``write_booking_event``; see ``event_calendar``).

    A failure leaves the cancellation pending and it is retried like a write.
    Exchange refuses cancellations by design (CalendarOperationNotSupported):
    that is recorded as failed, never retried, and raised.
    """
    if not booking.calendar_event_id:
        save_write_state(booking, **settled(CalendarWrite.NONE))  # never reached the calendar
        return DONE
    held = event_calendar_of(booking=booking)
    connection = held.connection
    if connection is None:
        # The host disconnected the calendar: there is nothing left to cancel it on. Never the calendar
        # connected since (another account or provider): the event's id means nothing there.
        if held.gone:
            logger.info(
                "Booking %s: its event %s is on %s, no longer connected; nothing to cancel there",
                booking.pk,
                booking.calendar_event_id,
                booking.calendar_account,
            )
        save_write_state(booking, **settled(CalendarWrite.NONE))
        return DONE
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        _wait_for_reconnect(booking=booking, operation="cancel", message=connection.status_message)
        return WAITING
    sequence = 1
    try:
        with closing(adapter_for(connection)) as adapter:
            adapter.cancel_event(
                event_id=booking.calendar_event_id, calendar_id=connection.write_calendar_id or None
            )
            if notify and connection.provider == Provider.CALDAV:
                # A meeting moved before has mailed updates with higher SEQUENCEs than 1.
                with suppress(CalendarError):
                    sequence = max(sequence, _caldav_sequence(adapter, booking.calendar_event_id))
    except CalendarOperationNotSupported as error:
        save_write_state(booking, **settled(CalendarWrite.CANCEL_FAILED, error=str(error)[:500]))
        raise
    except CalendarAuthError as error:
        _refused_sign_in(booking=booking, operation="cancel", connection=connection, error=error)
        return WAITING
    except Exception as error:
        return _record_failure(booking=booking, operation="cancel", error=error)
    save_write_state(booking, **settled(CalendarWrite.CANCELLED))
    request_sync(connection=connection)
    if notify and connection.provider == Provider.CALDAV:
        from yoyaku.scheduling.notifications import send_cancellation

        try:
            send_cancellation(booking=booking, draft=booking_event_draft(booking=booking), sequence=sequence)
        except Exception:
            logger.exception("Cancellation mail for booking %s failed", booking.pk)
    return DONE


class NothingToRetry(Exception):
    """The booking's calendar write or cancellation is not (or no longer) given up."""


def retry_calendar_now(*, user: User, booking_id: uuid.UUID) -> Booking:
    """The host's "Retry now" for a write or cancellation that was given up.

    Pending again with fresh bounds, in the outbox for a worker to perform at once. Raises
    Booking.DoesNotExist for a booking that is not the user's, NothingToRetry for one whose
    calendar is not failed.
    """
    booking = (
        Booking.objects.filter(
            Q(assigned_host=user) | Q(link__owner=user) | Q(reservations__host=user), pk=booking_id
        )
        .select_related("link", "assigned_host")
        .distinct()
        .get()
    )
    retry: dict[tuple[str, str], Operation] = {
        (BookingStatus.CONFIRMED, CalendarWrite.FAILED): "write",
        (BookingStatus.CANCELLED, CalendarWrite.CANCEL_FAILED): "cancel",
    }
    with transaction.atomic():
        current = _locked(booking.pk)
        operation = retry.get((current.status, current.calendar_write))
        if operation is None:
            raise NothingToRetry(current.calendar_write)  # done meanwhile, or never given up
        pending, _failed = _STATES[operation]
        Booking.objects.filter(pk=booking.pk).update(
            calendar_write=pending, calendar_attempts=0, calendar_pending_since=timezone.now()
        )
        record_booking_write(
            booking=current,
            operation=OutboxOperation.CANCEL if operation == "cancel" else OutboxOperation.UPDATE,
        )
    booking.refresh_from_db()
    return booking


_PENDING_STATES = (CalendarWrite.PENDING, CalendarWrite.CANCEL_PENDING)


def restart_waiting_writes(host_id: int, now: datetime) -> None:
    """The host's pending writes and cancellations start their age again now that the calendar is
    reconnected: the time spent waiting for the host is not the provider failing, and must not make
    the first try after reconnecting the last one."""
    Booking.objects.filter(assigned_host_id=host_id, calendar_write__in=_PENDING_STATES).update(
        calendar_pending_since=now
    )
