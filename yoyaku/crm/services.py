"""CRM writes: contacts are keyed by workspace and email (case-insensitive); meetings are associated
with contacts. Nothing here reads or writes across workspaces: a contact of one workspace is never found,
updated or owned from another."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from yoyaku.accounts.models import User, Workspace
from yoyaku.calendar_sync.models import OutboxOperation
from yoyaku.crm.calendar_writes import record_meeting_write
from yoyaku.crm.models import Contact, Meeting, MeetingAssociation, MeetingOutcome, MeetingSource
from yoyaku.crm.selectors import contact_by_email, crm_calendar, follows_calendar
from yoyaku.scheduling.models import Booking, CalendarWrite
from yoyaku.scheduling.validation import BookingInputError


class OutsideWorkspace(ValueError):
    """A user of another workspace was named as an owner or host of a CRM record."""


def _check_members(*, workspace: Workspace, users: Iterable[User | None]) -> None:
    for user in users:
        if user is not None and user.workspace_id != workspace.pk:
            raise OutsideWorkspace(f"User {user.pk} is not in workspace {workspace.pk}.")


def upsert_contact(
    *,
    workspace: Workspace,
    email: str,
    first_name: str,
    last_name: str,
    owner: User | None = None,
    time_zone: str = "",
    properties: Mapping[str, Any] | None = None,
) -> Contact:
    """Create the contact or update it with what the person just told us.

    Names given now replace old ones (people fix typos when they book again);
    an existing owner is kept, so a contact stays with the rep who has it.
    """
    _check_members(workspace=workspace, users=[owner])
    email = email.strip()
    # Its own transaction (a savepoint inside a caller's): the row lock needs one.
    with transaction.atomic():
        for _attempt in range(2):
            contact = (
                Contact.objects.select_for_update().filter(workspace=workspace, email__iexact=email).first()
            )
            if contact is None:
                try:
                    with transaction.atomic():
                        return Contact.objects.create(
                            workspace=workspace,
                            email=email,
                            first_name=first_name,
                            last_name=last_name,
                            owner=owner,
                            time_zone=time_zone,
                            properties=dict(properties or {}),
                        )
                except IntegrityError:
                    continue  # created by a concurrent booking a moment ago: update it instead
            contact.first_name = first_name or contact.first_name
            contact.last_name = last_name or contact.last_name
            contact.time_zone = time_zone or contact.time_zone
            if contact.owner_id is None and owner is not None:
                contact.owner = owner
            contact.properties = {**contact.properties, **(properties or {})}
            contact.save()
            return contact
    raise IntegrityError(f"Could not create or update the contact {email!r}.")


def contact_for_booker(
    *,
    workspace: Workspace,
    email: str,
    first_name: str,
    last_name: str,
    owner: User | None = None,
    time_zone: str = "",
    properties: Mapping[str, Any] | None = None,
) -> Contact:
    """The workspace's contact for a public booker's email, created from what they typed if new.

    An existing contact is left exactly as the CRM holds it: anyone can type any address on a public
    page, so a booker must never rename a contact or change its properties. What they typed stays on
    their booking (and its answers) for the host to see.
    """
    _check_members(workspace=workspace, users=[owner])
    email = email.strip()
    with transaction.atomic():
        for _attempt in range(2):
            contact = Contact.objects.filter(workspace=workspace, email__iexact=email).first()
            if contact is not None:
                return contact
            try:
                with transaction.atomic():
                    return Contact.objects.create(
                        workspace=workspace,
                        email=email,
                        first_name=first_name,
                        last_name=last_name,
                        owner=owner,
                        time_zone=time_zone,
                        properties=dict(properties or {}),
                    )
            except IntegrityError:
                continue  # created by a concurrent booking a moment ago: use that one
    raise IntegrityError(f"Could not create the contact {email!r}.")


def log_meeting(
    *,
    workspace: Workspace,
    title: str,
    start: datetime,
    end: datetime,
    source: str,
    contacts: Iterable[Contact],
    hosts: Iterable[User],
    location: str = "",
    description: str = "",
    outcome: str = "scheduled",
) -> Meeting:
    hosts, contacts = list(hosts), list(contacts)
    _check_members(workspace=workspace, users=hosts)
    if any(contact.workspace_id != workspace.pk for contact in contacts):
        raise OutsideWorkspace(f"A contact is not in workspace {workspace.pk}.")
    meeting = Meeting.objects.create(
        workspace=workspace,
        title=title,
        start=start,
        end=end,
        source=source,
        location=location,
        description=description,
        outcome=outcome,
    )
    # A new meeting has no hosts yet: add() inserts them without first reading what is there.
    meeting.hosts.add(*hosts)
    MeetingAssociation.objects.bulk_create(
        [MeetingAssociation(meeting=meeting, contact=contact) for contact in contacts]
    )
    return meeting


def cancel_meeting(*, meeting: Meeting) -> None:
    """Mark the meeting cancelled; it stays in the contacts' history."""
    Meeting.objects.filter(pk=meeting.pk).update(outcome="cancelled")
    meeting.outcome = "cancelled"


