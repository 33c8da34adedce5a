"""The CRM logs calendar events with the workspace's contacts as meetings (``source=calendar``).

The sync calls ``log_calendar_events`` inside the transaction that applied a result
(``calendar_sync.changes.follow_store_changes``), with the ids it changed or removed; a failure
here rolls the sync position back, so the change is read again. The rules:

* Only the connection the CRM works with is logged: the "calendar settings" connection of a legacy
  account holding two, else the only one (``accounts.selectors.crm_connection``), and only on providers whose
  ``capabilities`` say ``calendar_to_crm`` (never Exchange, which the sync does not store).
* Events Yoyaku wrote itself (a booking's, a meeting made in the CRM) follow their own booking or
  meeting: they are never logged a second time.
* An event is a meeting when its attendees or organizer include a contact of the host's workspace
  (email, case-insensitive). With the workspace's "external" scope, anyone outside the workspace (not
  one of its users, not the host's own addresses) counts too and becomes a contact; an existing
  contact is never changed.
* An invitation the host declined is not a meeting the host attends: not logged, and a logged one
  turns cancelled. A free (transparent) event is logged: transparency says whether the event blocks
  time, not whether the people meet.
* A recurring series is logged instance by instance, from the sync window's past edge up to
  ``YOYAKU_CRM_SERIES_DAYS_AHEAD`` days ahead, so a weekly series makes a handful of meetings, not a
  year of them; the daily complete listing (``YOYAKU_SYNC_FULL_EVERY_HOURS``) hands every event over
  again and so logs the instances the bound has reached since.
* The link to the event (``CalendarEventLink``) is by provider ids (connection, calendar, event,
  instance), never a store row, so a full resync keeps it. The calendar owns the title, times,
  location and people (associations and their answers); notes, description and outcome are the CRM's
  and survive every sync, except that an event cancelled or deleted on the calendar before it ends
  turns a meeting still scheduled into cancelled (deleting a finished series rewrites no history).
  An event that no longer involves a contact is unlinked: the meeting stays with its history and
  stops following it. A complete listing that no longer holds an event only means it was deleted
  when it lay inside the listing's window.

Everything is read and written in bulk, a fixed number of queries per 500 ids (SQLite's variable
limit), never one per event: an initial sync hands over thousands at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Model, QuerySet
from django.db.models.functions import Lower
from django.utils import translation
from django.utils.translation import gettext

from yoyaku.accounts.models import CalendarConnection, CalendarLogScope, User, Workspace
from yoyaku.accounts.selectors import crm_connection
from yoyaku.calendar_sync.changes import StoreChanges
from yoyaku.calendar_sync.followed import ID_CHUNK, chunked, write_fields
from yoyaku.calendar_sync.models import SyncedEvent
from yoyaku.calendars.capabilities import capabilities
from yoyaku.crm.models import (
    CalendarEventLink,
    Contact,
    Meeting,
    MeetingAssociation,
    MeetingOutcome,
    MeetingSource,
)
from yoyaku.scheduling.models import Booking

# Ids per ``__in`` lookup: SQLite limits the variables of one statement.
CHUNK = ID_CHUNK
# Outcomes a calendar cancellation may change; completed, no show and the like are the CRM's to keep.
_OPEN = (MeetingOutcome.SCHEDULED, MeetingOutcome.RESCHEDULED)
# Calendars' own addresses among attendees (rooms, resources, group calendars), never people.
_NOT_PEOPLE = ("@resource.calendar.google.com", "@group.calendar.google.com")
# Yoyaku's own events carry a UID it made (scheduling.calendar_writes.booking_uid, crm.calendar_writes).
_YOYAKU_UID = "yoyaku-"

Key = tuple[str, str]  # (event id, recurrence id)
T = TypeVar("T")
M = TypeVar("M", bound=Model)


def log_calendar_events(*, connection: CalendarConnection, changes: StoreChanges, now: datetime) -> None:
    """Log, update, cancel or unlink the CRM meetings of the events ``changes`` names."""
    if not capabilities(connection.provider).calendar_to_crm:
        return
    host = connection.user
    feed = crm_connection(user=host)
    if feed is None or feed.pk != connection.pk:
        return  # a legacy account's "meetings" connection: the CRM follows the other one
    workspace = Workspace.objects.get(pk=host.workspace_id)
    _Log(connection=connection, host=host, workspace=workspace, changes=changes, now=now).run()


def _among(rows: QuerySet[M], ids: Collection[str]) -> Iterator[QuerySet[M]]:
    """``rows`` whose ``event_id`` is one of ``ids``, as querysets the caller filters again.

    A few ids: ``__in`` lookups a chunk at a time. More than one chunk (an initial sync, the daily
    complete listing, which names nearly every event): the calendar's rows in one read, which costs
    less than thousands of bound ids.
    """
    if len(ids) > CHUNK:
        yield rows
        return
    for chunk in chunked(ids):
        yield rows.filter(event_id__in=chunk)


@dataclass(frozen=True)
class _Event:
    """One stored event or instance, as the CRM reads it."""

    event_id: str
    recurrence_id: str
    series_id: str
    ical_uid: str
    title: str
    start: datetime
    end: datetime
    status: str
    organizer: str
    location: str
    attendees: tuple[tuple[str, str, str], ...]  # (email lowercased, name, response)

    @property
    def key(self) -> Key:
        return (self.event_id, self.recurrence_id)

    @property
    def emails(self) -> set[str]:
        found = {email for email, _name, _response in self.attendees}
        if self.organizer:
            found.add(self.organizer.lower())
        return {email for email in found if email and not email.endswith(_NOT_PEOPLE)}

    def response_of(self, email: str) -> str:
        for address, _name, response in self.attendees:
            if address == email:
                return response
        return ""

    def name_of(self, email: str) -> str:
        for address, name, _response in self.attendees:
            if address == email and name.lower() != email:
                return name
        return ""


@dataclass
class _Plan:
    """What one call writes, gathered first so every write is one bulk statement per chunk."""

    new: list[tuple[_Event, list[str]]] = field(default_factory=list)  # event, contact emails
    follow: list[tuple[CalendarEventLink, _Event, list[str]]] = field(default_factory=list)
    cancel: list[CalendarEventLink] = field(default_factory=list)
    unlink: list[CalendarEventLink] = field(default_factory=list)


class _Log:
    def __init__(
        self,
        *,
        connection: CalendarConnection,
        host: User,
        workspace: Workspace,
        changes: StoreChanges,
        now: datetime,
    ) -> None:
        self.connection = connection
        self.host = host
        self.workspace = workspace
        self.changes = changes
        self.now = now
        self.series_until = now + timedelta(days=settings.YOYAKU_CRM_SERIES_DAYS_AHEAD)

    # -- reads ------------------------------------------------------------------------------

    def _events(self) -> dict[Key, _Event]:
        rows = SyncedEvent.objects.filter(connection=self.connection, calendar_id=self.changes.calendar_id)
        fields = (
            "event_id",
            "recurrence_id",
            "series_id",
            "ical_uid",
            "title",
            "start_epoch",
            "end_epoch",
            "status",
            "organizer",
            "location",
            "attendees",
        )
        ids = self.changes.changed_event_ids
        found: dict[Key, _Event] = {}
        for part in _among(rows, ids):
            # The epoch columns: turning 10,000 stored datetimes back into datetimes costs more.
            for values in part.values_list(*fields).iterator(chunk_size=2000):
                data = dict(zip(fields, values, strict=True))
                if data["event_id"] not in ids:
                    continue
                attendees = tuple(
                    (
                        str(a.get("email") or "").strip().lower(),
                        str(a.get("name") or ""),
                        str(a.get("response") or ""),
                    )
                    for a in data.pop("attendees") or []
                )
                start = datetime.fromtimestamp(data.pop("start_epoch"), UTC)
                end = datetime.fromtimestamp(data.pop("end_epoch"), UTC)
                event = _Event(attendees=attendees, start=start, end=end, **data)
                found[event.key] = event
        return found

    def _links(self) -> dict[Key, CalendarEventLink]:
        rows = CalendarEventLink.objects.filter(
            connection=self.connection, calendar_id=self.changes.calendar_id
        ).select_related("meeting")
        ids = self.changes.changed_event_ids | self.changes.removed_event_ids
        return {
            (link.event_id, link.recurrence_id): link
            for part in _among(rows, ids)
            for link in part
            if link.event_id in ids
        }

    def _yoyaku_event_ids(self, events: Iterable[_Event]) -> set[str]:
        """Which of ``events`` Yoyaku wrote for a booking or a meeting made in the CRM.

        Known by the provider id kept on the booking or meeting, by a UID Yoyaku made, or (an
        attendee's copy on Google) by the iCalUID Google gives an event whose id Yoyaku chose.
        """
        events = list(events)
        candidates = {e.event_id for e in events} | {
            e.ical_uid.removesuffix("@google.com") for e in events if e.ical_uid.endswith("@google.com")
        }
        known = self._written_by_yoyaku(candidates)
        return {
            e.event_id
            for e in events
            if e.event_id in known
            or e.ical_uid.startswith(_YOYAKU_UID)
            or e.ical_uid.removesuffix("@google.com") in known
        }

    @staticmethod
    def _written_by_yoyaku(event_ids: Collection[str]) -> set[str]:
        """Those of ``event_ids`` a booking or a meeting made in the CRM keeps as its calendar event."""
        known: set[str] = set()
        for chunk in chunked(event_ids):
            known.update(
                Booking.objects.filter(calendar_event_id__in=chunk).values_list(
                    "calendar_event_id", flat=True
                )
            )
            known.update(
                Meeting.objects.filter(calendar_event_id__in=chunk)
                .exclude(source=MeetingSource.CALENDAR)
                .values_list("calendar_event_id", flat=True)
            )
        return known

    def _copies_of_yoyaku_events(self, events: list[_Event]) -> set[str]:
        """The iCalUIDs among ``events`` that another calendar of the workspace holds as an event Yoyaku
        wrote: a co-host's copy of a group booking on Microsoft 365, whose UID Yoyaku does not choose.

        Asked only for events about to be logged, so an unchanged complete listing costs nothing here.
        """
        uids = {event.ical_uid for event in events if event.ical_uid}
        found: set[str] = set()
        for chunk in chunked(uids):
            rows = (
                SyncedEvent.objects.filter(
                    ical_uid__in=chunk, connection__user__workspace_id=self.workspace.pk
                )
                .exclude(connection=self.connection)
                .values_list("event_id", "ical_uid")
            )
            copies = dict(rows)
            found.update(copies[event_id] for event_id in self._written_by_yoyaku(copies))
        return found

    def _host_addresses(self) -> set[str]:
        addresses = {self.host.email, self.connection.account_email}
        addresses.update(
            CalendarConnection.objects.filter(user=self.host).values_list("account_email", flat=True)
        )
        return {a.strip().lower() for a in addresses if a}

    def _workspace_addresses(self) -> set[str]:
        emails = User.objects.filter(workspace_id=self.workspace.pk).values_list("email", flat=True)
        return {e.strip().lower() for e in emails if e}

    def _contacts(self, emails: Collection[str]) -> dict[str, Contact]:
        rows = Contact.objects.filter(workspace_id=self.workspace.pk).annotate(lower_email=Lower("email"))
        return {
            contact.lower_email: contact  # type: ignore[attr-defined]
            for chunk in chunked(emails)
            for contact in rows.filter(lower_email__in=chunk)
        }

    # -- the decision ------------------------------------------------------------------------

    def run(self) -> None:
        events = self._events()
        links = self._links()
        own = self._yoyaku_event_ids(events.values())
        mine = self._host_addresses()
        events = {key: event for key, event in events.items() if event.event_id not in own}
        candidates = {
            key: event for key, event in events.items() if key in links or self._within_bound(event)
        }
        emails = set().union(*(event.emails for event in candidates.values())) - mine
        contacts = self._contacts(emails)
        external = self.workspace.calendar_log_scope == CalendarLogScope.EXTERNAL
        # The "external" scope: anyone but the workspace's users (and the host) counts, contact or not yet.
        outside = {e for e in emails - self._workspace_addresses() if _is_address(e)} if external else set()

        plan = _Plan()
        for key, event in candidates.items():
            link = links.get(key)
            everyone = event.emails - mine
            people = sorted(everyone & (set(contacts) | outside))
            if event.status == "cancelled" or self._declined_by_host(event, mine):
                # Not a meeting (any more): a logged one is cancelled, nobody new becomes a contact.
                if link is not None:
                    plan.cancel.append(link)
                    if link.linked:
                        plan.follow.append((link, event, [e for e in people if e in contacts]))
            elif link is None:
                if people:
                    plan.new.append((event, people))
            elif people:
                plan.follow.append((link, event, people))
            elif link.linked:
                plan.unlink.append(link)
        for key, link in links.items():
            if key not in events and link.event_id not in own and self._deleted(link):
                plan.cancel.append(link)
        shared = self._copies_of_yoyaku_events([event for event, _people in plan.new])
        plan.new = [(event, people) for event, people in plan.new if event.ical_uid not in shared]
        if external:
            wanted = {e for _event, people in plan.new for e in people}
            wanted |= {e for _link, _event, people in plan.follow for e in people}
            contacts.update(self._create_contacts(wanted - set(contacts), candidates.values()))
        self._write(plan, contacts)

    def _within_bound(self, event: _Event) -> bool:
        if event.end < self.changes.window_start:
            return False
        recurring = bool(event.recurrence_id or event.series_id)
        return not recurring or event.start <= self.series_until

    @staticmethod
    def _declined_by_host(event: _Event, mine: set[str]) -> bool:
        return any(email in mine and response == "declined" for email, _name, response in event.attendees)

    def _deleted(self, link: CalendarEventLink) -> bool:
        """Whether a linked event the store no longer holds was deleted on the calendar.

        Deleted for sure when an incremental sync said so; when only a complete listing (or a
        series' new expansion) left it out, only if it lay inside what that listing could see.
        """
        if link.event_id in self.changes.removed_event_ids and not self.changes.full:
            return True
        start = link.meeting.start
        return self.changes.window_start <= start <= self.changes.window_end

    # -- writes ------------------------------------------------------------------------------

    def _create_contacts(self, outsiders: Collection[str], events: Iterable[_Event]) -> dict[str, Contact]:
        """Contacts for the outsiders of the "external" scope: made from the calendar's name for them.

        An address some contact already has is left to that contact exactly as the CRM holds it.
        """
        valid = sorted(outsiders)
        if not valid:
            return {}
        names: dict[str, str] = {}
        for event in events:
            for email in event.emails.intersection(valid):
                names[email] = names.get(email) or event.name_of(email)
        Contact.objects.bulk_create(
            [
                Contact(workspace=self.workspace, email=email, first_name=names.get(email, "")[:100])
                for email in valid
            ],
            batch_size=CHUNK,
            ignore_conflicts=True,  # made a moment ago by a booking or another sync: that one is kept
        )
        return self._contacts(valid)

    def _write(self, plan: _Plan, contacts: dict[str, Contact]) -> None:
        self._create_meetings(plan.new, contacts)
        self._follow(plan.follow, contacts)
        self._cancel(plan.cancel)
        self._unlink(plan.unlink)

    def _untitled(self) -> str:
        with translation.override(self.host.language or settings.LANGUAGE_CODE):
            return gettext("(No title)")

    def _meeting_fields(self, event: _Event) -> dict[str, Any]:
        return {
            "title": (event.title.strip() or self._untitled())[:300],
            "start": event.start,
            "end": event.end,
            "location": event.location[:500],
        }

    def _create_meetings(self, new: list[tuple[_Event, list[str]]], contacts: dict[str, Contact]) -> None:
        if not new:
            return
        meetings = Meeting.objects.bulk_create(
            [
                Meeting(
                    workspace=self.workspace, source=MeetingSource.CALENDAR, **self._meeting_fields(event)
                )
                for event, _people in new
            ],
            batch_size=CHUNK,
        )
        hosts = Meeting.hosts.through
        hosts.objects.bulk_create(
            [hosts(meeting_id=meeting.pk, user_id=self.host.pk) for meeting in meetings], batch_size=CHUNK
        )
        MeetingAssociation.objects.bulk_create(
            [
                MeetingAssociation(
                    meeting=meeting, contact=contacts[email], response=event.response_of(email)
                )
                for meeting, (event, people) in zip(meetings, new, strict=True)
                for email in people
            ],
            batch_size=CHUNK,
        )
        CalendarEventLink.objects.bulk_create(
            [
                CalendarEventLink(
                    meeting=meeting,
                    connection=self.connection,
                    calendar_id=self.changes.calendar_id,
                    event_id=event.event_id,
                    recurrence_id=event.recurrence_id,
                    ical_uid=event.ical_uid,
                    organizer=event.organizer,
                )
                for meeting, (event, _people) in zip(meetings, new, strict=True)
            ],
            batch_size=CHUNK,
        )

    def _follow(
        self, follow: list[tuple[CalendarEventLink, _Event, list[str]]], contacts: dict[str, Contact]
    ) -> None:
        """Bring linked meetings up to their events: calendar-owned fields, people and their answers."""
        if not follow:
            return
        meetings: list[Meeting] = []
        links: list[CalendarEventLink] = []
        for link, event, _people in follow:
            meeting = link.meeting
            wanted = self._meeting_fields(event)
            if any(getattr(meeting, name) != value for name, value in wanted.items()):
                for name, value in wanted.items():
                    setattr(meeting, name, value)
                meeting.updated_at = self.now
                meetings.append(meeting)
            if (link.ical_uid, link.organizer, link.unlinked_at) != (event.ical_uid, event.organizer, None):
                link.ical_uid, link.organizer, link.unlinked_at = event.ical_uid, event.organizer, None
                link.updated_at = self.now
                links.append(link)
        write_fields(rows=meetings, fields=["title", "start", "end", "location", "updated_at"])
        write_fields(rows=links, fields=["ical_uid", "organizer", "unlinked_at", "updated_at"])
        # A meeting whose event lost every contact is unlinked, not emptied: only events with people here.
        self._follow_people(
            [(link.meeting_id, event, people) for link, event, people in follow if people], contacts
        )

    def _follow_people(
        self, follow: list[tuple[int, _Event, list[str]]], contacts: dict[str, Contact]
    ) -> None:
        have: dict[int, dict[int, MeetingAssociation]] = {}
        for chunk in chunked([meeting_id for meeting_id, _event, _people in follow]):
            for row in MeetingAssociation.objects.filter(meeting_id__in=chunk):
                have.setdefault(row.meeting_id, {})[row.contact_id] = row
        added: list[MeetingAssociation] = []
        answered: list[MeetingAssociation] = []
        dropped: list[int] = []
        for meeting_id, event, people in follow:
            current = have.get(meeting_id, {})
            wanted = {contacts[email].pk: event.response_of(email) for email in people}
            for contact_id, response in wanted.items():
                association = current.get(contact_id)
                if association is None:
                    added.append(
                        MeetingAssociation(meeting_id=meeting_id, contact_id=contact_id, response=response)
                    )
                elif association.response != response:
                    association.response = response
                    answered.append(association)
            dropped.extend(a.pk for contact_id, a in current.items() if contact_id not in wanted)
        MeetingAssociation.objects.bulk_create(added, batch_size=CHUNK)
        write_fields(rows=answered, fields=["response"])
        for ids in chunked(dropped):
            MeetingAssociation.objects.filter(pk__in=ids).delete()

    def _cancel(self, links: list[CalendarEventLink]) -> None:
        # A meeting that has ended took place as far as the CRM knows: deleting a finished series
        # (the usual way to end one) must not rewrite its history.
        ids = [
            link.meeting_id
            for link in links
            if link.linked and link.meeting.outcome in _OPEN and link.meeting.end > self.now
        ]
        for chunk in chunked(ids):
            Meeting.objects.filter(pk__in=chunk, outcome__in=_OPEN).update(
                outcome=MeetingOutcome.CANCELLED, updated_at=self.now
            )

    def _unlink(self, links: list[CalendarEventLink]) -> None:
        for chunk in chunked([link.pk for link in links]):
            CalendarEventLink.objects.filter(pk__in=chunk).update(unlinked_at=self.now, updated_at=self.now)


def _is_address(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return len(email) <= 254


__all__ = ["log_calendar_events"]
