"""Background calendar work: retry event writes that failed during a booking."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite


@db_task(retries=6, retry_delay=30)
def retry_booking_event(booking_id: str) -> None:
    from yoyaku.scheduling.calendar_writes import write_booking_event

    booking = Booking.objects.filter(pk=booking_id).select_related("link", "assigned_host").first()
    if booking is None or booking.calendar_write != CalendarWrite.PENDING:
        return
    if booking.status != BookingStatus.CONFIRMED:
        return  # cancelled while the write was pending
    if not write_booking_event(booking=booking, retry_on_failure=False):
        if booking.calendar_write == CalendarWrite.NONE:
            return  # the host has no calendar any more: nothing to write to
        # Raising makes huey retry with its delay; the booking itself is never lost.
        Booking.objects.filter(pk=booking_id).update(calendar_write=CalendarWrite.PENDING)
        raise RuntimeError(f"Calendar write for booking {booking_id} still failing")


@db_periodic_task(crontab(minute="*/5"))
def sweep_pending_calendar_writes() -> None:
    """Catch writes whose retries were lost (e.g. the consumer was down)."""
    pending = Booking.objects.filter(calendar_write=CalendarWrite.PENDING).values_list("pk", flat=True)
    for booking_id in pending[:100]:
        retry_booking_event(str(booking_id))
