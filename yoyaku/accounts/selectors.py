from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import closing

from django.db.models import Case, Value, When

from yoyaku.accounts.models import CalendarConnection, ConnectionPurpose, InboxConnection, Provider, User
from yoyaku.calendars.base import CalendarInfo

# The legacy two-connection rule (accounts from before YOYAKU_LEGACY_CONNECTION_CUTOFF may hold one
# connection per purpose): the "meetings" connection serves the scheduling pages (their busy time, the
# fresh read at booking, the booked meetings' events); the "calendar settings" one serves calendar sync
# with the CRM and the meetings made in the CRM. A user with one connection uses it for everything.
_FOR_PAGES = (ConnectionPurpose.MEETINGS, ConnectionPurpose.CALENDAR_SETTINGS)
_FOR_CRM = (ConnectionPurpose.CALENDAR_SETTINGS, ConnectionPurpose.MEETINGS)


def _first_by_purpose(
    connections: Iterable[CalendarConnection], order: Sequence[str]
) -> CalendarConnection | None:
    by_purpose = {c.purpose: c for c in connections}
    return next((by_purpose[p] for p in order if p in by_purpose), None)


def pages_connection_of(connections: Iterable[CalendarConnection]) -> CalendarConnection | None:
    """Of one user's connections, the one that serves the scheduling pages."""
    return _first_by_purpose(connections, _FOR_PAGES)


def crm_connection_of(connections: Iterable[CalendarConnection]) -> CalendarConnection | None:
    """Of one user's connections, the one that serves calendar sync with the CRM and CRM meetings."""
    return _first_by_purpose(connections, _FOR_CRM)


def meetings_connection(*, user: User) -> CalendarConnection | None:
    """The connection whose calendar blocks the user's pages and receives bookings.

    Legacy accounts may hold a second connection for calendar settings; the
    meetings tool uses its own when present.
    """
    return pages_connection_of(CalendarConnection.objects.filter(user=user).select_related("user"))


def crm_connection(*, user: User) -> CalendarConnection | None:
    """The connection that receives the user's CRM meetings and syncs calendar events with the CRM: the
    "calendar settings" one of a legacy account holding two, else the only one."""
    return crm_connection_of(CalendarConnection.objects.filter(user=user).select_related("user"))


def user_connections(*, user: User) -> list[CalendarConnection]:
    """The user's calendar connections, the one the meetings tool uses first."""
    order = Case(When(purpose=ConnectionPurpose.MEETINGS, then=Value(0)), default=Value(1))
    return list(
        CalendarConnection.objects.filter(user=user)
        .select_related("user")
        .order_by(order, "created_at", "pk")
    )


def user_inboxes(*, user: User) -> list[InboxConnection]:
    return list(InboxConnection.objects.filter(user=user).order_by("created_at", "pk"))


def calendars_of(*, connection: CalendarConnection) -> list[CalendarInfo]:
    """The calendars of a connection, read from the provider, for the settings (which to check, which
    receives bookings).

    Raises CalendarError (its text is fit for the user) when the provider cannot be read.
    """
    from yoyaku.accounts.calendar_registry import adapter_for

    with closing(adapter_for(connection)) as adapter:
        return adapter.list_calendars()


def stored_calendars(*, connection: CalendarConnection) -> list[CalendarInfo] | None:
    """The calendar list kept on the connection when it was connected or last refreshed.

    None when none was kept (a connection made before lists were kept): the pages
    offer "Refresh calendars" rather than asking the provider on every view.
    """
    stored = (connection.provider_details or {}).get("calendars")
    if not isinstance(stored, list):
        return None
    return [
        CalendarInfo(
            id=str(item["id"]),
            name=str(item.get("name") or item["id"]),
            primary=bool(item.get("primary", False)),
            # Lists kept before writability was recorded: the settings check it against the provider.
            writable=bool(item.get("writable", True)),
        )
        for item in stored
        if isinstance(item, dict) and item.get("id")
    ]


def meetings_calendar_id(*, connection: CalendarConnection, calendars: list[CalendarInfo]) -> str:
    """Of ``calendars``, the one that receives meetings: the stored choice, else the primary (writable)
    one, else the first writable one; "" when none may be written to."""
    if connection.write_calendar_id in [c.id for c in calendars]:
        return connection.write_calendar_id
    write_id = next((c.id for c in calendars if c.primary and c.writable), "")
    return write_id or next((c.id for c in calendars if c.writable), "")


def busy_calendar_ids(*, connection: CalendarConnection, calendars: list[CalendarInfo]) -> list[str]:
    """Of ``calendars``, the ones busy time is read from.

    A stored choice is passed to the adapter as it is. Without one the adapter decides
    (``busy()`` with no calendars): CalDAV reads every calendar of the account; Google,
    Microsoft 365 and Exchange read only the primary (default) calendar.
    """
    ids = [c.id for c in calendars]
    if connection.conflict_calendar_ids:
        return [i for i in connection.conflict_calendar_ids if i in ids]
    if connection.provider == Provider.CALDAV:
        return ids
    return [c.id for c in calendars if c.primary][:1]


def workspace_users(*, workspace_id: int, usernames: Sequence[str]) -> list[User]:
    """The active users of a workspace among ``usernames``; names of other workspaces are not found."""
    return list(User.objects.filter(workspace_id=workspace_id, username__in=list(usernames), is_active=True))


def workspace_members(*, workspace_id: int) -> list[User]:
    """The workspace's users for its admin page, with their seats and inboxes (three queries)."""
    return list(
        User.objects.filter(workspace_id=workspace_id)
        .prefetch_related("seats", "inbox_connections")
        .order_by("-is_active", "username")
    )


def workspace_inboxes(*, workspace_id: int) -> list[InboxConnection]:
    """Every inbox connected by a user of the workspace, shared ones first."""
    return list(
        InboxConnection.objects.filter(user__workspace_id=workspace_id)
        .select_related("user")
        .order_by("-shared", "email")
    )
