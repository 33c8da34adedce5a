"""Read side of the host pages: what the dashboard and the settings pages show.

Views call these and only shape the result into a template context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from django.db.models import Q
from django.utils.translation import gettext

from yoyaku.accounts.models import (
    ApiKey,
    CalendarConnection,
    ConnectionStatus,
    InboxConnection,
    User,
)
from yoyaku.accounts.selectors import (
    busy_calendar_ids,
    crm_connection_of,
    meetings_calendar_id,
    pages_connection_of,
    stored_calendars,
    user_connections,
    user_inboxes,
)
from yoyaku.accounts.unreadable import unreadable_events
from yoyaku.calendars.base import CalendarInfo
from yoyaku.calendars.capabilities import Capabilities, capabilities
from yoyaku.scheduling.calendar_writes import change_refusal
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, MeetingLink
from yoyaku.scheduling.selectors import (
    bookings_of_host,
    cancelled_on_calendar,
    host_bookings,
    meeting_requests,
    meetings_connections,
    past_host_bookings,
)

# The dashboard lists at most this many rows per section; older or later ones are not dropped
# from the data, only from the page.
DASHBOARD_ROWS = 50


@dataclass(frozen=True)
class CalendarChoices:
    """A connection's calendars as the settings form offers them."""

    calendars: list[CalendarInfo] = field(default_factory=list)
    # Set when the settings cannot be changed now (the calendar must be reconnected).
    error: str = ""
    checked_ids: list[str] = field(default_factory=list)
    write_id: str = ""
    # False when no calendar list is kept for the connection yet: the host refreshes it.
    listed: bool = True


@dataclass(frozen=True)
class UnreadableNotice:
    """An event of the calendar that could not be read, as the dashboard names it."""

    event: str
    # Why, in the host's language.
    reason: str
    # The parser's own words (not translated: they name the broken value).
    detail: str = ""


@dataclass(frozen=True)
class ConnectionPanel:
    connection: CalendarConnection
    choices: CalendarChoices
    inboxes: list[InboxConnection]
    capabilities: Capabilities
    unreadable: list[UnreadableNotice] = field(default_factory=list)
    # What the connection is used for (see accounts.selectors: a legacy account may hold two).
    serves_pages: bool = True
    serves_crm: bool = True


@dataclass(frozen=True)
class UpcomingMeeting:
    booking: Booking
    # Why the host's calendar refuses a cancel or a move from here ("" when it takes them).
    cancel_refusal: str = ""
    reschedule_refusal: str = ""


@dataclass(frozen=True)
class CalendarProblem:
    booking: Booking
    # What Yoyaku failed to do on the calendar: add the meeting, move its event, or cancel it.
    action: Literal["add", "move", "cancel"]


@dataclass(frozen=True)
class Dashboard:
    links: list[MeetingLink]
    upcoming: list[UpcomingMeeting]
    requests: list[Booking]
    # Meetings that have ended (cancelled ones too), latest first, each with its outcome.
    past: list[Booking]
    panels: list[ConnectionPanel]
    # Inboxes not tied to any of the user's calendar connections.
    other_inboxes: list[InboxConnection]
    # Meetings whose calendar write or cancellation was given up: the host retries or fixes them.
    calendar_problems: list[CalendarProblem] = field(default_factory=list)
    # Meetings not yet over that were deleted or cancelled on the host's calendar (and so here).
    cancelled_on_calendar: list[Booking] = field(default_factory=list)


def host_links(*, user: User) -> list[MeetingLink]:
    """Scheduling pages the user owns or hosts, active ones first."""
    return list(
        MeetingLink.objects.filter(Q(owner=user) | Q(hosts=user))
        .distinct()
        .select_related("owner")
        .order_by("-active", "name", "id")
    )


def calendar_problems(*, user: User, now: datetime, limit: int = DASHBOARD_ROWS) -> list[CalendarProblem]:
    """Meetings not yet over whose calendar is wrong, soonest first.

    A confirmed meeting whose event could not be written (the host would miss it), or, when it
    already had an event, moved (the calendar shows the old time); and a cancelled one whose event
    could not be cancelled (the host's calendar still shows it).
    """
    bookings = list(
        bookings_of_host(user=user)
        .filter(
            Q(status=BookingStatus.CONFIRMED, calendar_write=CalendarWrite.FAILED)
            | Q(status=BookingStatus.CANCELLED, calendar_write=CalendarWrite.CANCEL_FAILED)
        )
        .filter(end__gt=now)
        .order_by("start", "created_at")[:limit]
    )
    return [CalendarProblem(booking=b, action=_failed_action(b)) for b in bookings]