# -- the CRM's own pages and API ----------------------------------------------------------


class CrmInputError(BookingInputError):
    """Bad input for a contact or a meeting; ``errors`` maps each field to what to fix."""


class CannotMerge(ValueError):
    """Two contacts that cannot be merged (the same one twice)."""


MAX_MEETING_HOURS = 24
# Control characters other than line breaks and tabs: PostgreSQL refuses NUL in text, and none of them
# belongs in a name or a title.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f]")
# Dates a calendar can hold (and that convert to UTC without leaving Python's range).
_EARLIEST, _LATEST = 1900, 9000


def _text_errors(**fields: tuple[str | None, bool]) -> dict[str, str]:
    """Fields holding control characters; the flag says whether line breaks are allowed."""
    errors = {}
    for name, (value, multiline) in fields.items():
        if value and (_CONTROL if multiline else _CONTROL_OR_BREAK).search(value):
            errors[name] = _("Remove the control characters from this field.")
    return errors


def _clean_contact(
    *,
    workspace: Workspace,
    email: str,
    first_name: str,
    last_name: str,
    time_zone: str,
    exclude: int | None,
    properties: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    errors = _text_errors(first_name=(first_name, False), last_name=(last_name, False))
    if properties and any(
        _CONTROL.search(str(key)) or _CONTROL.search(str(value)) for key, value in properties.items()
    ):
        errors["properties"] = _("Remove the control characters from this field.")
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = _("Enter a valid email address, e.g. aiko@example.com.")
    else:
        other = contact_by_email(workspace_id=workspace.pk, email=email)
        if other is not None and other.pk != exclude:
            errors["email"] = _("Another contact already has this email address: merge the two instead.")
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value) > 100:
            errors[field] = _("At most 100 characters.")
    if time_zone:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = _("Unknown time zone; use an IANA name such as Europe/Berlin.")
    if errors:
        raise CrmInputError(errors)
    return {"email": email, "first_name": first_name.strip(), "last_name": last_name.strip()}


def create_contact(
    *,
    workspace: Workspace,
    email: str,
    first_name: str = "",
    last_name: str = "",
    owner: User | None = None,
    time_zone: str = "",
    properties: Mapping[str, Any] | None = None,
) -> Contact:
    """Add a contact by hand; refuses an email another contact of the workspace has."""
    _check_members(workspace=workspace, users=[owner])
    clean = _clean_contact(
        workspace=workspace,
        email=email,
        first_name=first_name,
        last_name=last_name,
        time_zone=time_zone,
        exclude=None,
        properties=properties,
    )
    try:
        with transaction.atomic():
            return Contact.objects.create(
                workspace=workspace,
                owner=owner,
                time_zone=time_zone,
                properties=dict(properties or {}),
                **clean,
            )
    except IntegrityError as error:  # added by someone else a moment ago
        raise CrmInputError({"email": _("Another contact already has this email address.")}) from error


