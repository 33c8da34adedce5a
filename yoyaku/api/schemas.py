from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, Field, field_validator
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

Minutes = Field(ge=0, le=1440)

# Dates and instants the databases, the time zone conversions and ``date + timedelta`` all handle:
# year 1 or 9999 overflows as soon as a zone offset or a day is added. No scheduling needs more.
FIRST_YEAR = 1900
LAST_YEAR = 9000


def _date_in_range(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"Give a date between the years {FIRST_YEAR} and {LAST_YEAR}.")
    return value


def _instant_in_range(value: datetime) -> datetime:
    try:
        year = value.astimezone(UTC).year if value.tzinfo is not None else value.year
    except OverflowError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"Give an instant between the years {FIRST_YEAR} and {LAST_YEAR}.")
    return value


def _iso_date(value: object) -> object:
    # pydantic's lax mode would also read numbers (and numeric strings) as Unix times; the document
    # promises an ISO 8601 date (RFC 3339 full-date), so only that is read.
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("Give a date as YYYY-MM-DD.") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("Give a date as YYYY-MM-DD.")


def _iso_instant(value: object) -> object:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("Give a date and time like 2026-05-01T09:00:00+02:00 (ISO 8601).") from None
    if isinstance(value, datetime):
        return value
    raise ValueError("Give a date and time like 2026-05-01T09:00:00+02:00 (ISO 8601).")


SafeDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_date_in_range)]
SafeInstant = Annotated[datetime, BeforeValidator(_iso_instant), AfterValidator(_instant_in_range)]
# [start, end] minutes from local midnight: a two-item array of integers, not a tuple, whose
# "prefixItems" schema OpenAPI tools built on JSON Schema draft 4 (OpenAPI 3.0's) misread.
Span = Annotated[list[int], Field(min_length=2, max_length=2)]


class ErrorOut(Schema):
    detail: str = Field(description="What went wrong, in the language of the request (Accept-Language).")
    errors: dict[str, str] = Field(
        default_factory=dict, description="Field (dotted path, e.g. answers.company) to what to fix in it."
    )


# What operations answer besides their success, for their response declarations. Every error has the
# ErrorOut shape (the API's exception handlers and api/middleware.py see to it).
AUTH_ERRORS = (401,)  # no valid API key
BODY_ERRORS = (400, 413, 415, 422)  # malformed JSON, too large, not JSON, a field to fix


def errors(*statuses: int) -> dict[int, Any]:
    """``{status: ErrorOut}`` for each status, to spread into a ninja ``response=`` mapping."""
    return dict.fromkeys(statuses, ErrorOut)


class TakenOut(ErrorOut):
    """409 for a time that is no longer free, with free starts near it to offer instead."""

    alternatives: list[datetime] = Field(default=[], description="Free starts near the time asked for (UTC).")


class AvailabilityIn(Schema):
    time_zone: str = Field(max_length=64, examples=["Europe/Berlin"])
    weekly: dict[Literal["0", "1", "2", "3", "4", "5", "6"], list[Span]] = Field(
        description="Weekday (0 = Monday) to local [start, end] minutes from midnight."
    )
    overrides: dict[SafeDate, list[Span]] = Field(
        default_factory=dict, description="Dates whose hours replace the weekly ones; [] = day off."
    )


class AvailabilityOut(Schema):
    time_zone: str
    weekly: dict[str, list[Span]]
    overrides: dict[str, list[Span]]


def _check_durations(value: list[int]) -> list[int]:
    if any(d < 5 or d > 720 for d in value):
        raise ValueError("durations are minutes between 5 and 720")
    return sorted(set(value))


class FormFieldSpec(Schema):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=200)
    type: Literal["text", "textarea", "select", "checkbox", "radio", "phone"] = "text"
    required: bool = False
    options: list[str] = Field(default_factory=list, max_length=50)


MAX_PER_DAY_DESCRIPTION = (
    "Maximum meetings per day for this page, per host (in the host's time zone); meetings booked on "
    "the host's other pages do not count. Empty: no limit."
)


ROLLING_DAYS_DESCRIPTION = (
    "How many days ahead (from now) people can book. Setting it clears rolling_weeks and the other "
    "way round; a fixed_start..fixed_end range replaces both."
)


class MeetingLinkIn(Schema):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["one_on_one", "group", "round_robin"] = "one_on_one"
    host_usernames: list[str] = Field(default_factory=list, max_length=100)
    durations: list[int] = Field(default_factory=lambda: [30], min_length=1, max_length=10)
    increment_minutes: int = Field(default=30, ge=5, le=720)
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
    rolling_days: int | None = Field(default=None, ge=1, le=730, description=ROLLING_DAYS_DESCRIPTION)
    fixed_start: SafeDate | None = None
    fixed_end: SafeDate | None = None
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
        return _check_durations(value)


# For PATCH fields that may be left out but not set to null: the schema shows no null, and
# ``_no_null`` refuses an explicit one (a left-out field keeps its default and skips validators).
Unset = SkipJsonSchema[None]


