"""Read side of the host pages: what the dashboard and the settings pages show.

Views call these and only shape the result into a template context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.utils.translation import gettext

from yoyaku.accounts.models import ApiKey, CalendarConnection, ConnectionStatus, InboxConnection, User
from yoyaku.accounts.selectors import calendars_of, user_connections, user_inboxes
from yoyaku.calendars.base import CalendarError, CalendarInfo
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite, MeetingLink
from yoyaku.scheduling.selectors import bookings_of_host, host_bookings, meeting_requests

# The dashboard lists at most this many rows per section; older or later ones are not dropped
# from the data, only from the page.
DASHBOARD_ROWS = 50


@dataclass(frozen=True)
class CalendarChoices:
    """A connection's calendars as the settings form offers them."""

    calendars: list[CalendarInfo] = field(default_factory=list)
    # Set when the calendars could not be listed (the form is then not offered).
    error: str = ""
    checked_ids: list[str] = field(default_factory=list)
    write_id: str = ""


@dataclass(frozen=True)
class ConnectionPanel:
    connection: CalendarConnection
    choices: CalendarChoices
    inboxes: list[InboxConnection]


@dataclass(frozen=True)
class Dashboard:
    links: list[MeetingLink]
    upcoming: list[Booking]
    requests: list[Booking]
    panels: list[ConnectionPanel]
    # Inboxes not tied to any of the user's calendar connections.
    other_inboxes: list[InboxConnection]
    # Meetings whose calendar write or cancellation was given up: the host retries or fixes them.
    calendar_problems: list[Booking] = field(default_factory=list)


def host_links(*, user: User) -> list[MeetingLink]:
    """Scheduling pages the user owns or hosts, active ones first."""
    return list(
        MeetingLink.objects.filter(Q(owner=user) | Q(hosts=user))
        .distinct()
        .select_related("owner")
        .order_by("-active", "name", "id")
    )


def calendar_problems(*, user: User, now: datetime, limit: int = DASHBOARD_ROWS) -> list[Booking]:
    """Meetings not yet over whose calendar is wrong, soonest first.

    A confirmed meeting whose event could not be written (the host would miss it), and a
    cancelled one whose event could not be cancelled (the host's calendar still shows it).
    """
    return list(
        bookings_of_host(user=user)
        .filter(
            Q(status=BookingStatus.CONFIRMED, calendar_write=CalendarWrite.FAILED)
            | Q(status=BookingStatus.CANCELLED, calendar_write=CalendarWrite.CANCEL_FAILED)
        )
        .filter(end__gt=now)
        .order_by("start", "created_at")[:limit]
    )


def calendar_choices(*, connection: CalendarConnection) -> CalendarChoices:
    """The calendars to offer in the settings form, with what is checked today.

    No stored conflict calendars means every calendar is checked (that is how busy time is read);
    no stored write calendar means the provider's primary one receives meetings.
    """
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        # The saved sign-in is known to be refused: asking the provider again only slows the page.
        return CalendarChoices(error=gettext("Reconnect the calendar to change these settings."))
    try:
        calendars = calendars_of(connection=connection)
    except CalendarError as error:
        return CalendarChoices(error=str(error))
    ids = [c.id for c in calendars]
    checked = [i for i in connection.conflict_calendar_ids if i in ids] or ids
    write_id = connection.write_calendar_id
    if write_id not in ids:
        write_id = next((c.id for c in calendars if c.primary and c.writable), "")
        write_id = write_id or next((c.id for c in calendars if c.writable), "")
    return CalendarChoices(calendars=calendars, checked_ids=checked, write_id=write_id)


def connection_panels(*, user: User) -> tuple[list[ConnectionPanel], list[InboxConnection]]:
    """One panel per calendar connection with its calendars and inboxes; and the unattached inboxes."""
    connections = user_connections(user=user)
    inboxes = user_inboxes(user=user)
    panels = [
        ConnectionPanel(
            connection=connection,
            choices=calendar_choices(connection=connection),
            inboxes=[i for i in inboxes if i.calendar_connection_id == connection.pk],
        )
        for connection in connections
    ]
    attached = {i.pk for panel in panels for i in panel.inboxes}
    return panels, [i for i in inboxes if i.pk not in attached]


def dashboard(*, user: User, now: datetime) -> Dashboard:
    panels, other_inboxes = connection_panels(user=user)
    return Dashboard(
        links=host_links(user=user),
        upcoming=host_bookings(user=user, after=now, limit=DASHBOARD_ROWS),
        requests=meeting_requests(user=user, now=now, limit=DASHBOARD_ROWS),
        panels=panels,
        other_inboxes=other_inboxes,
        calendar_problems=calendar_problems(user=user, now=now),
    )


def api_keys(*, user: User) -> list[ApiKey]:
    """The user's keys that still work, newest first (revoked keys are gone from the list)."""
    return list(ApiKey.objects.filter(user=user, revoked=False).order_by("-created_at", "-id"))
