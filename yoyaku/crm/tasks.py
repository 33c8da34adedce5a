"""Background work of the CRM: meetings' calendar writes and cancellations, and their sweep.

``send_meeting_to_calendar`` raises while the operation keeps failing, so huey retries it a few
times at short intervals; the sweep picks up what is still pending later (and what was lost while
no consumer ran). Bounds on attempts and age are in ``crm/calendar_writes``.
"""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=6, retry_delay=30)
def send_meeting_to_calendar(meeting_id: int) -> None:
    from yoyaku.crm.calendar_writes import send_meeting_event

    if send_meeting_event(meeting_id=meeting_id) == "pending":
        # Raising makes huey retry with its delay; the meeting itself is never lost.
        raise RuntimeError(f"Calendar write for CRM meeting {meeting_id} still failing")


@db_periodic_task(crontab(minute="*/5"))
def sweep_pending_meeting_writes() -> None:
    """Retry pending CRM meeting writes whose time has come (and those whose reconnect came)."""
    from yoyaku.crm.calendar_writes import meetings_due

    for meeting_id in meetings_due(now=timezone.now()):
        send_meeting_to_calendar(meeting_id)
