"""CRM reads: contacts and meetings of one workspace, searched, filtered and paged.

Every read takes the workspace it reads in; an id of another workspace is not found, exactly like an id
that does not exist, so an answer tells nothing about other workspaces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar

from django.db.models import Prefetch, Q, QuerySet

from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.accounts.selectors import crm_connection
from yoyaku.calendars.capabilities import capabilities
from yoyaku.crm.models import CalendarEventLink, Contact, Meeting, MeetingAssociation

T = TypeVar("T")
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25
When = Literal["upcoming", "past", ""]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _bounds(page: int, per_page: int) -> tuple[int, int]:
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    return max(page, 1), per_page


def _paged(rows: QuerySet[T], *, page: int, per_page: int) -> Page[T]:  # type: ignore[type-var]
    page, per_page = _bounds(page, per_page)
    total = rows.count()
    offset = (page - 1) * per_page
    return Page(items=list(rows[offset : offset + per_page]), total=total, page=page, per_page=per_page)


def contacts_page(
    *, workspace_id: int, query: str = "", page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[Contact]:
    """The workspace's contacts, by name then email; ``query`` matches names and email.

    Each word of the query must match the first name, the last name or the email, so
    "aiko sato" finds Aiko Sato and "sato@" finds her by address.
    """
    rows = Contact.objects.filter(workspace_id=workspace_id).select_related("owner")
    for word in query.split()[:8]:
        rows = rows.filter(
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        )
    rows = rows.order_by("last_name", "first_name", "email", "pk")
    return _paged(rows, page=page, per_page=per_page)


def contact_of(*, workspace_id: int, contact_id: int) -> Contact:
    """The contact with that id in the workspace; raises Contact.DoesNotExist otherwise."""
    return Contact.objects.select_related("owner").get(workspace_id=workspace_id, pk=contact_id)


def contact_of_or_none(*, workspace_id: int, contact_id: int) -> Contact | None:
    return Contact.objects.filter(workspace_id=workspace_id, pk=contact_id).first()


def contact_by_email(*, workspace_id: int, email: str) -> Contact | None:
    return Contact.objects.filter(workspace_id=workspace_id, email__iexact=email.strip()).first()


def _with_people(rows: QuerySet[Meeting]) -> QuerySet[Meeting]:
    # The associations carry the contacts' answers, the link the event a calendar meeting follows.
    return rows.select_related("calendar_link").prefetch_related(
        Prefetch("hosts", queryset=User.objects.order_by("pk")),
        Prefetch("contacts", queryset=Contact.objects.order_by("last_name", "first_name", "pk")),
        "meetingassociation_set",
    )


def contact_timeline(*, contact: Contact) -> list[Meeting]:
    """The contact's meetings, the latest first (upcoming ones on top, then the history)."""
    return list(_with_people(contact.meetings.order_by("-start", "-pk")))


def meetings_page(
    *,
    workspace_id: int,
    now: datetime,
    when: When = "",
    outcome: str = "",
    host_username: str = "",
    contact_id: int | None = None,
    source: str = "",
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> Page[Meeting]:
    """The workspace's meetings, filtered: upcoming ones soonest first, past ones latest first.

    ``source`` is where they came from: a booking, the CRM, or the calendar (``MeetingSource``).
    """
    rows = Meeting.objects.filter(workspace_id=workspace_id)
    if when == "upcoming":
        rows = rows.filter(end__gte=now).order_by("start", "pk")
    elif when == "past":
        rows = rows.filter(end__lt=now).order_by("-start", "-pk")
    else:
        rows = rows.order_by("-start", "-pk")
    if outcome:
        rows = rows.filter(outcome=outcome)
    if host_username:
        rows = rows.filter(hosts__username=host_username, hosts__workspace_id=workspace_id)
    if contact_id is not None:
        rows = rows.filter(meetingassociation__contact_id=contact_id)
    if source:
        rows = rows.filter(source=source)
    return _paged(_with_people(rows.distinct()), page=page, per_page=per_page)


def meeting_of(*, workspace_id: int, meeting_id: int) -> Meeting:
    """The meeting with that id in the workspace; raises Meeting.DoesNotExist otherwise."""
    return _with_people(Meeting.objects.filter(workspace_id=workspace_id)).get(pk=meeting_id)


def calendar_problems(*, user: User) -> list[Meeting]:
    """The user's CRM meetings whose calendar write or cancellation was given up, for the host to retry."""
    rows = Meeting.objects.filter(
        hosts=user, workspace_id=user.workspace_id, calendar_write__in=("failed", "cancel_failed")
    )
    return list(rows.order_by("start", "pk")[:50])


def meeting_host(*, meeting: Meeting) -> User | None:
    """The host whose calendar holds a meeting made in the CRM (its first host)."""
    hosts = list(meeting.hosts.all())
    return min(hosts, key=lambda user: user.pk) if hosts else None


CrmOnlyReason = Literal["", "no_calendar", "exchange"]


def crm_calendar(*, user: User) -> tuple[CalendarConnection | None, CrmOnlyReason]:
    """The calendar that receives the user's CRM meetings (``crm_connection``), or why there is none.

    Exchange is one-way: Yoyaku may add a meeting but never change or cancel it, so a CRM meeting,
    which can be edited and cancelled here, stays in the CRM only.
    """
    connection = crm_connection(user=user)
    if connection is None:
        return None, "no_calendar"
    allowed = capabilities(connection.provider)
    if not (allowed.write_events and allowed.can_cancel and allowed.can_reschedule):
        return None, "exchange"
    return connection, ""


def workspace_hosts(*, workspace_id: int) -> list[User]:
    """The workspace's active users, for the host filter of the meetings list."""
    return list(User.objects.filter(workspace_id=workspace_id, is_active=True).order_by("username"))


def follows_calendar(*, meeting: Meeting) -> bool:
    """Whether a meeting logged from the calendar still follows its event (``crm.calendar_log``)."""
    return CalendarEventLink.objects.filter(meeting_id=meeting.pk, unlinked_at=None).exists()


def calendar_link_of(*, meeting: Meeting) -> CalendarEventLink | None:
    """The event a meeting logged from the calendar was made from, linked or unlinked since."""
    return CalendarEventLink.objects.filter(meeting_id=meeting.pk).first()


@dataclass(frozen=True)
class Attendance:
    contact: Contact
    # The contact's answer on the calendar ("accepted", "declined", "tentative", "needs_action", "").
    response: str
    organizer: bool


def meeting_attendance(*, meeting: Meeting, organizer: str = "") -> list[Attendance]:
    """The meeting's contacts with their answers to the calendar invitation, for its page."""
    rows = (
        MeetingAssociation.objects.filter(meeting_id=meeting.pk)
        .select_related("contact")
        .order_by("contact__last_name", "contact__first_name", "contact__email", "pk")
    )
    return [
        Attendance(
            contact=row.contact,
            # Calendar meetings keep each contact's answer on the association; the ones Yoyaku put on
            # the calendar (bookings, CRM meetings) on the meeting (``crm.calendar_follow``).
            response=row.response or str(meeting.attendee_responses.get(row.contact.email.lower(), "")),
            organizer=bool(organizer) and row.contact.email.lower() == organizer.lower(),
        )
        for row in rows
    ]
