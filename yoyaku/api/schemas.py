from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import Field, field_validator

Minutes = Field(ge=0, le=1440)


class ErrorOut(Schema):
    detail: str
    errors: dict[str, str] = {}


class AvailabilityIn(Schema):
    time_zone: str = Field(max_length=64, examples=["Europe/Berlin"])
    weekly: dict[Literal["0", "1", "2", "3", "4", "5", "6"], list[tuple[int, int]]] = Field(
        description="Weekday (0 = Monday) to local [start, end] minutes from midnight."
    )
    overrides: dict[date, list[tuple[int, int]]] = Field(
        default_factory=dict, description="Dates whose hours replace the weekly ones; [] = day off."
    )


class AvailabilityOut(Schema):
    time_zone: str
    weekly: dict[str, list[tuple[int, int]]]
    overrides: dict[str, list[tuple[int, int]]]


class FormFieldSpec(Schema):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=200)
    type: Literal["text", "textarea", "select", "checkbox"] = "text"
    required: bool = False
    options: list[str] = Field(default_factory=list, max_length=50)


MAX_PER_DAY_DESCRIPTION = (
    "Maximum meetings per day for this page, per host (in the host's time zone); meetings booked on "
    "the host's other pages do not count. Empty: no limit."
)


class MeetingLinkIn(Schema):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["one_on_one", "group", "round_robin"] = "one_on_one"
    host_usernames: list[str] = Field(default_factory=list, max_length=100)
    durations: list[int] = Field(default_factory=lambda: [30], min_length=1, max_length=10)
    increment_minutes: int = Field(default=30, ge=5, le=60)
    notice_minutes: int = Field(default=0, ge=0, le=60 * 24 * 60)
    change_notice_minutes: int = Field(
        default=0,
        ge=0,
        le=60 * 24 * 60,
        description="Minutes before the meeting that a booker may still move or cancel it.",
    )
    buffer_before_minutes: int = Field(default=0, ge=0, le=720)
    buffer_after_minutes: int = Field(default=0, ge=0, le=720)
    rolling_weeks: int | None = Field(default=8, ge=1, le=104)
    fixed_start: date | None = None
    fixed_end: date | None = None
    max_per_day: int | None = Field(default=None, ge=1, le=100, description=MAX_PER_DAY_DESCRIPTION)
    prioritize_contact_owner: bool = False
    form_fields: list[FormFieldSpec] = Field(default_factory=list, max_length=30)
    location: str = Field(default="", max_length=500)
    confirmation_message: str = Field(default="", max_length=2000)
    redirect_url: str = Field(default="", max_length=500)
    active: bool = True

    @field_validator("durations")
    @classmethod
    def _durations(cls, value: list[int]) -> list[int]:
        if any(d < 5 or d > 720 for d in value):
            raise ValueError("durations are minutes between 5 and 720")
        return sorted(set(value))


class MeetingLinkPatch(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: Literal["one_on_one", "group", "round_robin"] | None = None
    host_usernames: list[str] | None = None
    durations: list[int] | None = Field(default=None, min_length=1, max_length=10)
    increment_minutes: int | None = Field(default=None, ge=5, le=60)
    notice_minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 60)
    change_notice_minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 60)
    buffer_before_minutes: int | None = Field(default=None, ge=0, le=720)
    buffer_after_minutes: int | None = Field(default=None, ge=0, le=720)
    rolling_weeks: int | None = Field(default=None, ge=1, le=104)
    fixed_start: date | None = None
    fixed_end: date | None = None
    max_per_day: int | None = Field(default=None, ge=1, le=100, description=MAX_PER_DAY_DESCRIPTION)
    prioritize_contact_owner: bool | None = None
    form_fields: list[FormFieldSpec] | None = None
    location: str | None = Field(default=None, max_length=500)
    confirmation_message: str | None = Field(default=None, max_length=2000)
    redirect_url: str | None = Field(default=None, max_length=500)
    active: bool | None = None


class MeetingLinkOut(Schema):
    slug: str
    name: str
    kind: str
    host_usernames: list[str]
    durations: list[int]
    increment_minutes: int
    notice_minutes: int
    change_notice_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    rolling_weeks: int | None
    fixed_start: date | None
    fixed_end: date | None
    max_per_day: int | None
    prioritize_contact_owner: bool
    form_fields: list[dict[str, Any]]
    location: str
    confirmation_message: str
    redirect_url: str
    active: bool
    url: str


class SlotDay(Schema):
    date: date
    slots: list[datetime]


class PublicAvailabilityOut(Schema):
    slug: str
    name: str
    timezone: str
    duration: int
    durations: list[int]
    offline: bool
    calendar_error: str = ""
    days: list[SlotDay]


class BookingIn(Schema):
    start: datetime
    duration: int = Field(ge=5, le=720)
    timezone: str = Field(max_length=64)
    first_name: str = Field(max_length=200)
    last_name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    answers: dict[str, str | bool] = Field(default_factory=dict, max_length=30)
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=100)


class RequestIn(Schema):
    timezone: str = Field(max_length=64)
    first_name: str = Field(max_length=200)
    last_name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    message: str = Field(default="", max_length=2000)
    answers: dict[str, str | bool] = Field(default_factory=dict, max_length=30)
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=100)


class BookingOut(Schema):
    id: UUID
    status: str
    start: datetime | None
    end: datetime | None
    timezone: str
    host: str
    contact_id: int | None
    meeting_id: int | None
    calendar_event_id: str | None
    calendar_write: str
    offline: bool
    confirmation_message: str
    redirect_url: str
    reschedule_url: str = Field(
        default="", description="The booker's link to move the meeting; empty if none."
    )
    cancel_url: str = Field(default="", description="The booker's link to cancel the meeting; empty if none.")
    calendar_file_url: str = Field(
        default="",
        description="The meeting as an .ics file with the invitation's UID; empty when not offered.",
    )
    change_note: str = Field(default="", description="Why no links to change the meeting are offered, if so.")


class ContactOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str


class HostBookingOut(Schema):
    """A booking or a meeting request as its host sees it."""

    id: UUID
    link: str = Field(description="Slug of the scheduling page it was made on.")
    link_name: str
    status: Literal["confirmed", "requested", "cancelled"]
    start: datetime | None = Field(description="Null for a request left without a time.")
    end: datetime | None
    timezone: str = Field(description="The booker's time zone.")
    host: str = Field(description="Username of the host it is assigned to.")
    first_name: str
    last_name: str
    email: str
    contact: ContactOut | None
    meeting_id: int | None
    answers: dict[str, Any]
    message: str
    calendar_write: Literal[
        "none", "pending", "written", "failed", "cancel_pending", "cancelled", "cancel_failed"
    ] = Field(
        description="none: no calendar (requests, offline pages); pending: the write is being retried; "
        "written: on the host's calendar; failed: gave up, see calendar_error. For a cancelled booking: "
        "cancel_pending: the event's cancellation is being retried; cancelled: cancelled on the calendar; "
        "cancel_failed: gave up (or the calendar refuses cancellations: Exchange), see calendar_error."
    )
    calendar_event_id: str | None
    calendar_error: str
    created_at: datetime