def update_contact(
    *,
    contact: Contact,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    time_zone: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> Contact:
    """Change what the CRM holds about a contact (only the fields given)."""
    clean = _clean_contact(
        workspace=contact.workspace,
        email=contact.email if email is None else email,
        first_name=contact.first_name if first_name is None else first_name,
        last_name=contact.last_name if last_name is None else last_name,
        time_zone=contact.time_zone if time_zone is None else time_zone,
        exclude=contact.pk,
        properties=properties,
    )
    for field, value in clean.items():
        setattr(contact, field, value)
    if time_zone is not None:
        contact.time_zone = time_zone
    if properties is not None:
        contact.properties = dict(properties)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError as error:
        raise CrmInputError({"email": _("Another contact already has this email address.")}) from error
    return contact


def merge_contacts(*, keep: Contact, merge: Contact) -> Contact:
    """Fold ``merge`` into ``keep``: its meetings and bookings move over, nothing is lost, then it goes.

    What ``keep`` holds wins; ``merge`` fills only what ``keep`` lacks (names, zone, owner, properties).
    """
    if keep.pk == merge.pk:
        raise CannotMerge(_("Choose another contact: a contact cannot be merged into itself."))
    if keep.workspace_id != merge.workspace_id:
        raise OutsideWorkspace("Contacts of two workspaces cannot be merged.")
    with transaction.atomic():
        keep = Contact.objects.select_for_update().get(pk=keep.pk)
        merge = Contact.objects.select_for_update().get(pk=merge.pk)
        already = set(MeetingAssociation.objects.filter(contact=keep).values_list("meeting_id", flat=True))
        MeetingAssociation.objects.filter(contact=merge).exclude(meeting_id__in=already).update(contact=keep)
        Booking.objects.filter(contact=merge).update(contact=keep)
        keep.first_name = keep.first_name or merge.first_name
        keep.last_name = keep.last_name or merge.last_name
        keep.time_zone = keep.time_zone or merge.time_zone
        keep.owner_id = keep.owner_id or merge.owner_id
        keep.properties = {**merge.properties, **keep.properties}
        # Its associations left are meetings keep already has: they go with it.
        merge.delete()
        keep.save()
    return keep


def _clean_meeting(*, title: str, start: datetime, end: datetime, location: str) -> dict[str, str]:
    errors = _text_errors(title=(title, False), location=(location, False))
    for name, moment in (("start", start), ("end", end)):
        if not _EARLIEST <= moment.year <= _LATEST:
            errors[name] = _("Give a date between the years 1900 and 9000.")
    if errors:
        return errors
    if not title.strip():
        errors["title"] = _("Give the meeting a title.")
    elif len(title) > 300:
        errors["title"] = _("At most 300 characters.")
    if start.tzinfo is None:
        errors["start"] = _("Give the start with a UTC offset, e.g. 2027-03-01T09:00:00+01:00.")
    if end.tzinfo is None:
        errors["end"] = _("Give the end with a UTC offset, e.g. 2027-03-01T10:00:00+01:00.")
    elif start.tzinfo is not None and end <= start:
        errors["end"] = _("The end must come after the start.")
    elif start.tzinfo is not None and end - start > timedelta(hours=MAX_MEETING_HOURS):
        errors["end"] = _("A meeting lasts at most 24 hours.")
    if len(location) > 500:
        errors["location"] = _("At most 500 characters.")
    return errors


def create_crm_meeting(
    *,
    host: User,
    contacts: Iterable[Contact],
    title: str,
    start: datetime,
    end: datetime,
    location: str = "",
    description: str = "",
    internal_notes: str = "",
) -> Meeting:
    """A meeting made in the CRM, hosted by ``host`` with ``contacts``.

    With a calendar Yoyaku may change (Google, Microsoft 365, CalDAV), the event goes on the host's
    calendar after commit and the contacts are invited; it is retried until it is, like a booking's.
    Otherwise (Exchange, or no calendar) it is logged in the CRM only, and ``crm_only_reason`` says why.
    """
    contacts = list(contacts)
    errors = _clean_meeting(title=title, start=start, end=end, location=location)
    errors.update(_text_errors(description=(description, True), internal_notes=(internal_notes, True)))
    if not contacts:
        errors["contacts"] = _("Choose at least one contact.")
    if errors:
        raise CrmInputError(errors)
    connection, reason = crm_calendar(user=host)
    with transaction.atomic():
        meeting = log_meeting(
            workspace=host.workspace,
            title=title.strip(),
            start=start,
            end=end,
            source=MeetingSource.CRM,
            contacts=contacts,
            hosts=[host],
            location=location.strip(),
            description=description,
        )
        meeting.internal_notes = internal_notes
        meeting.crm_only_reason = reason
        fields = ["internal_notes", "crm_only_reason"]
        if connection is not None:
            meeting.calendar_connection = connection
            meeting.calendar_write = CalendarWrite.PENDING
            meeting.calendar_pending_since = timezone.now()
            fields += ["calendar_connection", "calendar_write", "calendar_pending_since"]
        meeting.save(update_fields=fields)
        if connection is not None:
            record_meeting_write(meeting=meeting, operation=OutboxOperation.CREATE)
    return meeting


# What the calendar event shows: a change to any of these is written to the calendar.
_ON_CALENDAR = ("title", "start", "end", "location", "description")


def update_crm_meeting(
    *,
    meeting: Meeting,
    title: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    location: str | None = None,
    description: str | None = None,
    internal_notes: str | None = None,
    outcome: str | None = None,
    contacts: Iterable[Contact] | None = None,
) -> Meeting:
    """Change a meeting; a meeting on a calendar is updated there (or cancelled there when cancelled).

    A booked meeting's time, title, place and people belong to its booking (moved or cancelled from
    the dashboard), and those of a meeting logged from the calendar to its event while it follows
    one, so here only their notes, description and outcome change. A cancelled meeting stays
    cancelled: its event and invitations are gone, so a new meeting is made instead.
    """
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("title", title),
            ("start", start),
            ("end", end),
            ("location", location),
            ("description", description),
            ("internal_notes", internal_notes),
            ("outcome", outcome),
        )
        if value is not None and value != getattr(meeting, name)
    }
    new_contacts = None if contacts is None else list(contacts)
    errors = _text_errors(description=(description, True), internal_notes=(internal_notes, True))
    if outcome is not None and outcome not in MeetingOutcome.values:
        errors["outcome"] = _("Choose one of: scheduled, completed, rescheduled, no show, cancelled.")
    if meeting.source == MeetingSource.BOOKING:
        for name in ("title", "start", "end", "location"):
            if name in changes:
                errors[name] = _(
                    "This meeting was booked on a scheduling page: move or cancel it from the dashboard."
                )
        if changes.get("outcome") == MeetingOutcome.CANCELLED:
            errors["outcome"] = _(
                "This meeting was booked on a scheduling page: cancel it from the dashboard."
            )
        if new_contacts is not None:
            errors["contacts"] = _("The contacts of a booked meeting are the booker's.")
    elif meeting.source == MeetingSource.CALENDAR and follows_calendar(meeting=meeting):
        # The calendar owns what the event shows; the next sync would undo a change made here.
        for name in ("title", "start", "end", "location"):
            if name in changes:
                errors[name] = _("This meeting follows its calendar event: change it in your calendar.")
        if changes.get("outcome") == MeetingOutcome.CANCELLED:
            errors["outcome"] = _("This meeting follows its calendar event: cancel it in your calendar.")
        if new_contacts is not None:
            errors["contacts"] = _("This meeting follows its calendar event: invite people in your calendar.")
    if meeting.outcome == MeetingOutcome.CANCELLED and changes and set(changes) != {"internal_notes"}:
        errors["outcome"] = _("This meeting is cancelled: create a new meeting instead.")
    if new_contacts is not None:
        if not new_contacts:
            errors["contacts"] = _("Choose at least one contact.")
        elif any(c.workspace_id != meeting.workspace_id for c in new_contacts):
            raise OutsideWorkspace(f"A contact is not in workspace {meeting.workspace_id}.")
    merged = {
        name: changes.get(name, getattr(meeting, name)) for name in ("title", "start", "end", "location")
    }
    if {"title", "start", "end", "location"} & set(changes):
        errors.update(_clean_meeting(**merged))
    if errors:
        raise CrmInputError(errors)
    people_changed = new_contacts is not None and {c.pk for c in new_contacts} != set(
        meeting.contacts.values_list("pk", flat=True)
    )
    with transaction.atomic():
        current = Meeting.objects.select_for_update().get(pk=meeting.pk)
        for name, value in changes.items():
            setattr(meeting, name, value)
        fields = [*changes, "updated_at"]
        if people_changed and new_contacts is not None:
            MeetingAssociation.objects.filter(meeting=meeting).exclude(contact__in=new_contacts).delete()
            have = set(
                MeetingAssociation.objects.filter(meeting=meeting).values_list("contact_id", flat=True)
            )
            MeetingAssociation.objects.bulk_create(
                [MeetingAssociation(meeting=meeting, contact=c) for c in new_contacts if c.pk not in have]
            )
        on_calendar = current.calendar_write != CalendarWrite.NONE or bool(current.calendar_event_id)
        if meeting.source == MeetingSource.CRM and on_calendar:
            state = None
            if changes.get("outcome") == MeetingOutcome.CANCELLED:
                # Not written yet: it never will be. Written (or being written): it comes off again.
                state = CalendarWrite.CANCEL_PENDING if current.calendar_event_id else CalendarWrite.NONE
                if current.calendar_write == CalendarWrite.PENDING and not current.calendar_event_id:
                    # A write may be in flight; it sees the cancellation when it stores its result.
                    state = CalendarWrite.CANCEL_PENDING
            elif people_changed or set(_ON_CALENDAR) & set(changes):
                state = CalendarWrite.PENDING
            if state is not None:
                meeting.calendar_write = state
                meeting.calendar_error = ""
                meeting.calendar_attempts = 0
                meeting.calendar_pending_since = timezone.now() if state != CalendarWrite.NONE else None
                meeting.calendar_retry_at = None
                fields += [
                    "calendar_write",
                    "calendar_error",
                    "calendar_attempts",
                    "calendar_pending_since",
                    "calendar_retry_at",
                ]
                if state == CalendarWrite.CANCEL_PENDING:
                    record_meeting_write(meeting=current, operation=OutboxOperation.CANCEL)
                elif state == CalendarWrite.PENDING:
                    created = bool(current.calendar_event_id)
                    operation = OutboxOperation.UPDATE if created else OutboxOperation.CREATE
                    record_meeting_write(meeting=current, operation=operation)
        meeting.save(update_fields=fields)
    return meeting


__all__ = [
    "CannotMerge",
    "CrmInputError",
    "MeetingSource",
    "OutsideWorkspace",
    "cancel_meeting",
    "contact_for_booker",
    "create_contact",
    "create_crm_meeting",
    "log_meeting",
    "merge_contacts",
    "update_contact",
    "update_crm_meeting",
    "upsert_contact",
]