class MeetingLinkPatch(Schema):
    """Only the fields sent change. ``null`` is refused (leave a field out to keep its value), except for
    the fields that may be empty: ``rolling_weeks``, ``rolling_days``, ``fixed_start``, ``fixed_end`` and
    ``max_per_day``."""

    name: str | Unset = Field(default=None, min_length=1, max_length=200)
    kind: Literal["one_on_one", "group", "round_robin"] | Unset = None
    host_usernames: list[str] | Unset = Field(default=None, max_length=100)
    durations: list[int] | Unset = Field(default=None, min_length=1, max_length=10)
    increment_minutes: int | Unset = Field(default=None, ge=5, le=720)
    notice_minutes: int | Unset = Field(default=None, ge=0, le=60 * 24 * 60)
    change_notice_minutes: int | Unset = Field(default=None, ge=0, le=60 * 24 * 60)
    buffer_before_minutes: int | Unset = Field(default=None, ge=0, le=720)
    buffer_after_minutes: int | Unset = Field(default=None, ge=0, le=720)
    rolling_weeks: int | None = Field(default=None, ge=1, le=104)
    rolling_days: int | None = Field(default=None, ge=1, le=730, description=ROLLING_DAYS_DESCRIPTION)
    fixed_start: SafeDate | None = None
    fixed_end: SafeDate | None = None
    max_per_day: int | None = Field(default=None, ge=1, le=100, description=MAX_PER_DAY_DESCRIPTION)
    prioritize_contact_owner: bool | Unset = None
    form_fields: list[FormFieldSpec] | Unset = Field(default=None, max_length=30)
    location: str | Unset = Field(default=None, max_length=500)
    confirmation_message: str | Unset = Field(default=None, max_length=2000)
    redirect_url: str | Unset = Field(default=None, max_length=500)
    active: bool | Unset = None

    @field_validator(
        "name",
        "kind",
        "host_usernames",
        "durations",
        "increment_minutes",
        "notice_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "prioritize_contact_owner",
        "form_fields",
        "location",
        "confirmation_message",
        "redirect_url",
        "active",
        mode="before",
    )
    @classmethod
    def _no_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("null is not a value for this field; leave the field out to keep it.")
        return value

    @field_validator("durations")
    @classmethod
    def _durations(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _check_durations(value)


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
    rolling_days: int | None
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


# The answer writes its slots as ISO 8601 text itself (api/slot_times.py, far faster than datetimes for
# thousands of slots); the document still says what they are.
SlotTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class SlotDay(Schema):
    date: date
    slots: list[SlotTime]


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
    start: SafeInstant
    duration: int = Field(ge=5, le=720)
    timezone: str = Field(
        max_length=64, description="The booker's IANA time zone.", examples=["Europe/Berlin"]
    )
    first_name: str = Field(max_length=200)
    last_name: str = Field(max_length=200)
    email: str = Field(max_length=254, json_schema_extra={"format": "email"}, examples=["aiko@example.com"])
    answers: dict[str, str | bool] = Field(default_factory=dict, max_length=30)
    idempotency_key: str | None = Field(default=None, min_length=8, max_length=100)


class RequestIn(Schema):
    timezone: str = Field(
        max_length=64, description="The booker's IANA time zone.", examples=["Europe/Berlin"]
    )
    first_name: str = Field(max_length=200)
    last_name: str = Field(max_length=200)
    email: str = Field(max_length=254, json_schema_extra={"format": "email"}, examples=["aiko@example.com"])
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


class CalendarConflictOut(Schema):
    """A move on the host's calendar that Yoyaku could not take."""

    start: datetime = Field(description="Where the event now is on the calendar.")
    end: datetime
    with_booking_id: UUID | None = Field(description="The meeting it collides with, if still known.")
    message: str = Field(description="What the host reads on the dashboard, in the API's language.")


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
    outcome: Literal["scheduled", "completed", "rescheduled", "no_show", "cancelled", "requested"] = Field(
        description="What became of the meeting (its CRM meeting's outcome): past meetings show it."
    )
    cancel_reason: str = Field(
        description="The host's message to the contact when cancelling the meeting or declining the request."
    )
    cancelled_by: Literal["", "host", "booker", "calendar"] = Field(
        description="Who cancelled it: a host, the booker (manage link), or the calendar (the event was "
        "deleted or cancelled on the host's calendar, and the booking followed). Empty if not cancelled."
    )
    booker_response: Literal["", "accepted", "declined", "tentative", "needs_action"] = Field(
        description="The booker's answer to the invitation on the host's calendar; empty when the calendar "
        "has given none. A decline does not cancel the meeting: the host decides."
    )
    attendee_responses: dict[str, Literal["accepted", "declined", "tentative", "needs_action"]] = Field(
        description="Every attendee's answer on the calendar event, by lower-cased email address."
    )
    calendar_conflict: CalendarConflictOut | None = Field(
        description="Set when the event was moved on the calendar to a time that collides with another of "
        "the hosts' meetings: the booking keeps its own time (start, end) until the host moves or cancels "
        "one of the two."
    )
    created_at: datetime
