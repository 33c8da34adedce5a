"""Meetings made in the CRM follow their events on the calendar: moved, edited, cancelled, answered.

The same rules as bookings (``scheduling/calendar_changes.py``): only a meeting whose own write
is settled (``written``) follows, so a change of Yoyaku's still on its way is never undone by a
sync that has not seen it yet; a deleted or cancelled event cancels the meeting and nothing is
written back; on CalDAV Yoyaku is the contacts' scheduling agent (RFC 6638 §7.1), so they get
Yoyaku's update or cancellation mail; Google and Microsoft 365 mail them themselves.

Title, place and description follow too. Graph's delta gives only a 255-character preview of the
body, so on Microsoft 365 the description stays Yoyaku's.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.calendar_sync.changes import StoreChanges
from yoyaku.calendar_sync.followed import (
    StoredEvent,
    answers_of,
    chunked,
    fates_of,
    mail_sequence,
    queue_follow_up_mail,
    write_fields,
)
from yoyaku.crm.calendar_writes import meeting_event_draft
from yoyaku.crm.models import Meeting, MeetingOutcome, MeetingSource
from yoyaku.crm.notifications import send_meeting_mail
from yoyaku.scheduling.calendar_writes import settled
from yoyaku.scheduling.models import CalendarWrite

logger = logging.getLogger(__name__)

_FOLLOWED = ["start", "end", "title", "location", "description", "attendee_responses", "updated_at"]


def follow_crm_meetings(
    *, connection: CalendarConnection, changes: StoreChanges, event_ids: list[str], now: datetime
) -> None:
    """Make the CRM's own meetings written on ``connection`` follow what the sync changed."""
    meetings: list[Meeting] = []
    for batch in chunked(event_ids):
        meetings += Meeting.objects.filter(
            source=MeetingSource.CRM,
            calendar_connection=connection,
            calendar_write=CalendarWrite.WRITTEN,
            calendar_event_id__in=batch,
        ).exclude(outcome=MeetingOutcome.CANCELLED)
    if not meetings:
        return
    cancelled: list[Meeting] = []
    changed: list[Meeting] = []
    for meeting, fate in fates_of(changes=changes, linked=meetings):
        if fate.fate in ("cancelled", "deleted"):
            cancelled.append(meeting)
            if connection.provider == Provider.CALDAV:
                _mail(connection=connection, meeting=meeting, kind="cancellation", row=fate.row, now=now)
        elif fate.row is not None:
            moved = _take_event(meeting=meeting, row=fate.row)
            if moved is not None:
                changed.append(meeting)
                if moved and connection.provider == Provider.CALDAV:
                    _mail(connection=connection, meeting=meeting, kind="update", row=fate.row, now=now)
    fields = {"outcome": MeetingOutcome.CANCELLED, **settled(CalendarWrite.CANCELLED)}
    for pks in chunked([m.pk for m in cancelled]):
        Meeting.objects.filter(pk__in=pks).update(updated_at=timezone.now(), **fields)
    for meeting in cancelled:
        logger.info("CRM meeting %s follows its event: cancelled on the calendar", meeting.pk)
    write_fields(rows=changed, fields=_FOLLOWED)


def _take_event(*, meeting: Meeting, row: StoredEvent) -> bool | None:
    """Copy the event onto ``meeting``: None if nothing changed, True if what contacts see changed
    (time, title, place, description), False if only their answers did."""
    seen = {
        "start": row.start,
        "end": row.end,
        "title": row.title[:300] or meeting.title,
        "location": row.location[:500],
        "description": row.description,
    }
    shown = any(getattr(meeting, name) != value for name, value in seen.items())
    answers = answers_of(row)
    if not shown and answers == meeting.attendee_responses:
        return None
    for name, value in seen.items():
        setattr(meeting, name, value)
    meeting.attendee_responses = answers
    meeting.updated_at = timezone.now()
    if shown:
        logger.info("CRM meeting %s follows its event %s", meeting.pk, meeting.calendar_event_id)
    return shown


def _mail(
    *, connection: CalendarConnection, meeting: Meeting, kind: str, row: StoredEvent | None, now: datetime
) -> None:
    sequence = mail_sequence(row=row, now=now)

    def send() -> None:
        send_meeting_mail(
            meeting=meeting,
            draft=meeting_event_draft(meeting=meeting),
            kind="cancellation" if kind == "cancellation" else "update",
            sequence=sequence,
        )

    queue_follow_up_mail(event_id=meeting.calendar_event_id, connection_id=connection.pk, send=send)
