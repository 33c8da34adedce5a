"""Background calendar work: retry event writes and cancellations that failed.

Each retry task raises while the operation keeps failing, so huey retries it a
few times at short intervals; the sweep picks up what is still pending later on
(and what was lost while the consumer was down). Attempts and age are bounded in
``calendar_writes``: past them the booking is marked failed and left alone.
What waits for the host to reconnect the calendar is not retried: reconnecting
runs ``resume_calendar_writes`` for that host.
"""

from __future__ import annotations

import uuid

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from yoyaku.calendars.base import CalendarOperationNotSupported
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite


def _load(booking_id: str) -> Booking | None:
    return Booking.objects.filter(pk=booking_id).select_related("link", "assigned_host").first()


@db_task(retries=6, retry_delay=30)
def retry_booking_event(booking_id: str) -> None:
    from yoyaku.scheduling.calendar_writes import awaits_reconnect, write_booking_event

    booking = _load(booking_id)
    if booking is None or booking.calendar_write != CalendarWrite.PENDING:
        return
    if booking.status != BookingStatus.CONFIRMED:
        # Cancelled while the write was pending: it must never be written now.
        Booking.objects.filter(pk=booking_id, calendar_write=CalendarWrite.PENDING).update(
            calendar_write=CalendarWrite.NONE, calendar_retry_at=None
        )
        return
    if write_booking_event(booking=booking, retry_on_failure=False):
        return
    if booking.calendar_write == CalendarWrite.PENDING and not awaits_reconnect(booking=booking):
        # Raising makes huey retry with its delay; the booking itself is never lost.
        raise RuntimeError(f"Calendar write for booking {booking_id} still failing")


@db_task(retries=6, retry_delay=30)
def retry_booking_cancel(booking_id: str) -> None:
    from yoyaku.scheduling.calendar_writes import awaits_reconnect, cancel_booking_event

    booking = _load(booking_id)
    if booking is None or booking.calendar_write != CalendarWrite.CANCEL_PENDING:
        return
    try:
        if cancel_booking_event(booking=booking, retry_on_failure=False):
            return
    except CalendarOperationNotSupported:
        return  # refused by design (Exchange): recorded as failed on the booking, never retried
    if booking.calendar_write == CalendarWrite.CANCEL_PENDING and not awaits_reconnect(booking=booking):
        raise RuntimeError(f"Calendar cancellation for booking {booking_id} still failing")


@db_periodic_task(crontab(minute="*/5"))
def sweep_pending_calendar_writes() -> None:
    """Retry pending writes and cancellations whose time has come, and catch retries that were lost."""
    from yoyaku.scheduling.calendar_writes import due_for_retry

    _retry(due_for_retry(now=timezone.now()))


@db_task()
def resume_calendar_writes(user_id: int) -> None:
    """Send a host's writes and cancellations that waited while the calendar had to be reconnected."""
    from yoyaku.accounts.models import User
    from yoyaku.scheduling.calendar_writes import resume_after_reconnect

    user = User.objects.filter(pk=user_id).first()
    if user is not None:
        _retry(resume_after_reconnect(user=user, now=timezone.now()))


def _retry(due: list[tuple[uuid.UUID, str]]) -> None:
    for booking_id, state in due:
        if state == CalendarWrite.PENDING:
            retry_booking_event(str(booking_id))
        else:
            retry_booking_cancel(str(booking_id))
