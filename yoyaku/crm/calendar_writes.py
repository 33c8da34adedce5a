"""Put meetings made in the CRM on the host's calendar, keep them current there, and take them off.

The meetings' side of the calendar outbox (``calendar_sync/outbox.py``), with the same rules as a
booking's write (``scheduling/calendar_writes.py``): the change is committed with the meeting marked
pending and its outbox row (``record_meeting_write``), then a worker performs it
(``perform_meeting_write``); the event's UID comes from the meeting, so a retried create finds the
event it already made; failures are retried at the provider's Retry-After or after a back-off, with
bounded attempts and age, and then marked failed for the host; a refused sign-in turns the
connection to "needs reconnect" and the write waits, its attempts untouched.

Google and Microsoft 365 invite the contacts themselves (``sendUpdates=all``, Graph's attendees);
a plain CalDAV server does no RFC 6638 scheduling, so the invitation, its updates and its
cancellation go out as iMIP mail (RFC 6047) from here.
"""

from __future__ import annotations

import logging
from contextlib import closing, suppress
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from yoyaku.accounts.calendar_problems import calendar_problem_in
from yoyaku.accounts.calendar_registry import adapter_for
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, Provider
from yoyaku.calendar_sync.busy import mark_connection, request_sync
from yoyaku.calendar_sync.models import OutboxOperation, OutboxTarget
from yoyaku.calendar_sync.outbox import AGAIN, DONE, WAITING, Outcome, retry_at
from yoyaku.calendar_sync.writes import queue_calendar_write
from yoyaku.calendars.base import Attendee, CalendarAuthError, CalendarError, EventDraft
from yoyaku.crm.models import Meeting, MeetingOutcome
from yoyaku.crm.selectors import meeting_host
from yoyaku.scheduling.calendar_writes import (
    _caldav_sequence,
    _error_text,
    next_try,
    save_write_state,
    settled,
)
from yoyaku.scheduling.models import CalendarWrite

logger = logging.getLogger(__name__)

_PENDING = (CalendarWrite.PENDING, CalendarWrite.CANCEL_PENDING)


def record_meeting_write(*, meeting: Meeting, operation: OutboxOperation) -> None:
    """Record, in the caller's transaction, that the meeting's calendar must follow it (the outbox)."""
    # The calendar's owner; a meeting whose calendar was disconnected since goes under its host (the
    # worker then finds no calendar and settles it).
    connection = meeting.calendar_connection
    host = connection.user if connection is not None else meeting_host(meeting=meeting)
    if host is None:
        save_write_state(meeting, **settled(CalendarWrite.NONE))
        return
    queue_calendar_write(
        target=OutboxTarget.MEETING, target_id=str(meeting.pk), host_id=host.pk, operation=operation
    )


def meeting_uid(meeting_id: int) -> str:
    return f"yoyaku-meeting-{meeting_id}"


def meeting_event_draft(*, meeting: Meeting) -> EventDraft:
    """The event as the contacts see it: internal notes never leave Yoyaku."""
    host = meeting_host(meeting=meeting)
    attendees = tuple(
        Attendee(email=c.email, name=f"{c.first_name} {c.last_name}".strip())
        for c in meeting.contacts.order_by("pk")
    )
    return EventDraft(
        uid=meeting_uid(meeting.pk),
        title=meeting.title,
        start=meeting.start,
        end=meeting.end,
        time_zone=host.time_zone if host else "UTC",
        description=meeting.description,
        location=meeting.location,
        organizer_email=host.email if host else "",
        organizer_name=host.display_name if host else "",
        attendees=attendees,
    )


def _locked(meeting_id: int) -> Meeting:
    return Meeting.objects.select_for_update().get(pk=meeting_id)


def _host_language(meeting: Meeting) -> str:
    host = meeting_host(meeting=meeting)
    return host.language if host is not None else ""


def _fail(*, meeting: Meeting, expected: str, error: Exception) -> Outcome:
    """Count the failure; still pending (retried later) or, past the bounds, failed for the host."""
    if isinstance(error, CalendarError):
        logger.warning("Calendar write for CRM meeting %s failed: %s", meeting.pk, error)
    else:
        logger.error("Calendar write for CRM meeting %s failed unexpectedly", meeting.pk, exc_info=error)
    now = timezone.now()
    with transaction.atomic():
        current = _locked(meeting.pk)
        if current.calendar_write != expected:
            return AGAIN  # changed meanwhile: the new change goes next
        since = current.calendar_pending_since or now
        attempts = current.calendar_attempts + 1
        max_age = timedelta(hours=settings.YOYAKU_CALENDAR_RETRY_MAX_HOURS)
        given_up = attempts >= settings.YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS or now - since >= max_age
        failed = CalendarWrite.FAILED if expected == CalendarWrite.PENDING else CalendarWrite.CANCEL_FAILED
        retry = next_try(error=error, attempts=attempts, now=now)
        save_write_state(
            meeting,
            calendar_write=failed if given_up else expected,
            calendar_error=_error_text(error, language=_host_language(meeting)),
            calendar_attempts=attempts,
            calendar_pending_since=since,
            calendar_retry_at=None if given_up else retry,
        )
    return DONE if given_up else retry_at(retry)


def _wait_for_reconnect(*, meeting: Meeting, connection: CalendarConnection, message: str) -> Outcome:
    save_write_state(
        meeting,
        calendar_error=(message or "The calendar connection must be reconnected.")[:500],
        calendar_retry_at=None,
    )
    logger.info("Calendar write for CRM meeting %s waits for connection %s", meeting.pk, connection.pk)
    return WAITING


