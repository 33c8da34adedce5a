"""Small builders for test data, going through the same services the API uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from yoyaku.accounts.models import (
    DEFAULT_WORKSPACE_NAME,
    CalendarConnection,
    Provider,
    User,
    Workspace,
    WorkspaceRole,
)
from yoyaku.accounts.services import create_api_key, create_user
from yoyaku.scheduling.host_services import create_link, set_availability
from yoyaku.scheduling.models import MeetingLink

WEEKDAYS_9_TO_5 = {str(d): [[9 * 60, 17 * 60]] for d in range(5)}
EVERY_DAY_9_TO_5 = {str(d): [[9 * 60, 17 * 60]] for d in range(7)}


def shared_workspace() -> Workspace:
    """The one workspace a test's hosts share unless it names another (so they can host pages together)."""
    workspace = Workspace.objects.filter(name=DEFAULT_WORKSPACE_NAME).order_by("pk").first()
    return workspace or Workspace.objects.create(name=DEFAULT_WORKSPACE_NAME)


def make_workspace(name: str = "Other team") -> Workspace:
    return Workspace.objects.create(name=name)


def make_host(
    username: str = "hana",
    *,
    time_zone: str = "Europe/Berlin",
    weekly: dict[str, list[list[int]]] | None = None,
    email: str | None = None,
    workspace: Workspace | None = None,
    role: str = WorkspaceRole.MEMBER,
) -> User:
    user = create_user(
        username=username,
        workspace=workspace or shared_workspace(),
        role=role,
        email=email or f"{username}@example.com",
        password="pw-" + username,
        first_name=username.capitalize(),
    )
    set_availability(user=user, time_zone=time_zone, weekly=weekly or EVERY_DAY_9_TO_5, overrides={})
    user.refresh_from_db()
    return user


def make_link(owner: User, slug: str = "intro", **fields: Any) -> MeetingLink:
    fields.setdefault("name", "Intro call")
    fields.setdefault("durations", [30])
    fields.setdefault("increment_minutes", 30)
    return create_link(owner=owner, slug=slug, **fields)


def api_key_for(user: User) -> str:
    return create_api_key(user=user)


def connect_caldav(
    user: User, *, server_url: str, username: str, password: str, calendar_url: str
) -> CalendarConnection:
    """Connect ``user`` to one CalDAV calendar: it blocks the user's time and receives bookings."""
    connection = CalendarConnection(
        user=user,
        provider=Provider.CALDAV,
        account_email=user.email,
        server_url=server_url,
        username=username,
        conflict_calendar_ids=[calendar_url],
        write_calendar_id=calendar_url,
    )
    connection.secret = password
    connection.save()
    return connection


def sync_now(connection: CalendarConnection) -> None:
    """Run one sync of ``connection``, as the background task does: the pages read only its result."""
    from yoyaku.calendar_sync.services import sync_connection_now

    assert sync_connection_now(connection_id=connection.pk), "the sync failed"
    connection.refresh_from_db()


def run_calendar_writes(*, at: datetime | None = None) -> int:
    """Let the calendar worker perform every outbox row that is due (``at``: as if it were then), as
    the consumer does once the change commits; returns how many rows it took up.

    The suite's tests run inside a transaction that never commits, so the worker queued on commit
    does not run there by itself.
    """
    from yoyaku.calendar_sync import outbox

    now = at or timezone.now()
    due = outbox.due(now=now)
    for entry_id in due:
        outbox.perform(entry_id=entry_id, now=now)
    return len(due)


def send_queued_mail() -> None:
    """Send what the worker would once the change committed: the mail a test's transaction queued (it
    never commits, so no task was queued) and nothing that was tried already."""
    from yoyaku.mail.models import MailStatus, OutgoingMail
    from yoyaku.mail.services import deliver

    waiting = OutgoingMail.objects.filter(status=MailStatus.PENDING, attempts=0).order_by("pk")
    for mail_id in waiting.values_list("pk", flat=True):
        deliver(mail_id=mail_id)
