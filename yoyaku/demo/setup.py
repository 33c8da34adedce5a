"""The demo's data: three hosts, their pages and the CalDAV connection. Safe to run again.

Runs after Django has loaded. A run adds only what is missing: what the person
changed in an earlier run (names, time zones, working hours, the pages' settings,
bookings) is kept. What a run does rewrite: the CalDAV connection (the server's
port changes between runs), the passwords (the terminal prints one password, and
it must work) and the API key. The third host, "newhost", starts every run without
a calendar: it is the one a person connects to the local Google, Microsoft or
Exchange server by hand, and those servers forget their grants when they stop.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from yoyaku.accounts.connections import ConnectionRefused, refresh_calendars
from yoyaku.accounts.models import (
    ApiKey,
    CalendarConnection,
    ConnectionPurpose,
    ConnectionStatus,
    InboxConnection,
    Provider,
    User,
    Workspace,
    WorkspaceRole,
)
from yoyaku.accounts.services import create_api_key, create_user, move_user
from yoyaku.scheduling.host_services import create_link, set_availability, update_link
from yoyaku.scheduling.models import Availability, MeetingLink

DEMO_USERNAME = "demo"
OFFLINE_USERNAME = "demo-offline"
NEW_HOST_USERNAME = "newhost"
DEMO_SLUG = "demo"
OFFLINE_SLUG = "demo-offline"
NEW_HOST_SLUG = "newhost"
API_KEY_NAME = "demo"
DEMO_WORKSPACE_NAME = "Demo"
WEEKDAYS_9_TO_5 = {str(day): [[9 * 60, 17 * 60]] for day in range(5)}


@dataclass(frozen=True)
class DemoData:
    host: User
    offline_host: User
    new_host: User
    link: MeetingLink
    offline_link: MeetingLink
    new_host_link: MeetingLink
    password: str
    api_key: str


def _workspace() -> Workspace:
    # A database from before workspaces has its users in one already: the demo keeps using it.
    host = User.objects.filter(username=DEMO_USERNAME).select_related("workspace").first()
    if host is not None:
        return host.workspace
    workspace = Workspace.objects.filter(name=DEMO_WORKSPACE_NAME).order_by("pk").first()
    return workspace or Workspace.objects.create(name=DEMO_WORKSPACE_NAME)


def _user(
    *,
    workspace: Workspace,
    username: str,
    first_name: str,
    last_name: str,
    time_zone: str,
    password: str,
    staff: bool = False,
) -> User:
    role = WorkspaceRole.ADMIN if staff else WorkspaceRole.MEMBER
    user = User.objects.filter(username=username).first()
    if user is None:
        user = create_user(username=username, workspace=workspace, role=role)
        user.first_name, user.last_name = first_name, last_name
    elif (user.workspace_id, user.workspace_role) != (workspace.pk, role):
        user = move_user(user=user, workspace=workspace, role=role)
    user.email = user.email or f"{username}@example.com"
    user.is_active = True
    user.set_password(password)
    # The demo host may look around the admin too (bookings, contacts, meetings).
    user.is_staff = user.is_superuser = staff
    user.save()
    if not Availability.objects.filter(user=user).exists():
        # Seeded once: the hours and zone the person sets later are theirs.
        set_availability(user=user, time_zone=time_zone, weekly=WEEKDAYS_9_TO_5, overrides={})
    user.refresh_from_db()
    return user


def _link(*, owner: User, slug: str, **fields: Any) -> MeetingLink:
    existing = MeetingLink.objects.filter(slug=slug).first()
    if existing is None:
        return create_link(owner=owner, slug=slug, **fields)
    if existing.owner_id != owner.pk:
        # A database from an older demo: the page goes back to its demo host, as it was then.
        existing.owner = owner
        existing.save(update_fields=["owner"])
        return update_link(link=existing, host_usernames=[owner.username], **fields)
    return existing  # as the person left it


def connect_demo_calendar(
    *, user: User, server_url: str, calendar_url: str, username: str, password: str
) -> CalendarConnection:
    connection = CalendarConnection.objects.filter(user=user, purpose=ConnectionPurpose.MEETINGS).first()
    connection = connection or CalendarConnection(user=user, purpose=ConnectionPurpose.MEETINGS)
    connection.provider = Provider.CALDAV
    connection.account_email = user.email
    connection.server_url = server_url
    connection.username = username
    connection.secret = password
    connection.conflict_calendar_ids = [calendar_url]
    connection.write_calendar_id = calendar_url
    connection.status = ConnectionStatus.OK
    connection.status_message = ""
    connection.save()
    # What was synced (events, sync tokens, the busy index) belongs to the previous run's server.
    from yoyaku.calendar_sync.models import CalendarSyncState, ConnectionSync, SyncedEvent

    for model in (SyncedEvent, CalendarSyncState, ConnectionSync):
        model.objects.filter(connection=connection).delete()
    # As connecting does: the dashboard shows the calendar list kept on the connection.
    with suppress(ConnectionRefused):
        refresh_calendars(user=user, connection_id=connection.pk)
    return connection


def set_up_demo(
    *,
    password: str,
    time_zone: str,
    offline_time_zone: str,
    caldav_url: str,
    calendar_url: str,
    caldav_username: str,
    caldav_password: str,
) -> DemoData:
    with transaction.atomic():
        workspace = _workspace()
        host = _user(
            workspace=workspace,
            username=DEMO_USERNAME,
            first_name="Demo",
            last_name="Host",
            time_zone=time_zone,
            password=password,
            staff=True,
        )
        new_host = _user(
            workspace=workspace,
            username=NEW_HOST_USERNAME,
            first_name="New",
            last_name="Host",
            time_zone=time_zone,
            password=password,
        )
        offline_host = _user(
            workspace=workspace,
            username=OFFLINE_USERNAME,
            first_name="Offline",
            last_name="Host",
            time_zone=offline_time_zone,
            password=password,
        )
        connect_demo_calendar(
            user=host,
            server_url=caldav_url,
            calendar_url=calendar_url,
            username=caldav_username,
            password=caldav_password,
        )
        # Offline mode means no calendar at all; the new host connects one by hand each run.
        for user in (offline_host, new_host):
            CalendarConnection.objects.filter(user=user).delete()
            InboxConnection.objects.filter(user=user).delete()
        link = _link(
            owner=host,
            slug=DEMO_SLUG,
            name="Intro call",
            durations=[15, 30, 60],
            increment_minutes=30,
            rolling_weeks=8,
            form_fields=[{"key": "company", "label": "Company", "type": "text", "required": False}],
            location="https://meet.example.com/demo",
            active=True,
        )
        offline_link = _link(
            owner=offline_host,
            slug=OFFLINE_SLUG,
            name="Consultation",
            durations=[30],
            increment_minutes=30,
            rolling_weeks=4,
            location="",
            active=True,
        )
        new_host_link = _link(
            owner=new_host,
            slug=NEW_HOST_SLUG,
            name="First meeting",
            durations=[30, 60],
            increment_minutes=30,
            rolling_weeks=8,
            location="https://meet.example.com/newhost",
            active=True,
        )
        # One key per run: the old ones were printed to a terminal that is gone.
        ApiKey.objects.filter(user=host, name=API_KEY_NAME).delete()
        api_key = create_api_key(user=host, name=API_KEY_NAME)
    return DemoData(
        host=host,
        offline_host=offline_host,
        new_host=new_host,
        link=link,
        offline_link=offline_link,
        new_host_link=new_host_link,
        password=password,
        api_key=api_key,
    )