def perform_meeting_write(meeting_id: str) -> Outcome:
    """The outbox's performer for CRM meetings: the pending write or cancellation, as the meeting is now.

    Never raises for a failure: it is recorded on the meeting and the outcome says what comes next.
    """
    meeting = Meeting.objects.select_related("calendar_connection__user").filter(pk=int(meeting_id)).first()
    if meeting is None or meeting.calendar_write not in _PENDING:
        return DONE
    connection = meeting.calendar_connection
    if connection is None:
        # Disconnected since: there is no calendar left to write to or cancel on.
        save_write_state(meeting, **settled(CalendarWrite.NONE))
        return DONE
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        return _wait_for_reconnect(meeting=meeting, connection=connection, message=connection.status_message)
    if meeting.calendar_write == CalendarWrite.CANCEL_PENDING:
        return _cancel(meeting=meeting, connection=connection)
    return _write(meeting=meeting, connection=connection)


def _write(*, meeting: Meeting, connection: CalendarConnection) -> Outcome:
    # What is written is remembered, to tell afterwards whether the meeting changed meanwhile.
    seen = meeting.updated_at
    existing = meeting.calendar_event_id
    sequence = 0
    try:
        draft = meeting_event_draft(meeting=meeting)
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
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.NEEDS_RECONNECT, message=told)
        return _wait_for_reconnect(meeting=meeting, connection=connection, message=told)
    except Exception as error:
        return _fail(meeting=meeting, expected=CalendarWrite.PENDING, error=error)
    with transaction.atomic():
        current = _locked(meeting.pk)
        current_state = current.calendar_write
        if current_state == CalendarWrite.CANCEL_PENDING or current.outcome == MeetingOutcome.CANCELLED:
            # Cancelled while the event was on its way: take it off again (below).
            save_write_state(meeting, calendar_event_id=event_id, calendar_write=CalendarWrite.CANCEL_PENDING)
            changed_meanwhile = False
            cancelled = True
        else:
            cancelled = False
            changed_meanwhile = current.updated_at != seen
            if changed_meanwhile:
                # Still pending: its newer state goes next.
                save_write_state(meeting, calendar_event_id=event_id)
            else:
                save_write_state(meeting, calendar_event_id=event_id, **settled(CalendarWrite.WRITTEN))
    request_sync(connection=connection)
    if connection.provider == Provider.CALDAV and not cancelled:
        from yoyaku.crm.notifications import send_meeting_mail

        try:
            send_meeting_mail(
                meeting=meeting, draft=draft, kind="update" if existing else "invitation", sequence=sequence
            )
        except Exception:  # the event is written: a broken mail must not make it look unwritten
            logger.exception("Invitation mail for CRM meeting %s failed", meeting.pk)
    if cancelled:
        # No invitation went out for it, so no cancellation mail either.
        meeting.refresh_from_db()
        return _cancel(meeting=meeting, connection=connection, notify=False)
    return AGAIN if changed_meanwhile else DONE


def _cancel(*, meeting: Meeting, connection: CalendarConnection, notify: bool = True) -> Outcome:
    if not meeting.calendar_event_id:
        save_write_state(meeting, **settled(CalendarWrite.NONE))
        return DONE
    sequence = 1
    try:
        with closing(adapter_for(connection)) as adapter:
            adapter.cancel_event(
                event_id=meeting.calendar_event_id, calendar_id=connection.write_calendar_id or None
            )
            if notify and connection.provider == Provider.CALDAV:
                # Updates mailed before carry higher SEQUENCEs; the cancellation must top them.
                with suppress(CalendarError):
                    sequence = max(sequence, _caldav_sequence(adapter, meeting.calendar_event_id))
    except CalendarAuthError as error:
        told = calendar_problem_in(error, language=connection.user.language)
        mark_connection(connection=connection, status=ConnectionStatus.NEEDS_RECONNECT, message=told)
        return _wait_for_reconnect(meeting=meeting, connection=connection, message=told)
    except Exception as error:
        return _fail(meeting=meeting, expected=CalendarWrite.CANCEL_PENDING, error=error)
    save_write_state(meeting, **settled(CalendarWrite.CANCELLED))
    request_sync(connection=connection)
    if notify and connection.provider == Provider.CALDAV:
        from yoyaku.crm.notifications import send_meeting_mail

        try:
            send_meeting_mail(
                meeting=meeting,
                draft=meeting_event_draft(meeting=meeting),
                kind="cancellation",
                sequence=sequence,
            )
        except Exception:
            logger.exception("Cancellation mail for CRM meeting %s failed", meeting.pk)
    return DONE


def restart_waiting_writes(host_id: int, now: datetime) -> None:
    """The host's pending meeting writes start their age again now that the calendar is reconnected."""
    Meeting.objects.filter(calendar_connection__user_id=host_id, calendar_write__in=_PENDING).update(
        calendar_pending_since=now
    )


def retry_meeting_now(*, meeting: Meeting) -> Meeting:
    """The host's "Retry now" for a given-up write or cancellation: pending again with fresh bounds,
    in the outbox for a worker to perform at once."""
    retry: dict[str, str] = {
        CalendarWrite.FAILED: CalendarWrite.PENDING,
        CalendarWrite.CANCEL_FAILED: CalendarWrite.CANCEL_PENDING,
    }
    with transaction.atomic():
        current = _locked(meeting.pk)
        state = retry.get(current.calendar_write)
        if state is not None and current.calendar_connection is not None:
            Meeting.objects.filter(pk=meeting.pk).update(
                calendar_write=state, calendar_attempts=0, calendar_pending_since=timezone.now()
            )
            cancel = state == CalendarWrite.CANCEL_PENDING
            record_meeting_write(
                meeting=current, operation=OutboxOperation.CANCEL if cancel else OutboxOperation.UPDATE
            )
    meeting.refresh_from_db()
    return meeting
