"""CRM writes: contacts are keyed by workspace and email (case-insensitive); meetings are associated
with contacts. Nothing here reads or writes across workspaces: a contact of one workspace is never found,
updated or owned from another."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from yoyaku.accounts.models import User, Workspace
from yoyaku.crm.models import Contact, Meeting, MeetingAssociation, MeetingSource


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
    meeting.hosts.set(hosts)
    MeetingAssociation.objects.bulk_create(
        [MeetingAssociation(meeting=meeting, contact=contact) for contact in contacts]
    )
    return meeting


def cancel_meeting(*, meeting: Meeting) -> None:
    """Mark the meeting cancelled; it stays in the contacts' history."""
    Meeting.objects.filter(pk=meeting.pk).update(outcome="cancelled")
    meeting.outcome = "cancelled"


__all__ = [
    "MeetingSource",
    "OutsideWorkspace",
    "cancel_meeting",
    "contact_for_booker",
    "log_meeting",
    "upsert_contact",
]