def _failed_action(booking: Booking) -> Literal["add", "move", "cancel"]:
    if booking.calendar_write == CalendarWrite.CANCEL_FAILED:
        return "cancel"
    # A write of a booking that has an event updates that event: the meeting was moved.
    return "move" if booking.calendar_event_id else "add"


def calendar_choices(*, connection: CalendarConnection) -> CalendarChoices:
    """The calendars to offer in the settings form, with what is checked today.

    The list is the one kept on the connection (never read from the provider here, so an
    unreachable provider cannot hold the page up). What is checked is exactly what busy time
    is read from; no stored write calendar means the primary one receives meetings.
    """
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        # The saved sign-in is known to be refused: nothing can be saved until it is reconnected.
        return CalendarChoices(error=gettext("Reconnect the calendar to change these settings."))
    calendars = stored_calendars(connection=connection)
    if calendars is None:
        return CalendarChoices(listed=False)
    checked = busy_calendar_ids(connection=connection, calendars=calendars)
    write_id = meetings_calendar_id(connection=connection, calendars=calendars)
    return CalendarChoices(calendars=calendars, checked_ids=checked, write_id=write_id)


def upcoming_meetings(*, user: User, now: datetime, limit: int = DASHBOARD_ROWS) -> list[UpcomingMeeting]:
    """The host's upcoming meetings, each with why its calendar refuses a cancel or move, if it does."""
    bookings = list(host_bookings(user=user, after=now, limit=limit))
    # Each assigned host's meetings connection, in one query however many co-hosts the list holds.
    hosts = {b.assigned_host_id: b.assigned_host for b in bookings}
    connections = meetings_connections(users=list(hosts.values()))
    meetings = []
    for booking in bookings:
        connection = connections.get(booking.assigned_host_id)
        cancel = change_refusal(booking=booking, change="cancel", connection=connection)
        move = change_refusal(booking=booking, change="reschedule", connection=connection)
        meetings.append(UpcomingMeeting(booking=booking, cancel_refusal=cancel, reschedule_refusal=move))
    return meetings


def unreadable_notices(*, connection: CalendarConnection) -> list[UnreadableNotice]:
    """The connection's events that busy time could not read, with why in the host's language."""
    reasons = {
        "start": gettext("its start time could not be read"),
        "end": gettext("its end time could not be read (missing, malformed or before the start)"),
        "recurrence": gettext("its repeat rule or its exceptions could not be read"),
        "data": gettext("its calendar data could not be read"),
    }
    return [
        UnreadableNotice(event=e.event, reason=reasons.get(e.reason, reasons["data"]), detail=e.detail)
        for e in unreadable_events(connection=connection)
    ]


def connection_panels(*, user: User) -> tuple[list[ConnectionPanel], list[InboxConnection]]:
    """One panel per calendar connection with its calendars and inboxes; and the unattached inboxes."""
    connections = user_connections(user=user)
    inboxes = user_inboxes(user=user)
    for_pages, for_crm = pages_connection_of(connections), crm_connection_of(connections)
    panels = [
        ConnectionPanel(
            connection=connection,
            choices=calendar_choices(connection=connection),
            inboxes=[i for i in inboxes if i.calendar_connection_id == connection.pk],
            capabilities=capabilities(connection.provider),
            unreadable=unreadable_notices(connection=connection),
            serves_pages=connection == for_pages,
            serves_crm=connection == for_crm,
        )
        for connection in connections
    ]
    attached = {i.pk for panel in panels for i in panel.inboxes}
    return panels, [i for i in inboxes if i.pk not in attached]


def dashboard(*, user: User, now: datetime) -> Dashboard:
    panels, other_inboxes = connection_panels(user=user)
    return Dashboard(
        links=host_links(user=user),
        upcoming=upcoming_meetings(user=user, now=now),
        requests=meeting_requests(user=user, now=now, limit=DASHBOARD_ROWS),
        past=past_host_bookings(user=user, before=now, limit=DASHBOARD_ROWS),
        panels=panels,
        other_inboxes=other_inboxes,
        calendar_problems=calendar_problems(user=user, now=now),
        cancelled_on_calendar=cancelled_on_calendar(user=user, now=now, limit=DASHBOARD_ROWS),
    )


def api_keys(*, user: User) -> list[ApiKey]:
    """The user's keys that still work, newest first (revoked keys are gone from the list)."""
    return list(ApiKey.objects.filter(user=user, revoked=False).order_by("-created_at", "-id"))
