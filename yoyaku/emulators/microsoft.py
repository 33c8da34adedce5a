"""A local stand-in for the Microsoft identity platform (v2.0 endpoints) and Microsoft Graph v1.0.

It speaks the documented wire formats closely enough that msal and a plain
HTTP Graph client cannot tell it from the real services:

* ``/{tenant}/v2.0/.well-known/openid-configuration`` (msal's tenant discovery),
  ``/{tenant}/oauth2/v2.0/authorize`` (an HTML consent page with an "Accept"
  button, or an immediate redirect in auto-approve mode) and
  ``/{tenant}/oauth2/v2.0/token`` (authorization_code with PKCE S256 and
  refresh_token grants; errors in the AAD format with ``AADSTS`` codes).
  The discovery document names the *public* authority host
  (``https://login.microsoftonline.com`` by default) as real Entra ID does, so
  msal's https checks pass; clients rewrite that host to this server.
* ``/v1.0/me``, ``/me/calendars``, ``/me/calendar/getSchedule``,
  ``calendarView`` and ``calendarView/delta`` (recurrences expanded into
  ``occurrence``/``exception`` instances), events create/get/patch/delete/cancel
  with ``transactionId`` idempotency, ``/me/sendMail`` and ``/subscriptions``
  with the ``validationToken`` handshake and change notifications.

Tests seed and inspect state through the Python API (``add_event``,
``events``, ``messages``...) or the JSON control endpoints under ``/_emulator``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from yoyaku.emulators.base import CONSENT_HEAD, FaultInjector, ServerThread, local_note

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "emulator-secret-Q~not-a-real-secret"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEFAULT_EMAIL = "host@contoso.example"
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"

# Subscriptions to Outlook events may live at most 10,080 minutes (7 days).
MAX_EVENT_SUBSCRIPTION = timedelta(minutes=10080)
VALIDATION_TIMEOUT = 10.0
RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}


# --------------------------------------------------------------------------- helpers


def _now() -> datetime:
    return datetime.now(tz=UTC)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _zone(name: str) -> tzinfo:
    if not name or name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    olson = WINDOWS_TO_OLSON.get(name, name)
    return ZoneInfo(olson)


def graph_time(value: datetime, zone_name: str = "UTC") -> dict[str, str]:
    """A Graph dateTimeTimeZone for ``value`` shown in ``zone_name``."""
    local = value.astimezone(_zone(zone_name)).replace(tzinfo=None)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone_name}


def parse_graph_time(value: dict[str, str]) -> datetime:
    raw = value["dateTime"].rstrip("Z")
    if "." in raw:
        head, frac = raw.split(".", 1)
        raw = f"{head}.{frac[:6]}"
    naive = datetime.fromisoformat(raw)
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=_zone(value.get("timeZone", "UTC"))).astimezone(UTC)


def _normalise_times(event: dict[str, Any]) -> None:
    """Store start/end as Graph writes them back: seven fractional digits, in the zone given."""
    for key in ("start", "end"):
        value = event.get(key)
        if not value:
            continue
        if event.get("isAllDay"):
            day = value["dateTime"][:10]
            event[key] = {"dateTime": f"{day}T00:00:00.0000000", "timeZone": value.get("timeZone", "UTC")}
        else:
            event[key] = graph_time(parse_graph_time(value), value.get("timeZone", "UTC"))


# The event resource's properties a client may send (Graph v1.0 "event resource type"); anything
# else is refused as Graph refuses it, so an adapter cannot depend on a property Graph does not have.
_EVENT_PROPERTIES = frozenset(
    {
        "@odata.type",
        "allowNewTimeProposals",
        "attendees",
        "body",
        "categories",
        "end",
        "extensions",
        "hideAttendees",
        "importance",
        "isAllDay",
        "isOnlineMeeting",
        "isReminderOn",
        "location",
        "locations",
        "multiValueExtendedProperties",
        "onlineMeetingProvider",
        "originalEndTimeZone",
        "originalStartTimeZone",
        "recurrence",
        "reminderMinutesBeforeStart",
        "responseRequested",
        "sensitivity",
        "showAs",
        "singleValueExtendedProperties",
        "start",
        "subject",
        "transactionId",
    }
)
_NESTED_PROPERTIES = {
    "start": ("dateTimeTimeZone", frozenset({"dateTime", "timeZone"})),
    "end": ("dateTimeTimeZone", frozenset({"dateTime", "timeZone"})),
    "body": ("itemBody", frozenset({"contentType", "content"})),
    "location": (
        "location",
        frozenset(
            {
                "displayName",
                "locationEmailAddress",
                "address",
                "coordinates",
                "locationUri",
                "locationType",
                "uniqueId",
                "uniqueIdType",
            }
        ),
    ),
}
_ATTENDEE_PROPERTIES = frozenset({"emailAddress", "type", "status", "proposedNewTime"})
_EMAIL_PROPERTIES = frozenset({"address", "name"})
# Graph enum types and their members (OData enums; Graph reads them case-insensitively).
_ENUMS = {
    "showAs": ("freeBusyStatus", {"free", "tentative", "busy", "oof", "workingelsewhere", "unknown"}),
    "importance": ("importance", {"low", "normal", "high"}),
    "sensitivity": ("sensitivity", {"normal", "personal", "private", "confidential"}),
    "onlineMeetingProvider": (
        "onlineMeetingProviderType",
        {"unknown", "skypeforbusiness", "skypeforconsumer", "teamsforbusiness"},
    ),
}


def _unknown_property(name: str, type_name: str) -> GraphError:
    return GraphError(
        400,
        "RequestBodyRead",
        f"The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use "
        "property names that are defined by the type or mark the type as open type.",
    )


def _bad_enum(value: object, type_name: str) -> GraphError:
    return GraphError(
        400,
        "RequestBodyRead",
        f"Cannot convert the literal '{value}' to the expected type 'microsoft.graph.{type_name}'.",
    )


def validate_event_body(body: Any, *, current: dict[str, Any] | None = None) -> None:
    """Refuse what Graph refuses in a POST or PATCH of an event (400 with Graph's error body).

    Unknown properties and enum members are ``RequestBodyRead`` errors; an end before the start
    (after a PATCH, of the merged event) is ``ErrorPropertyValidationFailure``.
    """
    if not isinstance(body, dict):
        raise GraphError(400, "RequestBodyRead", "The request body must be a JSON object.")
    for name, value in body.items():
        if name not in _EVENT_PROPERTIES:
            raise _unknown_property(name, "event")
        if name in _NESTED_PROPERTIES and isinstance(value, dict):
            type_name, allowed = _NESTED_PROPERTIES[name]
            for inner in value:
                if inner not in allowed and not inner.startswith("@odata"):
                    raise _unknown_property(inner, type_name)
        if name in _ENUMS and value is not None:
            type_name, members = _ENUMS[name]
            if str(value).lower() not in members:
                raise _bad_enum(value, type_name)
    content_type = body["body"].get("contentType") if isinstance(body.get("body"), dict) else None
    if content_type is not None and str(content_type).lower() not in ("text", "html"):
        raise _bad_enum(content_type, "bodyType")
    for attendee in body.get("attendees") or []:
        if not isinstance(attendee, dict):
            raise GraphError(400, "RequestBodyRead", "An attendee must be an object.")
        for inner in attendee:
            if inner not in _ATTENDEE_PROPERTIES:
                raise _unknown_property(inner, "attendee")
        if str(attendee.get("type", "required")).lower() not in ("required", "optional", "resource"):
            raise _bad_enum(attendee["type"], "attendeeType")
        for inner in attendee.get("emailAddress") or {}:
            if inner not in _EMAIL_PROPERTIES:
                raise _unknown_property(inner, "emailAddress")
    merged = {**(current or {}), **body}
    if merged.get("start") and merged.get("end"):
        try:
            start, end = parse_graph_time(merged["start"]), parse_graph_time(merged["end"])
        except (KeyError, TypeError, ValueError) as error:
            raise GraphError(
                400, "ErrorPropertyValidationFailure", "At least one property failed validation."
            ) from error
        if end < start:
            raise GraphError(
                400, "ErrorPropertyValidationFailure", "At least one property failed validation."
            )


def _parse_query_time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:  # Graph reads an offset-less value as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _graph_error(status: int, code: str, message: str) -> Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": _now().strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }
    return Response(json.dumps(body), status=status, content_type="application/json")


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    stamp = _now().strftime("%Y-%m-%d %H:%M:%SZ")
    trace = str(uuid.uuid4())
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
        "error_uri": f"{PUBLIC_AUTHORITY}/error?code={code}",
    }
    return Response(json.dumps(body), status=status, content_type="application/json")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json", headers=headers)


# --------------------------------------------------------------------------- state


@dataclass
class Calendar:
    id: str
    name: str
    is_default: bool = False
    can_edit: bool = True
    events: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Account:
    email: str
    name: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    calendars: dict[str, Calendar] = field(default_factory=dict)
    revoked: bool = False
    # mailboxSettings.timeZone: a Windows name, as Outlook stores it.
    time_zone: str = "UTC"

    @property
    def default_calendar(self) -> Calendar:
        return next(c for c in self.calendars.values() if c.is_default)


@dataclass
class Grant:
    account: str
    scopes: list[str]
    client_id: str


@dataclass
class AccessToken:
    account: str
    scopes: list[str]
    expires_at: float


@dataclass
class AuthCode:
    account: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    challenge: str
    method: str
    nonce: str
    expires_at: float


@dataclass
class Subscription:
    id: str
    account: str
    resource: str
    change_type: str
    notification_url: str
    client_state: str
    expiration: datetime
    lifecycle_url: str | None = None

    def to_graph(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.resource,
            "applicationId": CLIENT_ID,
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": self.expiration.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "creatorId": self.account,
        }


@dataclass
class DeltaState:
    account: str
    calendar_id: str
    window: tuple[datetime, datetime]
    # The mailbox change number the client has seen everything up to.
    change_number: int
    # Each instance as the client last received it, grouped by its event (series master) id,
    # to send only what changed next time and ``@removed`` for instances that left the window.
    snapshot: dict[str, dict[str, dict[str, Any]]]


# --------------------------------------------------------------------------- recurrence

_WEEKDAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


def _rule(master: dict[str, Any], start_local: datetime) -> rrule.rrule:
    """dateutil rule for a Graph patternedRecurrence, expanded in the event's own zone."""
    pattern = master["recurrence"]["pattern"]
    rng = master["recurrence"]["range"]
    kind = pattern["type"]
    kwargs: dict[str, Any] = {"interval": int(pattern.get("interval", 1)), "dtstart": start_local}
    days = [_WEEKDAYS[d.lower()] for d in pattern.get("daysOfWeek", [])]
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        kwargs["byweekday"] = days or None
        kwargs["wkst"] = _WEEKDAYS[pattern.get("firstDayOfWeek", "sunday").lower()]
    elif kind == "absoluteMonthly":
        freq = rrule.MONTHLY
        kwargs["bymonthday"] = int(pattern["dayOfMonth"])
    elif kind == "relativeMonthly":
        freq = rrule.MONTHLY
        kwargs["byweekday"] = days
        kwargs["bysetpos"] = _INDEX[pattern.get("index", "first")]
    elif kind == "absoluteYearly":
        freq = rrule.YEARLY
        kwargs["bymonth"] = int(pattern["month"])
        kwargs["bymonthday"] = int(pattern["dayOfMonth"])
    elif kind == "relativeYearly":
        freq = rrule.YEARLY
        kwargs["bymonth"] = int(pattern["month"])
        kwargs["byweekday"] = days
        kwargs["bysetpos"] = _INDEX[pattern.get("index", "first")]
    else:
        raise GraphError(400, "ErrorInvalidRecurrence", f"Unknown recurrence pattern {kind}")
    if rng.get("type") == "endDate":
        end_day = date.fromisoformat(rng["endDate"])
        kwargs["until"] = datetime.combine(end_day, datetime.max.time())
    elif rng.get("type") == "numbered":
        kwargs["count"] = int(rng["numberOfOccurrences"])
    return rrule.rrule(freq, **kwargs)


def _occurrence_id(master_id: str, original_start: datetime) -> str:
    return f"{master_id}_OCC_{original_start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


class _TextOfHtml(HTMLParser):
    """The text of an HTML body, a line per block: what Graph gives for
    ``Prefer: outlook.body-content-type="text"``."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_to_text(content: str) -> str:
    parser = _TextOfHtml()
    parser.feed(content)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line)


def _preview(body: dict[str, Any]) -> str:
    """Graph's ``bodyPreview``: the first 255 characters of the body as text."""
    content = str(body.get("content") or "")
    text = _html_to_text(content) if str(body.get("contentType", "")).lower() == "html" else content
    return text[:255]


# --------------------------------------------------------------------------- the emulator


class MicrosoftEmulator:
    """In-memory Entra ID + Graph. Thread-safe; every public method takes the lock."""

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        authority_host: str = PUBLIC_AUTHORITY,
        auto_approve: bool = False,
        access_token_lifetime: int = 3600,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.authority_host = authority_host.rstrip("/")
        self.auto_approve = auto_approve
        self.access_token_lifetime = access_token_lifetime
        # When False the server ignores ``Prefer: outlook.timezone`` and answers in
        # each event's own zone (often a Windows name), as some mailboxes do.
        self.honour_prefer_timezone = True
        # Graph documents that a delta round may carry only the changed properties of an
        # updated event (with its id); True sends exactly those, as clients must expect.
        self.delta_changed_properties_only = True
        self.faults = FaultInjector()
        # Per request thread: the body type asked for with ``Prefer: outlook.body-content-type``.
        self._asked = threading.local()
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.delta_states: dict[str, DeltaState] = {}
        # Stamped on every create/update/delete, as Graph's change log orders changes: a delta
        # token answers from the events stamped after it instead of comparing the whole view.
        self.change_number = 0
        self.delta_pages: dict[str, tuple[list[dict[str, Any]], str]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.messages: list[dict[str, Any]] = []
        self.notifications_sent: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, str]] = []
        self.server: ServerThread | None = None
        self.add_account(DEFAULT_EMAIL, name="Hana Host")

    # ------------------------------------------------------------------ python control API

    @property
    def url(self) -> str:
        assert self.server is not None, "emulator not started"
        return self.server.url

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def add_account(self, email: str, *, name: str = "") -> Account:
        with self.lock:
            account = Account(email=email, name=name or email.split("@")[0])
            cal = Calendar(id=self._new_id(), name="Calendar", is_default=True)
            account.calendars[cal.id] = cal
            self.accounts[email.lower()] = account
            return account

    def account(self, email: str = DEFAULT_EMAIL) -> Account:
        return self.accounts[email.lower()]

    def add_calendar(self, name: str, *, email: str = DEFAULT_EMAIL, can_edit: bool = True) -> str:
        with self.lock:
            cal = Calendar(id=self._new_id(), name=name, can_edit=can_edit)
            self.account(email).calendars[cal.id] = cal
            return cal.id

    def default_calendar_id(self, email: str = DEFAULT_EMAIL) -> str:
        return self.account(email).default_calendar.id

    def add_event(
        self,
        *,
        subject: str = "Busy",
        start: datetime | date,
        end: datetime | date,
        calendar_id: str | None = None,
        email: str = DEFAULT_EMAIL,
        time_zone: str = "UTC",
        show_as: str = "busy",
        is_cancelled: bool = False,
        response: str = "organizer",
        attendees: Iterable[tuple[str, str]] = (),
        recurrence: dict[str, Any] | None = None,
        is_organizer: bool | None = None,
    ) -> str:
        """Seed an event. ``date`` start/end make an all-day event; ``attendees`` are (email, response)."""
        account = self.account(email)
        all_day = not isinstance(start, datetime)
        if all_day:
            start_time = {"dateTime": f"{start.isoformat()}T00:00:00.0000000", "timeZone": time_zone}
            end_time = {"dateTime": f"{end.isoformat()}T00:00:00.0000000", "timeZone": time_zone}
        else:
            assert isinstance(start, datetime) and isinstance(end, datetime)
            start_time = graph_time(start, time_zone)
            end_time = graph_time(end, time_zone)
        organizer = is_organizer if is_organizer is not None else response == "organizer"
        body: dict[str, Any] = {
            "subject": subject,
            "start": start_time,
            "end": end_time,
            "isAllDay": all_day,
            "showAs": show_as,
            "isCancelled": is_cancelled,
            "responseStatus": {"response": response, "time": "0001-01-01T00:00:00Z"},
            "isOrganizer": organizer,
            "organizer": {
                "emailAddress": {"name": account.name, "address": account.email}
                if organizer
                else {"name": "Someone Else", "address": "other@fabrikam.example"}
            },
            "attendees": [
                {
                    "type": "required",
                    "status": {"response": resp, "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": {"name": addr, "address": addr},
                }
                for addr, resp in attendees
            ],
        }
        if recurrence is not None:
            body["recurrence"] = recurrence
        with self.lock:
            cal = account.calendars[calendar_id] if calendar_id else account.default_calendar
            return self._store_event(account, cal, body, send=False)["id"]

    def modify_occurrence(
        self, event_id: str, original_start: datetime, *, email: str = DEFAULT_EMAIL, **changes: Any
    ) -> str:
        """Turn one occurrence into an exception (Graph field names, e.g. start={...})."""
        with self.lock:
            _, master = self._find_event(self.account(email), event_id)
            key = original_start.astimezone(UTC).isoformat()
            master.setdefault("_exceptions", {}).setdefault(key, {}).update(changes)
            self._touch(master)
            self._notify(email, master, "updated")
            return _occurrence_id(event_id, original_start)

    def delete_occurrence(
        self, event_id: str, original_start: datetime, *, email: str = DEFAULT_EMAIL
    ) -> None:
        with self.lock:
            _, master = self._find_event(self.account(email), event_id)
            master.setdefault("_deleted_occurrences", set()).add(original_start.astimezone(UTC).isoformat())
            self._touch(master)
            self._notify(email, master, "updated")

    def update_event(self, event_id: str, *, email: str = DEFAULT_EMAIL, **changes: Any) -> None:
        with self.lock:
            _, event = self._find_event(self.account(email), event_id)
            event.update(changes)
            if "body" in changes:
                event["bodyPreview"] = _preview(event["body"])
            self._touch(event)
            self._notify(email, event, "updated")

    def delete_event(self, event_id: str, *, email: str = DEFAULT_EMAIL) -> None:
        with self.lock:
            _cal, event = self._find_event(self.account(email), event_id)
            event["_deleted"] = True
            self._touch(event)
            self._notify(email, event, "deleted")

    def event(self, event_id: str, *, email: str = DEFAULT_EMAIL) -> dict[str, Any]:
        """The stored event (including cancelled/deleted ones), Graph-shaped, times in their own zone."""
        with self.lock:
            for cal in self.account(email).calendars.values():
                if event_id in cal.events:
                    return self._public(cal.events[event_id])
            raise KeyError(event_id)

    def events(self, calendar_id: str | None = None, *, email: str = DEFAULT_EMAIL) -> list[dict[str, Any]]:
        """Live (not deleted) events of one calendar (default calendar when None), masters unexpanded."""
        with self.lock:
            account = self.account(email)
            cal = account.calendars[calendar_id] if calendar_id else account.default_calendar
            return [self._public(e) for e in cal.events.values() if not e.get("_deleted")]

    def set_attendee_response(
        self, event_id: str, attendee: str, response: str, *, email: str = DEFAULT_EMAIL
    ) -> None:
        with self.lock:
            _, event = self._find_event(self.account(email), event_id)
            for att in event["attendees"]:
                if att["emailAddress"]["address"].lower() == attendee.lower():
                    att["status"] = {"response": response, "time": _now().isoformat()}
            self._touch(event)

    def revoke_grants(self, email: str = DEFAULT_EMAIL) -> None:
        """The user removed the app's consent: refresh and access tokens stop working."""
        with self.lock:
            for token, grant in list(self.refresh_tokens.items()):
                if grant.account == email.lower():
                    del self.refresh_tokens[token]
            for token, access in list(self.access_tokens.items()):
                if access.account == email.lower():
                    del self.access_tokens[token]

    def expire_access_tokens(self) -> None:
        with self.lock:
            for access in self.access_tokens.values():
                access.expires_at = 0

    def expire_delta_tokens(self) -> None:
        with self.lock:
            self.delta_states.clear()
            self.delta_pages.clear()

    def issue_tokens(self, email: str = DEFAULT_EMAIL, scopes: Iterable[str] | None = None) -> dict[str, Any]:
        """Tokens as if the user had consented, for tests that skip the browser flow."""
        default = ["User.Read", "Calendars.ReadWrite", "MailboxSettings.Read", "offline_access"]
        granted = list(scopes or default)
        with self.lock:
            return self._token_response(email.lower(), granted, nonce="")

    def fire_lifecycle(self, subscription_id: str, event: str = "reauthorizationRequired") -> None:
        with self.lock:
            sub = self.subscriptions[subscription_id]
            url = sub.lifecycle_url or sub.notification_url
            payload = {
                "value": [
                    {
                        "subscriptionId": sub.id,
                        "subscriptionExpirationDateTime": sub.expiration.isoformat(),
                        "tenantId": TENANT_ID,
                        "clientState": sub.client_state,
                        "lifecycleEvent": event,
                    }
                ]
            }
        self._post_async(url, payload)

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)

        def serve() -> Response:
            try:
                return self.dispatch(request)
            except GraphError as error:
                return _graph_error(error.status, error.code, error.message)
            except HTTPException as error:
                return error.get_response()  # type: ignore[return-value]

        return self.faults.respond(request, serve)(environ, start_response)

    _AUTH_PATH = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/(?P<what>authorize|token)$")
    _OIDC_PATH = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_emulator/"):
            return self._control(request)
        if m := self._OIDC_PATH.match(path):
            return self._openid_configuration(m["tenant"])
        if m := self._AUTH_PATH.match(path):
            if m["what"] == "authorize":
                return self._authorize(request, m["tenant"])
            if request.method != "POST":
                return _aad_error(405, "invalid_request", 900561, "The endpoint only accepts POST requests.")
            return self._token(request)
        if path.startswith("/v1.0/"):
            return self._graph(request, path[len("/v1.0") :])
        return _graph_error(404, "UnknownError", f"No route for {path}")

    # ------------------------------------------------------------------ identity platform

    def _openid_configuration(self, tenant: str) -> Response:
        base = f"{self.authority_host}/{tenant}"
        return _json(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "jwks_uri": f"{self.authority_host}/{tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{self.authority_host}/{TENANT_ID}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                ],
                "kerberos_endpoint": f"{base}/kerberos",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }
        )

    def _authorize(self, request: Request, tenant: str) -> Response:
        params = request.values
        if params.get("client_id") != self.client_id:
            return self._auth_error_page(
                700016,
                f"Application with identifier '{params.get('client_id')}' was not found in the directory.",
            )
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return self._auth_error_page(50011, "The redirect URI specified in the request does not match.")
        state = params.get("state", "")
        if params.get("response_type") != "code":
            return self._redirect(redirect_uri, error="unsupported_response_type", state=state)
        if params.get("code_challenge_method", "plain") != "S256" or not params.get("code_challenge"):
            # Yoyaku always sends S256; the real service also accepts plain, we insist.
            return self._redirect(
                redirect_uri,
                error="invalid_request",
                error_description="AADSTS501491: Invalid size of Code_Challenge parameter.",
                state=state,
            )
        hint = (params.get("login_hint") or "").lower()
        email = hint if hint in self.accounts else DEFAULT_EMAIL
        auto = self.auto_approve or params.get("auto_approve") in ("1", "true")
        if request.method == "GET" and not auto:
            return self._consent_page(request, email)
        if request.method == "POST" and request.form.get("consent") != "allow":
            return self._redirect(
                redirect_uri,
                error="access_denied",
                error_description="AADSTS65004: User declined to consent to access the app.",
                state=state,
            )
        scopes = [s for s in params.get("scope", "").split() if s]
        code = secrets.token_urlsafe(48)
        with self.lock:
            account = self.account(email)
            self.codes[code] = AuthCode(
                account=account.email.lower(),
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                challenge=params.get("code_challenge", ""),
                method=params.get("code_challenge_method", "plain"),
                nonce=params.get("nonce", ""),
                expires_at=time.time() + 600,
            )
            client_info = _b64url(json.dumps({"uid": account.id, "utid": TENANT_ID}).encode())
        return self._redirect(
            redirect_uri, code=code, state=state, client_info=client_info, session_state=str(uuid.uuid4())
        )

    def _consent_page(self, request: Request, email: str) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in request.args.items(multi=True)
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in request.args.get("scope", "").split())
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Permissions requested</title>
{CONSENT_HEAD}</head>
<body><main>
<h1>Permissions requested</h1>
{local_note("Microsoft sign-in")}
<p>Signed in as <strong id="account">{html.escape(email)}</strong></p>
<p>This app would like to:</p><ul>{scopes}</ul>
<form method="post" action="{html.escape(request.path)}">{hidden}
<div class="actions">
<button type="submit" name="consent" value="allow" id="accept" class="primary">Accept</button>
<button type="submit" name="consent" value="deny" id="cancel">Cancel</button>
</div>
</form></main></body></html>"""
        return Response(page, content_type="text/html; charset=utf-8")

    def _auth_error_page(self, code: int, description: str) -> Response:
        page = f"<!doctype html><title>Sign in</title><p>AADSTS{code}: {html.escape(description)}</p>"
        return Response(page, status=400, content_type="text/html; charset=utf-8")

    @staticmethod
    def _redirect(uri: str, **params: str) -> Response:
        sep = "&" if "?" in uri else "?"
        target = uri + sep + urllib.parse.urlencode({k: v for k, v in params.items() if v})
        return Response("", status=302, headers={"Location": target})

    def _token(self, request: Request) -> Response:
        form = request.form
        with self.lock:
            self.token_requests.append(dict(form.items()))
        if form.get("client_id") != self.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found.",
            )
        if not hmac.compare_digest(form.get("client_secret", ""), self.client_secret):
            return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "authorization_code":
                return self._redeem_code(form)
            if grant_type == "refresh_token":
                grant = self.refresh_tokens.get(form.get("refresh_token", ""))
                if grant is None:
                    return _aad_error(
                        400,
                        "invalid_grant",
                        50173,
                        "The provided grant has expired due to it being revoked, "
                        "a fresh auth token is needed.",
                    )
                return _json(self._token_response(grant.account, grant.scopes, nonce=""))
        return _aad_error(
            400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
        )

    def _redeem_code(self, form: Any) -> Response:
        code = self.codes.pop(form.get("code", ""), None)
        if code is None:
            return _aad_error(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed.")
        if code.expires_at < time.time():
            return _aad_error(400, "invalid_grant", 70008, "The provided authorization code has expired.")
        if form.get("redirect_uri") != code.redirect_uri:
            return _aad_error(
                400, "invalid_grant", 70000, "The request was denied because the redirect URI does not match."
            )
        verifier = form.get("code_verifier", "")
        expected = (
            _b64url(hashlib.sha256(verifier.encode("ascii")).digest()) if code.method == "S256" else verifier
        )
        if not verifier or not hmac.compare_digest(expected, code.challenge):
            return _aad_error(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            )
        return _json(self._token_response(code.account, code.scopes, nonce=code.nonce))

    def _token_response(self, email: str, scopes: list[str], *, nonce: str) -> dict[str, Any]:
        account = self.accounts[email]
        access = "eyJ0eXAiOi" + secrets.token_urlsafe(40)
        refresh = "0.AXEA" + secrets.token_urlsafe(60)
        self.access_tokens[access] = AccessToken(email, scopes, time.time() + self.access_token_lifetime)
        if "offline_access" in scopes:
            self.refresh_tokens[refresh] = Grant(email, scopes, self.client_id)
        now = int(time.time())
        claims = {
            "aud": self.client_id,
            "iss": f"{self.authority_host}/{TENANT_ID}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": account.name,
            "oid": account.id,
            "preferred_username": account.email,
            "sub": _b64url(hashlib.sha256(account.id.encode()).digest()),
            "tid": TENANT_ID,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        header = _b64url(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        payload = _b64url(json.dumps(claims).encode())
        signature = _b64url(
            hmac.new(self.client_secret.encode(), f"{header}.{payload}".encode(), "sha256").digest()
        )
        granted = [s for s in scopes if s not in RESERVED_SCOPES] + ["openid", "profile", "email"]
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": access,
            "id_token": f"{header}.{payload}.{signature}",
            "client_info": _b64url(json.dumps({"uid": account.id, "utid": TENANT_ID}).encode()),
        }
        if "offline_access" in scopes:
            body["refresh_token"] = refresh
        return body

    # ------------------------------------------------------------------ control endpoints

    def _control(self, request: Request) -> Response:
        what = request.path[len("/_emulator/") :]
        data = request.get_json(silent=True) or {}
        if what == "faults" and request.method == "POST":
            self.faults.add(**data)
            return _json({"ok": True})
        if what == "faults" and request.method == "DELETE":
            self.faults.clear()
            return _json({"ok": True})
        if what == "events" and request.method == "GET":
            return _json(
                {
                    "value": self.events(
                        request.args.get("calendar_id"), email=request.args.get("email", DEFAULT_EMAIL)
                    )
                }
            )
        if what == "events" and request.method == "POST":
            start = _parse_query_time(data.pop("start"))
            end = _parse_query_time(data.pop("end"))
            return _json({"id": self.add_event(start=start, end=end, **data)}, status=201)
        if what == "revoke":
            self.revoke_grants(data.get("email", DEFAULT_EMAIL))
            return _json({"ok": True})
        if what == "expire-tokens":
            self.expire_access_tokens()
            return _json({"ok": True})
        if what == "expire-delta":
            self.expire_delta_tokens()
            return _json({"ok": True})
        if what == "messages":
            with self.lock:
                return _json({"value": list(self.messages)})
        if what == "settings" and request.method == "POST":
            if "auto_approve" in data:
                self.auto_approve = bool(data["auto_approve"])
            return _json({"ok": True})
        return _json({"error": "unknown control"}, status=404)

    # ------------------------------------------------------------------ Graph

    def _authenticate(self, request: Request) -> AccessToken:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        with self.lock:
            token = self.access_tokens.get(header[len("Bearer ") :])
        if token is None:
            raise GraphError(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        if token.expires_at < time.time():
            raise GraphError(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )
        return token

    @staticmethod
    def _require(token: AccessToken, *needed: str) -> None:
        if not any(s.lower() in {t.lower() for t in token.scopes} for s in needed):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def _prefer(self, request: Request) -> tuple[str | None, int | None]:
        zone = None
        size = None
        for raw in request.headers.getlist("Prefer"):
            for part in raw.split(","):
                part = part.strip()
                if part.lower().startswith("outlook.timezone="):
                    zone = part.split("=", 1)[1].strip().strip('"')
                elif part.lower().startswith("odata.maxpagesize="):
                    size = int(part.split("=", 1)[1])
        if not self.honour_prefer_timezone:
            zone = None
        return zone, size

    @staticmethod
    def _preferred_body_type(request: Request) -> str | None:
        """``text`` or ``html`` when the request asks for bodies in that type; Graph converts them."""
        for raw in request.headers.getlist("Prefer"):
            for part in raw.split(","):
                name, _, value = part.strip().partition("=")
                if name.lower() == "outlook.body-content-type":
                    wanted = value.strip().strip('"').lower()
                    if wanted in ("text", "html"):
                        return wanted
        return None

    _EVENT = re.compile(r"^/me(?:/calendars/(?P<cal>[^/]+))?/events/(?P<id>[^/]+)(?P<action>/cancel)?$")
    _EVENTS = re.compile(r"^/me(?:/calendars/(?P<cal>[^/]+)|/calendar)?/events$")
    _VIEW = re.compile(r"^/me(?:/calendars/(?P<cal>[^/]+)|/calendar)?/calendarView(?P<delta>/delta)?$")
    _SUB = re.compile(r"^/subscriptions(?:/(?P<id>[^/]+))?$")

    def _graph(self, request: Request, path: str) -> Response:
        token = self._authenticate(request)
        with self.lock:
            account = self.accounts[token.account]
        zone, page_size = self._prefer(request)
        self._asked.body_type = self._preferred_body_type(request)
        method = request.method
        if path == "/me" and method == "GET":
            return _json(
                {
                    "@odata.context": f"{request.host_url}v1.0/$metadata#users/$entity",
                    "id": account.id,
                    "displayName": account.name,
                    "mail": account.email,
                    "userPrincipalName": account.email,
                    "businessPhones": [],
                }
            )
        if path in ("/me/mailboxSettings", "/me/mailboxSettings/timeZone") and method == "GET":
            # Needs MailboxSettings.Read (or ReadWrite); grants made before Yoyaku asked for it lack it.
            self._require(token, "MailboxSettings.Read", "MailboxSettings.ReadWrite")
            if path.endswith("/timeZone"):
                return _json(
                    {
                        "@odata.context": f"{request.host_url}v1.0/$metadata#users('{account.id}')"
                        "/mailboxSettings/timeZone",
                        "value": account.time_zone,
                    }
                )
            return _json({"timeZone": account.time_zone, "dateFormat": "yyyy-MM-dd", "timeFormat": "HH:mm"})
        if path == "/me/calendars" and method == "GET":
            self._require(token, "Calendars.Read", "Calendars.ReadWrite")
            with self.lock:
                value = [self._calendar_json(account, c) for c in account.calendars.values()]
            return _json({"@odata.context": f"{request.host_url}v1.0/$metadata#me/calendars", "value": value})
        if path == "/me/calendar/getSchedule" and method == "POST":
            self._require(token, "Calendars.Read", "Calendars.ReadWrite")
            return self._get_schedule(account, request.get_json(force=True), zone or "UTC")
        if path == "/me/sendMail" and method == "POST":
            self._require(token, "Mail.Send")
            with self.lock:
                self.messages.append({"kind": "mail", "from": account.email, **request.get_json(force=True)})
            return Response("", status=202)
        if m := self._VIEW.match(path):
            self._require(token, "Calendars.Read", "Calendars.ReadWrite")
            cal = self._calendar(account, m["cal"])
            if m["delta"]:
                return self._delta(request, account, cal, zone, page_size)
            return self._calendar_view(request, account, cal, zone, page_size)
        if m := self._EVENTS.match(path):
            if method == "POST":
                self._require(token, "Calendars.ReadWrite")
                cal = self._calendar(account, m["cal"])
                return self._create_event(account, cal, request.get_json(force=True), zone)
            self._require(token, "Calendars.Read", "Calendars.ReadWrite")
            cal = self._calendar(account, m["cal"])
            with self.lock:
                value = [self._public(e, zone) for e in cal.events.values() if not e.get("_deleted")]
            return _json({"value": value})
        if m := self._EVENT.match(path):
            return self._event_item(request, token, account, m["id"], bool(m["action"]), zone)
        if m := self._SUB.match(path):
            return self._subscription(request, account, m["id"])
        raise GraphError(
            400, "BadRequest", f"Resource not found for the segment '{path.rsplit('/', 1)[-1]}'."
        )

    def _calendar_json(self, account: Account, cal: Calendar) -> dict[str, Any]:
        return {
            "id": cal.id,
            "name": cal.name,
            "color": "auto",
            "isDefaultCalendar": cal.is_default,
            "changeKey": hashlib.sha1(cal.id.encode()).hexdigest()[:16],  # noqa: S324
            "canShare": cal.can_edit,
            "canViewPrivateItems": True,
            "canEdit": cal.can_edit,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": not cal.is_default,
            "owner": {"name": account.name, "address": account.email},
        }

    def _calendar(self, account: Account, cal_id: str | None) -> Calendar:
        if cal_id is None:
            return account.default_calendar
        cal = account.calendars.get(cal_id)
        if cal is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return cal

    # ------------------------------------------------------------------ events

    def _new_id(self) -> str:
        return "AAMkAG" + _b64url(uuid.uuid4().bytes + uuid.uuid4().bytes)

    def _touch(self, event: dict[str, Any]) -> None:
        self.change_number += 1
        event["_change_number"] = self.change_number
        event["changeKey"] = _b64url(secrets.token_bytes(12))
        event["lastModifiedDateTime"] = _now().strftime("%Y-%m-%dT%H:%M:%S.%f0Z")

    def _store_event(
        self, account: Account, cal: Calendar, body: dict[str, Any], *, send: bool
    ) -> dict[str, Any]:
        event_id = self._new_id()
        event: dict[str, Any] = {
            "id": event_id,
            "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper(),
            "createdDateTime": _now().strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
            "subject": "",
            "body": {"contentType": "text", "content": ""},
            "bodyPreview": "",
            "isAllDay": False,
            "isCancelled": False,
            "isOrganizer": True,
            "showAs": "busy",
            "type": "seriesMaster" if body.get("recurrence") else "singleInstance",
            "seriesMasterId": None,
            "recurrence": None,
            "location": {"displayName": ""},
            "attendees": [],
            "responseRequested": True,
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            "organizer": {"emailAddress": {"name": account.name, "address": account.email}},
            "transactionId": None,
            "_calendar": cal.id,
        }
        event.update(body)
        # Graph keeps the zone the event was written in (what an all-day event's dates mean).
        event.setdefault("originalStartTimeZone", (event.get("start") or {}).get("timeZone", "UTC"))
        event.setdefault("originalEndTimeZone", (event.get("end") or {}).get("timeZone", "UTC"))
        _normalise_times(event)
        event["type"] = "seriesMaster" if event.get("recurrence") else "singleInstance"
        for att in event["attendees"]:
            att.setdefault("type", "required")
            att.setdefault("status", {"response": "none", "time": "0001-01-01T00:00:00Z"})
        event["bodyPreview"] = _preview(event.get("body") or {})
        self._touch(event)
        cal.events[event_id] = event
        if send and event["attendees"]:
            self.messages.append(
                {
                    "kind": "invitation",
                    "event_id": event_id,
                    "subject": event["subject"],
                    "to": [a["emailAddress"]["address"] for a in event["attendees"]],
                }
            )
        self._notify(account.email, event, "created")
        return event

    def _find_event(self, account: Account, event_id: str) -> tuple[Calendar, dict[str, Any]]:
        master_id = event_id.split("_OCC_", 1)[0]
        for cal in account.calendars.values():
            if master_id in cal.events:
                return cal, cal.events[master_id]
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _create_event(
        self, account: Account, cal: Calendar, body: dict[str, Any], zone: str | None
    ) -> Response:
        if not cal.can_edit:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        validate_event_body(body)
        for key in ("start", "end"):
            if key not in body:
                raise GraphError(
                    400, "ErrorInvalidRequest", f"Your request can't be completed. {key} is missing."
                )
            parse_graph_time(body[key])
        with self.lock:
            txn = body.get("transactionId")
            if txn:
                for other in account.calendars.values():
                    for existing in other.events.values():
                        if existing.get("transactionId") == txn and not existing.get("_deleted"):
                            # A retried create: answer with the event already made, send nothing again.
                            return _json(self._public(existing, zone), status=201)
            event = self._store_event(account, cal, copy.deepcopy(body), send=True)
            return _json(self._public(event, zone), status=201)

    def _event_item(
        self,
        request: Request,
        token: AccessToken,
        account: Account,
        event_id: str,
        cancel: bool,
        zone: str | None,
    ) -> Response:
        method = request.method
        if method == "GET":
            self._require(token, "Calendars.Read", "Calendars.ReadWrite")
            with self.lock:
                _, event = self._find_event(account, event_id)
                if event.get("_deleted"):
                    raise GraphError(
                        404, "ErrorItemNotFound", "The specified object was not found in the store."
                    )
                if "_OCC_" in event_id:
                    for inst in self._instances(
                        event, datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
                    ):
                        if inst["id"] == event_id:
                            return _json(self._public(inst, zone))
                    raise GraphError(
                        404, "ErrorItemNotFound", "The specified object was not found in the store."
                    )
                return _json(self._public(event, zone))
        self._require(token, "Calendars.ReadWrite")
        with self.lock:
            _, event = self._find_event(account, event_id)
            if event.get("_deleted"):
                raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            if cancel and method == "POST":
                if not event.get("isOrganizer"):
                    raise GraphError(
                        400,
                        "ErrorAccessDenied",
                        "Your request can't be completed. You need to be an organizer to cancel a meeting.",
                    )
                comment = (request.get_json(silent=True) or {}).get("Comment", "")
                event["isCancelled"] = True
                event["_deleted"] = True  # the organizer's copy leaves the calendar
                self._touch(event)
                if event["attendees"]:
                    self.messages.append(
                        {
                            "kind": "cancellation",
                            "event_id": event["id"],
                            "comment": comment,
                            "to": [a["emailAddress"]["address"] for a in event["attendees"]],
                        }
                    )
                self._notify(account.email, event, "deleted")
                return Response("", status=202)
            if method == "DELETE":
                event["_deleted"] = True
                self._touch(event)
                self._notify(account.email, event, "deleted")
                return Response("", status=204)
            if method == "PATCH":
                changes = request.get_json(force=True)
                validate_event_body(changes, current=event)
                if "transactionId" in changes and changes["transactionId"] != event.get("transactionId"):
                    raise GraphError(400, "ErrorInvalidRequest", "transactionId cannot be changed.")
                if "_OCC_" in event_id:
                    original = datetime.strptime(event_id.split("_OCC_", 1)[1], "%Y%m%dT%H%M%SZ").replace(
                        tzinfo=UTC
                    )
                    event.setdefault("_exceptions", {}).setdefault(original.isoformat(), {}).update(changes)
                else:
                    event.update(copy.deepcopy(changes))
                    _normalise_times(event)
                    for att in event["attendees"]:
                        att.setdefault("type", "required")
                        att.setdefault("status", {"response": "none", "time": "0001-01-01T00:00:00Z"})
                self._touch(event)
                if event["attendees"] and event.get("isOrganizer"):
                    self.messages.append(
                        {
                            "kind": "update",
                            "event_id": event["id"],
                            "to": [a["emailAddress"]["address"] for a in event["attendees"]],
                        }
                    )
                self._notify(account.email, event, "updated")
                return _json(self._public(event, zone))
        raise GraphError(405, "ErrorInvalidRequest", "Method not allowed.")

    def _public(self, event: dict[str, Any], zone: str | None = None) -> dict[str, Any]:
        """Graph JSON for an event, with times shown in ``zone`` (Prefer header) if given."""
        out = {k: copy.deepcopy(v) for k, v in event.items() if not k.startswith("_")}
        wanted = getattr(self._asked, "body_type", None)
        body = out.get("body")
        if wanted and isinstance(body, dict) and str(body.get("contentType", "")).lower() != wanted:
            content = str(body.get("content") or "")
            converted = (
                _html_to_text(content)
                if wanted == "text"
                else f"<html><body>{html.escape(content)}</body></html>"
            )
            out["body"] = {"contentType": wanted, "content": converted}
        if zone:
            for key in ("start", "end"):
                if event.get("isAllDay"):
                    # All-day events are dates, not instants: they keep midnight whatever zone is asked.
                    out[key] = {"dateTime": event[key]["dateTime"], "timeZone": zone}
                else:
                    out[key] = graph_time(parse_graph_time(event[key]), zone)
            if out.get("originalStart"):
                out["originalStart"] = out["originalStart"]
        return out

    def _instances(self, event: dict[str, Any], start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """singleInstance events as they are; masters expanded into occurrence/exception instances."""
        if event.get("_deleted"):
            return
        ev_start = parse_graph_time(event["start"])
        ev_end = parse_graph_time(event["end"])
        if not event.get("recurrence"):
            if (ev_start < end and ev_end > start) or (ev_start == ev_end and start <= ev_start < end):
                yield event
            return
        zone_name = event["start"].get("timeZone", "UTC")
        zone = _zone(zone_name)
        local_start = ev_start.astimezone(zone).replace(tzinfo=None)
        duration = ev_end - ev_start
        exceptions: dict[str, dict[str, Any]] = event.get("_exceptions", {})
        deleted: set[str] = event.get("_deleted_occurrences", set())
        for local in _rule(event, local_start):
            original = local.replace(tzinfo=zone).astimezone(UTC)
            if original >= end:
                break
            key = original.isoformat()
            if key in deleted or key in exceptions:
                continue
            if original + duration <= start:
                continue
            yield self._occurrence(event, original, original, original + duration, zone_name, {})
        # Exceptions are checked on their own: one may move an instance into or out of the window.
        for key, changes in exceptions.items():
            if key in deleted:
                continue
            original = datetime.fromisoformat(key)
            inst_start = parse_graph_time(changes["start"]) if "start" in changes else original
            inst_end = parse_graph_time(changes["end"]) if "end" in changes else original + duration
            if inst_start < end and inst_end > start:
                yield self._occurrence(event, original, inst_start, inst_end, zone_name, changes)

    def _occurrence(
        self,
        master: dict[str, Any],
        original: datetime,
        start: datetime,
        end: datetime,
        zone_name: str,
        changes: dict[str, Any],
    ) -> dict[str, Any]:
        inst = {k: v for k, v in master.items() if k not in ("_exceptions", "_deleted_occurrences")}
        inst.update({k: v for k, v in changes.items() if k not in ("start", "end")})
        inst["id"] = _occurrence_id(master["id"], original)
        inst["type"] = "exception" if changes else "occurrence"
        inst["seriesMasterId"] = master["id"]
        inst["recurrence"] = None
        inst["originalStart"] = original.strftime("%Y-%m-%dT%H:%M:%SZ")
        inst["start"] = graph_time(start, zone_name)
        inst["end"] = graph_time(end, zone_name)
        digest = hashlib.sha256((master["changeKey"] + json.dumps(changes, sort_keys=True)).encode()).digest()
        inst["changeKey"] = _b64url(digest[:12])
        return inst

    def _view_items(self, cal: Calendar, start: datetime, end: datetime) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for event in cal.events.values():
            items.extend(self._instances(event, start, end))
        items.sort(key=lambda e: (parse_graph_time(e["start"]), e["id"]))
        return items

    def _window(self, request: Request) -> tuple[datetime, datetime]:
        try:
            start = _parse_query_time(request.args["startDateTime"])
            end = _parse_query_time(request.args["endDateTime"])
        except (KeyError, ValueError) as error:
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
            ) from error
        return start, end

    def _calendar_view(
        self, request: Request, account: Account, cal: Calendar, zone: str | None, page_size: int | None
    ) -> Response:
        start, end = self._window(request)
        size = int(request.args.get("$top") or page_size or 10)
        skip = int(request.args.get("$skip", 0))
        select = [s for s in request.args.get("$select", "").split(",") if s]
        with self.lock:
            items = self._view_items(cal, start, end)
            page = [self._select(self._public(e, zone), select) for e in items[skip : skip + size]]
        body: dict[str, Any] = {
            "@odata.context": f"{request.host_url}v1.0/$metadata#Collection(event)",
            "value": page,
        }
        if skip + size < len(items):
            args = request.args.to_dict()
            args["$skip"] = str(skip + size)
            body["@odata.nextLink"] = f"{request.base_url}?{urllib.parse.urlencode(args)}"
        headers = {"Preference-Applied": f'outlook.timezone="{zone}"'} if zone else None
        return _json(body, headers=headers)

    @staticmethod
    def _select(event: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        if not fields:
            return event
        keep = {f.strip() for f in fields} | {"id"}
        return {k: v for k, v in event.items() if k in keep or k.startswith("@")}

    def _delta(
        self, request: Request, account: Account, cal: Calendar, zone: str | None, page_size: int | None
    ) -> Response:
        size = page_size or 10
        base = request.base_url
        with self.lock:
            if skip := request.args.get("$skiptoken"):
                if skip not in self.delta_pages:
                    raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
                items, final = self.delta_pages.pop(skip)
            else:
                if token := request.args.get("$deltatoken"):
                    state = self.delta_states.get(token)
                    if state is None or state.calendar_id != cal.id:
                        raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")
                    window, since, previous = state.window, state.change_number, state.snapshot
                else:
                    window, since, previous = self._window(request), 0, {}
                items, snapshot = self._delta_changes(cal, window, since, previous, zone)
                final = self._delta_token(window)
                self.delta_states[final] = DeltaState(
                    account.email.lower(), cal.id, window, self.change_number, snapshot
                )
            page, rest = items[:size], items[size:]
            body: dict[str, Any] = {
                "@odata.context": f"{request.host_url}v1.0/$metadata#Collection(event)",
                "value": page,
            }
            if rest:
                skip_token = secrets.token_urlsafe(24)
                self.delta_pages[skip_token] = (rest, final)
                body["@odata.nextLink"] = f"{base}?$skiptoken={skip_token}"
            else:
                body["@odata.deltaLink"] = f"{base}?$deltatoken={final}"
        return _json(body)

    def _delta_changes(
        self,
        cal: Calendar,
        window: tuple[datetime, datetime],
        since: int,
        previous: dict[str, dict[str, dict[str, Any]]],
        zone: str | None,
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, dict[str, Any]]]]:
        """The delta items for events changed after change number ``since``, and the new snapshot.

        Only events stamped after ``since`` are expanded (must hold the lock); the rest of the
        snapshot is carried over as the client already has it.
        """
        snapshot = dict(previous)
        current: list[dict[str, Any]] = []
        gone: list[str] = []
        for event in cal.events.values():
            if event.get("_change_number", 0) <= since:
                continue
            before = previous.get(event["id"], {})
            now = {e["id"]: self._public(e, zone) for e in self._instances(event, *window)}
            current.extend(
                e for e in now.values() if (before.get(e["id"]) or {}).get("changeKey") != e["changeKey"]
            )
            gone.extend(instance_id for instance_id in before if instance_id not in now)
            if now:
                snapshot[event["id"]] = now
            else:
                snapshot.pop(event["id"], None)
        current.sort(key=lambda e: (parse_graph_time(e["start"]), e["id"]))
        items = [
            self._delta_item(e, previous.get(e.get("seriesMasterId") or e["id"], {}).get(e["id"]))
            for e in current
        ]
        items += [
            {"@odata.type": "#microsoft.graph.event", "id": instance_id, "@removed": {"reason": "deleted"}}
            for instance_id in gone
        ]
        return items, snapshot

    def _delta_token(self, window: tuple[datetime, datetime]) -> str:
        """An opaque token naming the change number and window it continues from (must hold the lock)."""
        start, end = (moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") for moment in window)
        raw = f"{self.change_number}.{start}.{end}.{secrets.token_hex(8)}"
        return _b64url(raw.encode())

    def _delta_item(self, event: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
        if before is None or not self.delta_changed_properties_only:
            return event
        changed = {k: v for k, v in event.items() if before.get(k) != v}
        return {"@odata.type": "#microsoft.graph.event", "id": event["id"], **changed}

    def _get_schedule(self, account: Account, body: dict[str, Any], zone: str) -> Response:
        start = parse_graph_time(body["startTime"])
        end = parse_graph_time(body["endTime"])
        interval = int(body.get("availabilityViewInterval", 30))
        # availabilityView digits: 0 free, 1 tentative, 2 busy, 3 oof, 4 workingElsewhere;
        # a slot shows its strongest status (oof > busy > tentative > workingElsewhere > free).
        digit = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingElsewhere": "4"}
        strength = {"free": 0, "workingElsewhere": 1, "tentative": 2, "busy": 3, "oof": 4}
        results = []
        for who in body.get("schedules", []):
            target = self.accounts.get(who.lower())
            if target is None:
                results.append(
                    {
                        "scheduleId": who,
                        "error": {
                            "message": "The specified mailbox was not found.",
                            "responseCode": "ErrorMailRecipientNotFound",
                        },
                    }
                )
                continue
            with self.lock:
                instances = [
                    e
                    for e in self._view_items(target.default_calendar, start, end)
                    if not e.get("isCancelled")
                ]
            items = [
                {
                    "isPrivate": False,
                    "status": e["showAs"],
                    "subject": e["subject"],
                    "location": e["location"]["displayName"],
                    "isMeeting": bool(e["attendees"]),
                    "isRecurring": e["type"] != "singleInstance",
                    "isException": e["type"] == "exception",
                    "isReminderSet": False,
                    "start": graph_time(parse_graph_time(e["start"]), zone),
                    "end": graph_time(parse_graph_time(e["end"]), zone),
                }
                for e in instances
            ]
            view = []
            slot = start
            while slot < end:
                slot_end = slot + timedelta(minutes=interval)
                strongest = "free"
                for e in instances:
                    if parse_graph_time(e["start"]) < slot_end and parse_graph_time(e["end"]) > slot:
                        status = e["showAs"] if e["showAs"] in strength else "busy"
                        if strength[status] > strength[strongest]:
                            strongest = status
                view.append(digit[strongest])
                slot = slot_end
            results.append(
                {
                    "scheduleId": who,
                    "availabilityView": "".join(view),
                    "scheduleItems": items,
                    "workingHours": {
                        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                        "startTime": "08:00:00.0000000",
                        "endTime": "17:00:00.0000000",
                        "timeZone": {"name": "UTC"},
                    },
                }
            )
        return _json({"value": results})

    # ------------------------------------------------------------------ subscriptions

    def _subscription(self, request: Request, account: Account, sub_id: str | None) -> Response:
        method = request.method
        if sub_id is None and method == "POST":
            data = request.get_json(force=True)
            expiration = _parse_query_time(data.get("expirationDateTime", ""))
            if expiration - _now() > MAX_EVENT_SUBSCRIPTION + timedelta(minutes=1):
                raise GraphError(
                    400,
                    "ExtensionError",
                    "Subscription expiration can only be 10080 minutes in the future.",
                )
            url = data.get("notificationUrl", "")
            if not self._validate_endpoint(url):
                raise GraphError(
                    400,
                    "ValidationError",
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK "
                    "to validation request.",
                )
            lifecycle = data.get("lifecycleNotificationUrl")
            if lifecycle and lifecycle != url and not self._validate_endpoint(lifecycle):
                raise GraphError(
                    400, "ValidationError", "Subscription validation request failed (lifecycle)."
                )
            sub = Subscription(
                id=str(uuid.uuid4()),
                account=account.email.lower(),
                resource=data.get("resource", ""),
                change_type=data.get("changeType", ""),
                notification_url=url,
                client_state=data.get("clientState", ""),
                expiration=expiration,
                lifecycle_url=lifecycle,
            )
            with self.lock:
                self.subscriptions[sub.id] = sub
            return _json(sub.to_graph(), status=201)
        with self.lock:
            found = self.subscriptions.get(sub_id or "")
        if found is None or found.account != account.email.lower():
            raise GraphError(404, "ResourceNotFound", "The object was not found.")
        sub = found
        if method == "GET":
            return _json(sub.to_graph())
        if method == "PATCH":
            expiration = _parse_query_time(request.get_json(force=True)["expirationDateTime"])
            if expiration - _now() > MAX_EVENT_SUBSCRIPTION + timedelta(minutes=1):
                raise GraphError(
                    400, "ExtensionError", "Subscription expiration can only be 10080 minutes in the future."
                )
            with self.lock:
                sub.expiration = expiration
            return _json(sub.to_graph())
        if method == "DELETE":
            with self.lock:
                self.subscriptions.pop(sub.id, None)
            return Response("", status=204)
        raise GraphError(405, "ErrorInvalidRequest", "Method not allowed.")

    @staticmethod
    def _validate_endpoint(url: str) -> bool:
        """Graph's handshake: POST ?validationToken=..., expect 200 text/plain echo within 10 s."""
        token = (
            f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        )
        sep = "&" if "?" in url else "?"
        target = f"{url}{sep}{urllib.parse.urlencode({'validationToken': token})}"
        req = urllib.request.Request(target, data=b"", method="POST", headers={"Content-Type": "text/plain"})  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=VALIDATION_TIMEOUT) as resp:  # noqa: S310
                body = resp.read().decode("utf-8")
                ctype = resp.headers.get("Content-Type", "")
                return resp.status == 200 and body == token and ctype.startswith("text/plain")
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _notify(self, email: str, event: dict[str, Any], change: str) -> None:
        """Queue change notifications for subscriptions that cover the event (must hold the lock)."""
        for sub in self.subscriptions.values():
            if sub.account != email.lower() or change not in sub.change_type.split(","):
                continue
            cal = event.get("_calendar")
            resource = sub.resource.lower().lstrip("/")
            if resource.startswith(("me/calendars/", "users/")) and cal and cal.lower() not in resource:
                continue
            payload = {
                "value": [
                    {
                        "subscriptionId": sub.id,
                        "subscriptionExpirationDateTime": sub.expiration.isoformat(),
                        "changeType": change,
                        "resource": f"Users/{self.accounts[email.lower()].id}/Events/{event['id']}",
                        "resourceData": {
                            "@odata.type": "#Microsoft.Graph.Event",
                            "@odata.id": f"Users/{self.accounts[email.lower()].id}/Events/{event['id']}",
                            "@odata.etag": f'W/"{event.get("changeKey", "")}"',
                            "id": event["id"],
                        },
                        "clientState": sub.client_state,
                        "tenantId": TENANT_ID,
                    }
                ]
            }
            self.notifications_sent.append(payload)
            self._post_async(sub.notification_url, payload)

    @staticmethod
    def _post_async(url: str, payload: dict[str, Any]) -> None:
        def deliver() -> None:
            req = urllib.request.Request(  # noqa: S310
                url,
                data=json.dumps(payload).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=VALIDATION_TIMEOUT):  # noqa: S310
                    pass
            except (urllib.error.URLError, OSError):
                pass

        threading.Thread(target=deliver, daemon=True).start()


def start(**kwargs: Any) -> MicrosoftEmulator:
    """Start an emulator on 127.0.0.1; ``.url`` is its base, ``.stop()`` shuts it down."""
    emulator = MicrosoftEmulator(**kwargs)
    emulator.server = ServerThread(emulator).start()
    return emulator
