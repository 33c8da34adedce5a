"""CRM endpoints: the workspace's contacts and meetings (API key required).

Everything is read and written within the key holder's workspace: a contact or meeting of another
workspace answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from ninja import Query, Router, Schema, Status
from pydantic import Field

from yoyaku.accounts.models import User
from yoyaku.api.auth import ApiKeyAuth
from yoyaku.api.schemas import AUTH_ERRORS, BODY_ERRORS, errors
from yoyaku.crm import selectors
from yoyaku.crm.models import Contact, Meeting
from yoyaku.crm.services import (
    CannotMerge,
    CrmInputError,
    create_contact,
    create_crm_meeting,
    merge_contacts,
    update_contact,
    update_crm_meeting,
)

router = Router(auth=ApiKeyAuth(), tags=["crm"])

Outcome = Literal["scheduled", "completed", "rescheduled", "no_show", "cancelled", "requested"]


class ContactIn(Schema):
    email: str = Field(max_length=254, examples=["aiko@example.com"])
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    time_zone: str = Field(default="", max_length=64, examples=["Asia/Tokyo"])
    properties: dict[str, str] = Field(default_factory=dict, max_length=100)


class ContactPatch(Schema):
    email: str | None = Field(default=None, max_length=254)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    time_zone: str | None = Field(default=None, max_length=64)
    properties: dict[str, str] | None = Field(default=None, max_length=100)


class ContactOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    time_zone: str
    owner_username: str | None
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PersonOut(Schema):
    id: int
    email: str
    name: str
    response: Literal["accepted", "declined", "tentative", "needs_action", ""] = Field(
        default="",
        description="A meeting from the calendar: the contact's answer to the invitation there; "
        "empty when unknown or for other meetings.",
    )


class CalendarEventOut(Schema):
    event_id: str = Field(description="The provider's id of the calendar event the meeting was logged from.")
    following: bool = Field(
        description="The meeting follows the event (times, title, place, people); false once the event "
        "no longer involves a contact: the meeting stays with its history and no longer changes with it."
    )


class MeetingOut(Schema):
    id: int
    title: str
    start: datetime
    end: datetime
    location: str = Field(description="A place or a video link.")
    description: str
    internal_notes: str = Field(description="For the workspace only; never sent to the contacts.")
    outcome: Outcome
    source: Literal["booking", "crm", "calendar"]
    host_usernames: list[str]
    contacts: list[PersonOut]
    calendar: Literal["none", "pending", "written", "failed", "cancel_pending", "cancelled", "cancel_failed"]
    calendar_error: str
    crm_only_reason: str = Field(
        description="Why a meeting made in the CRM is not on a calendar: no_calendar, exchange, or empty."
    )
    calendar_event: CalendarEventOut | None = Field(
        default=None,
        description="For a meeting from the calendar (`source: calendar`), the event it follows.",
    )


class ContactDetailOut(ContactOut):
    meetings: list[MeetingOut] = Field(description="The contact's meetings, the latest first.")


class ContactPageOut(Schema):
    items: list[ContactOut]
    total: int
    page: int
    per_page: int


class MeetingPageOut(Schema):
    items: list[MeetingOut]
    total: int
    page: int
    per_page: int


class ContactQuery(Schema):
    q: str = Field(default="", max_length=200, description="Words to find in names and email.")
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=selectors.DEFAULT_PER_PAGE, ge=1, le=selectors.MAX_PER_PAGE)


class MeetingQuery(Schema):
    when: Literal["upcoming", "past", ""] = ""
    outcome: Outcome | Literal[""] = ""
    source: Literal["booking", "crm", "calendar", ""] = Field(
        default="", description="Booked on a page, created in the CRM, or logged from the calendar."
    )
    host: str = Field(default="", max_length=150, description="A host's username.")
    contact_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=selectors.DEFAULT_PER_PAGE, ge=1, le=selectors.MAX_PER_PAGE)


class MergeIn(Schema):
    other_contact_id: int = Field(
        ge=1, le=2**63 - 1, description="The contact folded into this one (then removed)."
    )


class MeetingIn(Schema):
    title: str = Field(min_length=1, max_length=300)
    start: datetime = Field(examples=["2027-03-01T10:00:00+09:00"])
    end: datetime = Field(examples=["2027-03-01T10:30:00+09:00"])
    location: str = Field(default="", max_length=500, description="A place or a video link.")
    description: str = Field(default="", max_length=10_000)
    internal_notes: str = Field(default="", max_length=10_000)
    other_contact_ids: list[int] = Field(
        default_factory=list, max_length=50, description="More contacts to invite besides this one."
    )


class MeetingPatch(Schema):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    start: datetime | None = None
    end: datetime | None = None
    location: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=10_000)
    internal_notes: str | None = Field(default=None, max_length=10_000)
    outcome: Outcome | None = Field(
        default=None, description="Setting cancelled cancels the calendar event and tells the contacts."
    )
    contact_ids: list[int] | None = Field(default=None, min_length=1, max_length=50)


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _contact(request: HttpRequest, contact_id: int) -> Contact:
    try:
        return selectors.contact_of(workspace_id=_user(request).workspace_id, contact_id=contact_id)
    except Contact.DoesNotExist as error:
        raise Http404 from error


def _meeting(request: HttpRequest, meeting_id: int) -> Meeting:
    try:
        return selectors.meeting_of(workspace_id=_user(request).workspace_id, meeting_id=meeting_id)
    except Meeting.DoesNotExist as error:
        raise Http404 from error


def _contacts(request: HttpRequest, ids: list[int], *, field: str) -> list[Contact]:
    """Contacts of the workspace by id; an unknown one (or another workspace's) is a field error."""
    wanted = list(dict.fromkeys(ids))
    found = {c.pk: c for c in Contact.objects.filter(workspace_id=_user(request).workspace_id, pk__in=wanted)}
    missing = [str(pk) for pk in wanted if pk not in found]
    if missing:
        raise CrmInputError({field: gettext("No such contact: %(ids)s.") % {"ids": ", ".join(missing)}})
    return [found[pk] for pk in wanted]


def contact_out(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.pk,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "time_zone": contact.time_zone,
        "owner_username": contact.owner.username if contact.owner else None,
        "properties": contact.properties,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


def meeting_out(meeting: Meeting) -> dict[str, Any]:
    answers = {row.contact_id: row.response for row in meeting.meetingassociation_set.all()}
    link = getattr(meeting, "calendar_link", None)
    return {
        "id": meeting.pk,
        "title": meeting.title,
        "start": meeting.start,
        "end": meeting.end,
        "location": meeting.location,
        "description": meeting.description,
        "internal_notes": meeting.internal_notes,
        "outcome": meeting.outcome,
        "source": meeting.source,
        "host_usernames": [h.username for h in meeting.hosts.all()],
        "contacts": [
            {
                "id": c.pk,
                "email": c.email,
                "name": f"{c.first_name} {c.last_name}".strip(),
                "response": answers.get(c.pk) or meeting.attendee_responses.get(c.email.lower(), ""),
            }
            for c in meeting.contacts.all()
        ],
        "calendar": meeting.calendar_write,
        "calendar_error": meeting.calendar_error,
        "crm_only_reason": meeting.crm_only_reason,
        "calendar_event": None if link is None else {"event_id": link.event_id, "following": link.linked},
    }


@router.get(
    "/crm/contacts",
    response={200: ContactPageOut, **errors(*AUTH_ERRORS, 422)},
    summary="List contacts",
)
def list_contacts(request: HttpRequest, query: Query[ContactQuery]) -> dict[str, Any]:
    """The workspace's contacts by name, searched by name and email, a page at a time."""
    page = selectors.contacts_page(
        workspace_id=_user(request).workspace_id, query=query.q, page=query.page, per_page=query.per_page
    )
    return {
        "items": [contact_out(c) for c in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


@router.post(
    "/crm/contacts",
    response={201: ContactOut, **errors(*AUTH_ERRORS, *BODY_ERRORS)},
    summary="Create a contact",
)
def post_contact(request: HttpRequest, payload: ContactIn) -> Status[Any]:
    """A new contact of the workspace, owned by you. An email another contact has is refused (422)."""
    user = _user(request)
    contact = create_contact(workspace=user.workspace, owner=user, **payload.model_dump())
    return Status(201, contact_out(contact))


@router.get(
    "/crm/contacts/{contact_id}",
    response={200: ContactDetailOut, **errors(*AUTH_ERRORS, 404, 422)},
    summary="A contact and its meetings",
)
def get_contact(request: HttpRequest, contact_id: int) -> dict[str, Any]:
    contact = _contact(request, contact_id)
    meetings = selectors.contact_timeline(contact=contact)
    return {**contact_out(contact), "meetings": [meeting_out(m) for m in meetings]}


@router.patch(
    "/crm/contacts/{contact_id}",
    response={200: ContactOut, **errors(*AUTH_ERRORS, 404, *BODY_ERRORS)},
    summary="Edit a contact",
)
def patch_contact(request: HttpRequest, contact_id: int, payload: ContactPatch) -> dict[str, Any]:
    contact = update_contact(contact=_contact(request, contact_id), **payload.model_dump(exclude_unset=True))
    return contact_out(contact)


@router.post(
    "/crm/contacts/{contact_id}/merge",
    response={200: ContactDetailOut, **errors(*AUTH_ERRORS, 404, *BODY_ERRORS)},
    summary="Merge another contact into this one",
)
def merge_contact(request: HttpRequest, contact_id: int, payload: MergeIn) -> dict[str, Any]:
    """The other contact's meetings and bookings move to this one, which keeps its own details and takes
    only what it lacks from the other; the other contact is then removed."""
    keep = _contact(request, contact_id)
    [other] = _contacts(request, [payload.other_contact_id], field="other_contact_id")
    try:
        kept = merge_contacts(keep=keep, merge=other)
    except CannotMerge as error:
        raise CrmInputError({"other_contact_id": str(error)}) from error
    return {
        **contact_out(kept),
        "meetings": [meeting_out(m) for m in selectors.contact_timeline(contact=kept)],
    }


@router.post(
    "/crm/contacts/{contact_id}/meetings",
    response={201: MeetingOut, **errors(*AUTH_ERRORS, 404, *BODY_ERRORS)},
    summary="Create a meeting with a contact",
)
def post_meeting(request: HttpRequest, contact_id: int, payload: MeetingIn) -> Status[Any]:
    """A meeting you host with this contact (and any others named). With Google, Microsoft 365 or
    CalDAV connected, it goes on your calendar and the contacts are invited (`calendar` is `pending`
    until it is there); with Exchange or no calendar it is logged in the CRM only (`crm_only_reason`)."""
    contact = _contact(request, contact_id)
    others = _contacts(request, payload.other_contact_ids, field="other_contact_ids")
    contacts = [contact, *[c for c in others if c.pk != contact.pk]]
    data = payload.model_dump(exclude={"other_contact_ids"})
    meeting = create_crm_meeting(host=_user(request), contacts=contacts, **data)
    return Status(
        201, meeting_out(selectors.meeting_of(workspace_id=meeting.workspace_id, meeting_id=meeting.pk))
    )


@router.get(
    "/crm/meetings",
    response={200: MeetingPageOut, **errors(*AUTH_ERRORS, 422)},
    summary="List meetings",
)
def list_meetings(request: HttpRequest, query: Query[MeetingQuery]) -> dict[str, Any]:
    """The workspace's meetings: `when=upcoming` soonest first, `past` and unfiltered latest first."""
    page = selectors.meetings_page(
        workspace_id=_user(request).workspace_id,
        now=timezone.now(),
        when=query.when,
        outcome=query.outcome,
        host_username=query.host,
        contact_id=query.contact_id,
        source=query.source,
        page=query.page,
        per_page=query.per_page,
    )
    return {
        "items": [meeting_out(m) for m in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


@router.get(
    "/crm/meetings/{meeting_id}",
    response={200: MeetingOut, **errors(*AUTH_ERRORS, 404, 422)},
    summary="A meeting",
)
def get_meeting(request: HttpRequest, meeting_id: int) -> dict[str, Any]:
    return meeting_out(_meeting(request, meeting_id))


@router.patch(
    "/crm/meetings/{meeting_id}",
    response={200: MeetingOut, **errors(*AUTH_ERRORS, 404, *BODY_ERRORS)},
    summary="Edit or cancel a meeting",
)
def patch_meeting(request: HttpRequest, meeting_id: int, payload: MeetingPatch) -> dict[str, Any]:
    """Changes to a meeting on a calendar are made there too; `outcome: cancelled` cancels its event.
    A booked meeting's time, title and place are changed with its booking (`/me/bookings`); those of
    a meeting from the calendar, while it follows its event, in the calendar (422 here)."""
    meeting = _meeting(request, meeting_id)
    data = payload.model_dump(exclude_unset=True)
    contact_ids = data.pop("contact_ids", None)
    contacts = None if contact_ids is None else _contacts(request, contact_ids, field="contact_ids")
    update_crm_meeting(meeting=meeting, contacts=contacts, **data)
    return meeting_out(selectors.meeting_of(workspace_id=meeting.workspace_id, meeting_id=meeting.pk))
