from __future__ import annotations

from yoyaku.accounts.models import CalendarConnection, ConnectionPurpose, InboxConnection, User
from yoyaku.calendars.base import CalendarInfo


def meetings_connection(*, user: User) -> CalendarConnection | None:
    """The connection whose calendar blocks the user's pages and receives bookings.

    Legacy accounts may hold a second connection for calendar settings; the
    meetings tool uses its own when present.
    """
    connections = {c.purpose: c for c in CalendarConnection.objects.filter(user=user).select_related("user")}
    return connections.get(ConnectionPurpose.MEETINGS) or connections.get(ConnectionPurpose.CALENDAR_SETTINGS)


def user_connections(*, user: User) -> list[CalendarConnection]:
    """The user's calendar connections, meetings first."""
    raise NotImplementedError


def user_inboxes(*, user: User) -> list[InboxConnection]:
    raise NotImplementedError


def calendars_of(*, connection: CalendarConnection) -> list[CalendarInfo]:
    """The calendars of a connection, for the settings (which to check, which receives bookings)."""
    raise NotImplementedError
