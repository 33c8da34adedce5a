"""A local Google OAuth 2.0 + Calendar API v3 server for tests and the demo.

It speaks the wire format google-auth and google-api-python-client expect:
the authorization endpoint (an HTML consent page), the token endpoint
(authorization_code with PKCE S256, refresh_token), revoke, OpenID userinfo,
and under /calendar/v3/: calendarList, freeBusy, events list/get/insert/
patch/update/delete/watch and channels/stop. Errors use Google's JSON shapes.

Emulated behaviour worth knowing (from the Calendar API reference):
- events.list with ``singleEvents=true`` expands RRULE masters (RRULE, RDATE,
  EXDATE through dateutil) and substitutes stored exceptions (events with
  ``recurringEventId``); instance ids are ``<master>_<UTC start>``.
- ``nextSyncToken`` only on the last page; with ``syncToken`` every event
  changed since, deleted ones as ``status: cancelled``; an expired token gives
  410 ``fullSyncRequired`` (``expire_sync_tokens()``).
- A full listing without time bounds expands a series at most
  ``EXPANSION_LIMIT`` times (an emulator bound; Google also stops somewhere).
- events.list on a calendar shared "free/busy only" answers 403; freeBusy
  answers for it.

Tests drive it through the Python API (``add_event``, ``events``, ``revoke``,
``add_fault``...) or the JSON control endpoints under /_emulator/.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import itertools
import json
import re
import secrets
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import googleapiclient
from dateutil.rrule import rrulestr
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from yoyaku.calendars.google_oauth import GoogleEndpoints
from yoyaku.emulators.base import CONSENT_HEAD, FaultInjector, ServerThread, local_note

DEFAULT_CLIENT_ID = "yoyaku-test.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "emulator-secret"
EXPANSION_LIMIT = 730
CODE_LIFETIME = timedelta(minutes=10)

_CAL = "https://www.googleapis.com/auth/calendar"
SCOPES_CALENDAR_LIST = {_CAL, f"{_CAL}.readonly", f"{_CAL}.calendarlist", f"{_CAL}.calendarlist.readonly"}
SCOPES_EVENTS_READ = {
    _CAL,
    f"{_CAL}.readonly",
    f"{_CAL}.events",
    f"{_CAL}.events.readonly",
    f"{_CAL}.events.owned",
    f"{_CAL}.events.owned.readonly",
}
SCOPES_EVENTS_WRITE = {_CAL, f"{_CAL}.events", f"{_CAL}.events.owned"}
SCOPES_FREEBUSY = {
    _CAL,
    f"{_CAL}.readonly",
    f"{_CAL}.events",
    f"{_CAL}.events.readonly",
    f"{_CAL}.freebusy",
    f"{_CAL}.events.freebusy",
}
KNOWN_SCOPES = (
    {"openid", "email", "profile"}
    | SCOPES_CALENDAR_LIST
    | SCOPES_EVENTS_READ
    | SCOPES_EVENTS_WRITE
    | SCOPES_FREEBUSY
    | {"https://www.googleapis.com/auth/userinfo.email"}
)
ROLE_RANK = {"freeBusyReader": 1, "reader": 2, "writer": 3, "owner": 4}
_EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
_INSTANCE_ID = re.compile(r"^(?P<master>[a-v0-9]{5,1024})_(?P<stamp>\d{8}(T\d{6}Z)?)$")


def discovery_document() -> dict[str, Any]:
    """The Calendar v3 discovery document bundled with google-api-python-client."""
    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "calendar.v3.json"
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


_EVENT_FIELDS = frozenset(discovery_document()["schemas"]["Event"]["properties"])
# Fields the server sets; a client's values are ignored.
_SERVER_FIELDS = frozenset({"kind", "etag", "htmlLink", "created", "updated", "creator", "organizer"})


def rfc3339(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _now() -> datetime:
    return datetime.now(tz=UTC)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, *, status: str = "", domain: str = "global"):
        super().__init__(message)
        self.code, self.reason, self.message, self.status, self.domain = code, reason, message, status, domain


_STATUS_TEXT = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "GONE",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


# The messages Google sends with these reasons (the Calendar API "Handle API errors" guide).
_ERROR_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User Rate Limit Exceeded",
    "quotaExceeded": "Calendar usage limits exceeded.",
    "backendError": "Backend Error",
}


def google_error_body(
    code: int, reason: str, message: str, *, status: str = "", domain: str = "global"
) -> bytes:
    """Google's JSON error envelope (the Calendar API "Handle API errors" guide)."""
    payload = {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "status": status or _STATUS_TEXT.get(code, "UNKNOWN"),
        }
    }
    return json.dumps(payload).encode("utf-8")


def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data), status=status, headers=headers, content_type="application/json; charset=UTF-8"
    )


# -- time helpers ------------------------------------------------------------


def _zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    return ZoneInfo(name or default)


def _parse_rfc3339(value: str, *, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ApiError(400, "badRequest", f"Bad Request: invalid {what}") from error
    if moment.tzinfo is None:
        raise ApiError(400, "badRequest", f"Bad Request: {what} needs a time zone offset")
    return moment


def _point(spec: dict[str, Any], default_zone: str) -> datetime:
    """An EventDateTime as an aware datetime (dates: midnight in the zone)."""
    if "dateTime" in spec:
        moment = datetime.fromisoformat(spec["dateTime"])
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_zone(spec.get("timeZone"), default_zone))
        return moment
    day = date.fromisoformat(spec["date"])
    return datetime(day.year, day.month, day.day, tzinfo=_zone(spec.get("timeZone"), default_zone))


# -- state -------------------------------------------------------------------


@dataclass
class _Grant:
    email: str
    client_id: str
    scopes: frozenset[str]
    refresh_token: str
    revoked: bool = False


@dataclass
class _AccessToken:
    grant: _Grant
    expires_at: datetime


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    email: str
    scopes: frozenset[str]
    challenge: str
    method: str
    issued_at: datetime
    used: bool = False


@dataclass
class _Calendar:
    id: str
    summary: str
    time_zone: str
    owner: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    token_epoch: int = 0


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str
    expiration_ms: int
    email: str
    message_number: int = 0
    stopped: bool = False


class GoogleEmulator:
    """State plus the WSGI app; ``start()`` below serves it on loopback."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        accounts: Iterable[str] = ("host@example.com",),
        time_zone: str = "UTC",
        auto_approve: bool = False,
        access_token_lifetime: int = 3599,
        deliver_notifications: bool = True,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.auto_approve = auto_approve
        self.access_token_lifetime = access_token_lifetime
        self.deliver_notifications = deliver_notifications
        self.faults = FaultInjector()
        self.lock = threading.RLock()
        self.calendars: dict[str, _Calendar] = {}
        # (account email, calendar id) -> accessRole
        self.access: dict[tuple[str, str], str] = {}
        self.account_zones: dict[str, str] = {}
        self.codes: dict[str, _Code] = {}
        self.grants: dict[str, _Grant] = {}  # by refresh token
        self.access_tokens: dict[str, _AccessToken] = {}
        self.channels: dict[str, Channel] = {}
        self.sent_updates: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self._seq = itertools.count(1)
        self._server: ServerThread | None = None
        for email in accounts:
            self.add_account(email, time_zone=time_zone)
        self.url_map = Map(
            [
                Rule("/o/oauth2/v2/auth", endpoint="authorize", methods=["GET"]),
                Rule("/o/oauth2/v2/auth/approve", endpoint="approve", methods=["POST"]),
                Rule("/token", endpoint="token", methods=["POST"]),
                Rule("/revoke", endpoint="revoke", methods=["POST"]),
                Rule("/v1/userinfo", endpoint="userinfo", methods=["GET", "POST"]),
                Rule("/calendar/v3/users/me/calendarList", endpoint="calendar_list", methods=["GET"]),
                Rule(
                    "/calendar/v3/users/me/calendarList/<calendar_id>",
                    endpoint="calendar_list_entry",
                    methods=["GET"],
                ),
                Rule("/calendar/v3/freeBusy", endpoint="free_busy", methods=["POST"]),
                Rule("/calendar/v3/calendars/<calendar_id>/events", endpoint="events_list", methods=["GET"]),
                Rule(
                    "/calendar/v3/calendars/<calendar_id>/events", endpoint="events_insert", methods=["POST"]
                ),
                Rule(
                    "/calendar/v3/calendars/<calendar_id>/events/watch",
                    endpoint="events_watch",
                    methods=["POST"],
                ),
                Rule(
                    "/calendar/v3/calendars/<calendar_id>/events/<event_id>",
                    endpoint="event",
                    methods=["GET", "PATCH", "PUT", "DELETE"],
                ),
                Rule("/calendar/v3/channels/stop", endpoint="channels_stop", methods=["POST"]),
                Rule("/_emulator/faults", endpoint="ctl_faults", methods=["POST", "DELETE"]),
                Rule("/_emulator/events", endpoint="ctl_events", methods=["GET", "POST"]),
                Rule("/_emulator/accounts", endpoint="ctl_accounts", methods=["POST"]),
                Rule("/_emulator/revoke", endpoint="ctl_revoke", methods=["POST"]),
                Rule("/_emulator/expire-access-tokens", endpoint="ctl_expire_access", methods=["POST"]),
                Rule("/_emulator/expire-sync-tokens", endpoint="ctl_expire_sync", methods=["POST"]),
                Rule("/_emulator/sent-updates", endpoint="ctl_sent_updates", methods=["GET"]),
            ]
        )

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> GoogleEmulator:
        self._server = ServerThread(self).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return self._server.url

    def endpoints(self) -> GoogleEndpoints:
        return GoogleEndpoints(
            auth_url=f"{self.url}/o/oauth2/v2/auth",
            token_url=f"{self.url}/token",
            revoke_url=f"{self.url}/revoke",
            userinfo_url=f"{self.url}/v1/userinfo",
            calendar_api=f"{self.url}/calendar/v3/",
        )

    def __enter__(self) -> GoogleEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- Python control API --------------------------------------------------

    def add_account(self, email: str, *, time_zone: str = "UTC") -> None:
        with self.lock:
            self.account_zones[email] = time_zone
            self.calendars.setdefault(
                email, _Calendar(id=email, summary=email, time_zone=time_zone, owner=email)
            )
            self.access[(email, email)] = "owner"

    def add_calendar(
        self,
        *,
        calendar_id: str,
        owner: str,
        summary: str = "",
        time_zone: str = "UTC",
        shared_with: dict[str, str] | None = None,
    ) -> None:
        """A secondary or shared calendar; ``shared_with`` maps account email to accessRole."""
        with self.lock:
            self.calendars[calendar_id] = _Calendar(
                id=calendar_id, summary=summary or calendar_id, time_zone=time_zone, owner=owner
            )
            self.access[(owner, calendar_id)] = "owner"
            for email, role in (shared_with or {}).items():
                self.access[(email, calendar_id)] = role

    def add_event(
        self, calendar_id: str, event: dict[str, Any], *, send_updates: str = "none"
    ) -> dict[str, Any]:
        """Seed an event (Events resource JSON) as its calendar's owner would create it."""
        with self.lock:
            calendar = self._calendar(calendar_id)
            stored = self._insert(calendar, event, creator=calendar.owner)
        self._record_update("insert", calendar.id, stored, send_updates)
        self._notify(calendar.id)
        return self._render(stored, viewer=calendar.owner)

    def update_event(self, calendar_id: str, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            calendar = self._calendar(calendar_id)
            stored = self._patch(calendar, event_id, changes)
        self._notify(calendar.id)
        return self._render(stored, viewer=calendar.owner)

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        with self.lock:
            calendar = self._calendar(calendar_id)
            self._delete(calendar, event_id)
        self._notify(calendar.id)

    def events(self, calendar_id: str, *, include_cancelled: bool = False) -> list[dict[str, Any]]:
        """Stored events (masters and exceptions, not expanded) as the owner sees them."""
        with self.lock:
            calendar = self._calendar(calendar_id)
            return [
                self._render(e, viewer=calendar.owner)
                for e in calendar.events.values()
                if include_cancelled or e.get("status") != "cancelled"
            ]

    def event(self, calendar_id: str, event_id: str) -> dict[str, Any] | None:
        with self.lock:
            calendar = self._calendar(calendar_id)
            stored = calendar.events.get(event_id)
            return None if stored is None else self._render(stored, viewer=calendar.owner)

    def revoke(self, email: str) -> None:
        """The user removed the app's access: refresh and access tokens stop working."""
        with self.lock:
            for grant in self.grants.values():
                if grant.email == email:
                    grant.revoked = True

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens.values():
                token.expires_at = _now() - timedelta(seconds=1)

    def expire_sync_tokens(self, calendar_id: str | None = None) -> None:
        with self.lock:
            for calendar in self.calendars.values():
                if calendar_id is None or calendar.id == calendar_id:
                    calendar.token_epoch += 1

    def issue_tokens(
        self, email: str, *, scopes: Iterable[str] | None = None, expires_in: int | None = None
    ) -> dict[str, Any]:
        """Tokens for ``email`` without the browser dance (as after a consent)."""
        with self.lock:
            grant = _Grant(
                email=email,
                client_id=self.client_id,
                scopes=frozenset(scopes if scopes is not None else KNOWN_SCOPES),
                refresh_token="1//" + secrets.token_urlsafe(32),
            )
            self.grants[grant.refresh_token] = grant
            return {
                **self._new_access_token(grant, expires_in=expires_in),
                "refresh_token": grant.refresh_token,
            }

    def add_fault(
        self,
        *,
        status: int | None = None,
        reason: str = "",
        retry_after: int | None = None,
        delay: float = 0.0,
        count: int = 1,
        path_contains: str = "",
        method: str = "",
        after: bool = False,
    ) -> None:
        """A planned failure with a Google-shaped error body (``after``: once the request did its work)."""
        body = None
        if status is not None:
            default_reason = {429: "rateLimitExceeded", 403: "rateLimitExceeded"}.get(status, "backendError")
            why = reason or default_reason
            domain = "usageLimits" if "RateLimit" in why or "rateLimit" in why else "global"
            body = google_error_body(status, why, _ERROR_MESSAGES.get(why, why), domain=domain)
        self.faults.add(
            status=status,
            retry_after=retry_after,
            delay=delay,
            count=count,
            path_contains=path_contains,
            method=method,
            body=body,
            after=after,
        )

    # -- event storage -------------------------------------------------------

    def _calendar(self, calendar_id: str) -> _Calendar:
        try:
            return self.calendars[calendar_id]
        except KeyError:
            raise ApiError(404, "notFound", "Not Found") from None

    def _touch(self, calendar: _Calendar, stored: dict[str, Any]) -> None:
        seq = next(self._seq)
        calendar.seqs[stored["id"]] = seq
        stored["etag"] = f'"{3_000_000_000_000_000 + seq}"'
        stored["updated"] = rfc3339(_now())

    def _validate_times(self, calendar: _Calendar, event: dict[str, Any]) -> None:
        for key in ("start", "end"):
            spec = event.get(key)
            if not isinstance(spec, dict) or not ("dateTime" in spec or "date" in spec):
                raise ApiError(400, "required", f"Missing {key} time.")
            if "dateTime" in spec:
                moment = datetime.fromisoformat(spec["dateTime"]) if spec["dateTime"] else None
                if moment is None or (moment.tzinfo is None and not spec.get("timeZone")):
                    raise ApiError(400, "invalid", f"Missing time zone definition for {key} time.")
        if event.get("recurrence") and "dateTime" in event["start"] and not event["start"].get("timeZone"):
            raise ApiError(400, "invalid", "Missing time zone definition for start time.")
        start, end = _point(event["start"], calendar.time_zone), _point(event["end"], calendar.time_zone)
        # A zero-length timed event is allowed by Google; an end before start is not.
        if end < start or (end == start and "date" in event["start"]):
            raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")

    def _insert(self, calendar: _Calendar, body: dict[str, Any], *, creator: str) -> dict[str, Any]:
        event = {
            k: copy.deepcopy(v) for k, v in body.items() if k in _EVENT_FIELDS and k not in _SERVER_FIELDS
        }
        event_id = event.get("id") or secrets.token_hex(13)
        if not isinstance(event_id, str) or not (_EVENT_ID.match(event_id) or _INSTANCE_ID.match(event_id)):
            raise ApiError(400, "invalid", "Invalid resource id value.")
        if event_id in calendar.events:
            raise ApiError(409, "duplicate", "The requested identifier already exists.")
        self._validate_times(calendar, event)
        now = rfc3339(_now())
        event.update(
            kind="calendar#event",
            id=event_id,
            status=event.get("status", "confirmed"),
            htmlLink=f"https://www.google.com/calendar/event?eid={event_id}",
            created=now,
            creator={"email": creator},
            organizer={
                "email": calendar.id,
                **({} if calendar.id == calendar.owner else {"displayName": calendar.summary}),
            },
            sequence=int(event.get("sequence", 0)),
            eventType=event.get("eventType", "default"),
        )
        event.setdefault("iCalUID", f"{event_id}@google.com")
        event.setdefault("reminders", {"useDefault": True})
        _normalize_attendees(event, owner=calendar.owner)
        calendar.events[event_id] = event
        self._touch(calendar, event)
        return event

    def _existing(self, calendar: _Calendar, event_id: str, *, materialize: bool) -> dict[str, Any]:
        stored = calendar.events.get(event_id)
        if stored is not None:
            return stored
        match = _INSTANCE_ID.match(event_id)
        if match and match["master"] in calendar.events:
            master = calendar.events[match["master"]]
            for instance in self._instances(calendar, master, None, None):
                if instance["id"] == event_id:
                    if not materialize:
                        return instance
                    # Changing one occurrence stores it as an exception.
                    exception = {k: v for k, v in instance.items() if k not in ("etag", "updated")}
                    calendar.events[event_id] = exception
                    self._touch(calendar, exception)
                    return exception
        raise ApiError(404, "notFound", "Not Found")

    def _patch(self, calendar: _Calendar, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        stored = self._existing(calendar, event_id, materialize=True)
        if stored.get("status") == "cancelled" and changes.get("status") != "confirmed":
            raise ApiError(410, "deleted", "Resource has been deleted")
        updated = copy.deepcopy(stored)
        for key, value in changes.items():
            if key in _EVENT_FIELDS and key not in _SERVER_FIELDS and key != "id":
                updated[key] = copy.deepcopy(value)
        self._validate_times(calendar, updated)
        if "attendees" in changes:
            _normalize_attendees(updated, owner=calendar.owner)
        if updated.get("start") != stored.get("start") or updated.get("end") != stored.get("end"):
            updated["sequence"] = int(stored.get("sequence", 0)) + 1
        stored.clear()
        stored.update(updated)
        self._touch(calendar, stored)
        return stored

    def _delete(self, calendar: _Calendar, event_id: str) -> dict[str, Any]:
        stored = self._existing(calendar, event_id, materialize=True)
        if stored.get("status") == "cancelled":
            raise ApiError(410, "deleted", "Resource has been deleted")
        stored["status"] = "cancelled"
        self._touch(calendar, stored)
        if stored.get("recurrence"):
            for other in calendar.events.values():
                if other.get("recurringEventId") == event_id and other.get("status") != "cancelled":
                    other["status"] = "cancelled"
                    self._touch(calendar, other)
        return stored

    # -- recurrence ----------------------------------------------------------

    def _instances(
        self,
        calendar: _Calendar,
        master: dict[str, Any],
        time_min: datetime | None,
        time_max: datetime | None,
    ) -> Iterator[dict[str, Any]]:
        """Occurrences of a master, as instance resources (exceptions not applied)."""
        zone_name = master["start"].get("timeZone") or calendar.time_zone
        zone = _zone(zone_name)
        all_day = "date" in master["start"]
        first = _point(master["start"], calendar.time_zone)
        duration = _point(master["end"], calendar.time_zone) - first
        # All-day dates float (RFC 5545 §3.3.4).
        dtstart = datetime(first.year, first.month, first.day) if all_day else first.astimezone(zone)  # noqa: DTZ001
        rules = rrulestr("\n".join(master.get("recurrence", [])), dtstart=dtstart, forceset=True)
        source: Iterable[datetime] = rules
        if time_min is not None:
            lower = (time_min - duration).astimezone(zone)
            source = rules.xafter(lower.replace(tzinfo=None) if all_day else lower, inc=True)
        count = 0
        for occurrence in source:
            start = occurrence.replace(tzinfo=zone) if all_day else occurrence
            if time_max is not None and start >= time_max:
                return
            if time_min is not None and start + duration <= time_min:
                continue
            count += 1
            if count > EXPANSION_LIMIT:
                return
            if all_day:
                stamp = start.strftime("%Y%m%d")
                end_day = (start + duration).date()
                start_spec: dict[str, str] = {"date": start.date().isoformat()}
                end_spec: dict[str, str] = {"date": end_day.isoformat()}
            else:
                stamp = start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
                start_spec = {"dateTime": start.isoformat(), "timeZone": zone_name}
                end_spec = {"dateTime": (start + duration).isoformat(), "timeZone": zone_name}
            instance = {k: copy.deepcopy(v) for k, v in master.items() if k != "recurrence"}
            instance.update(
                id=f"{master['id']}_{stamp}",
                recurringEventId=master["id"],
                originalStartTime=dict(start_spec),
                start=start_spec,
                end=end_spec,
            )
            yield instance

    def _listing(
        self,
        calendar: _Calendar,
        *,
        single_events: bool,
        time_min: datetime | None,
        time_max: datetime | None,
        since_seq: int | None,
        show_deleted: bool,
    ) -> list[dict[str, Any]]:
        """What events.list returns before paging, in a stable order."""
        items: list[tuple[Any, dict[str, Any]]] = []
        sync = since_seq is not None
        exceptions = {e["id"] for e in calendar.events.values() if e.get("recurringEventId")}

        def overlaps(event: dict[str, Any]) -> bool:
            start = _point(event["start"], calendar.time_zone)
            end = _point(event["end"], calendar.time_zone)
            return (time_max is None or start < time_max) and (time_min is None or end > time_min)

        for event_id, event in calendar.events.items():
            seq = calendar.seqs[event_id]
            if sync and seq <= (since_seq or 0):
                continue
            cancelled = event.get("status") == "cancelled"
            # Cancelled exceptions of a series are still listed when not
            # expanding, so clients can hide those occurrences.
            hidden = single_events or not event.get("recurringEventId")
            if cancelled and not (sync or show_deleted) and hidden:
                continue
            if event.get("recurrence") and single_events:
                for instance in self._instances(calendar, event, time_min, time_max):
                    if instance["id"] in exceptions:
                        continue
                    if cancelled:
                        instance["status"] = "cancelled"
                    items.append(
                        ((seq, instance["start"].get("dateTime") or instance["start"]["date"]), instance)
                    )
                if cancelled and sync:
                    items.append(((seq, ""), event))
                continue
            if not cancelled and not event.get("recurrence") and not overlaps(event):
                continue
            items.append(((seq, ""), event))
        if sync:
            items.sort(key=lambda pair: pair[0])
        else:
            items.sort(key=lambda pair: (_point(pair[1]["start"], calendar.time_zone), pair[1]["id"]))
        return [item for _, item in items]

    # -- rendering -----------------------------------------------------------

    def _render(self, event: dict[str, Any], *, viewer: str) -> dict[str, Any]:
        if event.get("status") == "cancelled" and not event.get("recurringEventId"):
            # Deleted events come back with only their identity (sync and showDeleted).
            return {
                "kind": "calendar#event",
                "etag": event.get("etag", '"0"'),
                "id": event["id"],
                "status": "cancelled",
            }
        out = copy.deepcopy(event)
        for key in ("creator", "organizer"):
            if key in out and out[key].get("email") == viewer:
                out[key]["self"] = True
        for attendee in out.get("attendees", []):
            if attendee.get("email") == viewer:
                attendee["self"] = True
        return out

    def _record_update(self, action: str, calendar_id: str, event: dict[str, Any], send_updates: str) -> None:
        self.sent_updates.append(
            {
                "action": action,
                "calendar_id": calendar_id,
                "event_id": event["id"],
                "send_updates": send_updates,
                "attendees": [a.get("email") for a in event.get("attendees", [])],
            }
        )

    # -- push notifications --------------------------------------------------

    def _notify(self, calendar_id: str, *, only: Channel | None = None, state: str = "exists") -> None:
        with self.lock:
            channels = (
                [only]
                if only
                else [c for c in self.channels.values() if c.calendar_id == calendar_id and not c.stopped]
            )
            deliveries = []
            for channel in channels:
                headers = {
                    "X-Goog-Channel-ID": channel.id,
                    "X-Goog-Channel-Token": channel.token,
                    "X-Goog-Channel-Expiration": datetime.fromtimestamp(
                        channel.expiration_ms / 1000, tz=UTC
                    ).strftime("%a, %d %b %Y %H:%M:%S GMT"),
                    "X-Goog-Resource-ID": channel.resource_id,
                    "X-Goog-Resource-URI": f"{self.url}/calendar/v3/calendars/{calendar_id}/events?alt=json",
                    "X-Goog-Resource-State": state,
                    "X-Goog-Message-Number": str(channel.message_number + 1),
                }
                channel.message_number += 1
                self.notifications.append({"address": channel.address, "headers": headers})
                deliveries.append((channel.address, headers))
        if self.deliver_notifications:
            for address, headers in deliveries:
                threading.Thread(target=_post_quietly, args=(address, headers), daemon=True).start()

    # -- WSGI ------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as error:
            if error.code == 404:
                return _json_response(json.loads(google_error_body(404, "notFound", "Not Found")), 404)
            return error.get_response()  # type: ignore[return-value]

        def serve() -> Response:
            try:
                return getattr(self, f"on_{endpoint}")(request, **args)  # type: ignore[no-any-return]
            except ApiError as error:
                body = google_error_body(
                    error.code, error.reason, error.message, status=error.status, domain=error.domain
                )
                headers = {}
                if error.code == 401:
                    headers["WWW-Authenticate"] = (
                        'Bearer realm="https://accounts.google.com/", error="invalid_token"'
                    )
                return Response(
                    body, status=error.code, headers=headers, content_type="application/json; charset=UTF-8"
                )

        if str(endpoint).startswith("ctl_"):
            return serve()
        self.requests.append(f"{request.method} {request.full_path}")
        return self.faults.respond(request, serve)

    # -- OAuth endpoints -------------------------------------------------------

    def _consent_error(self, message: str) -> Response:
        page = f"<!doctype html><title>Error</title><h1>Access blocked</h1><p>{html.escape(message)}</p>"
        return Response(page, status=400, content_type="text/html; charset=utf-8")

    def on_authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id:
            return self._consent_error("Error 401: invalid_client. The OAuth client was not found.")
        if args.get("response_type") != "code":
            return self._consent_error("Error 400: unsupported_response_type")
        if not args.get("redirect_uri"):
            return self._consent_error("Error 400: invalid_request. Missing required parameter: redirect_uri")
        scopes = args.get("scope", "").split()
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if not scopes or unknown:
            return self._consent_error(
                f"Error 400: invalid_scope. Some requested scopes were invalid: {unknown}"
            )
        if args.get("code_challenge") and args.get("code_challenge_method", "plain") not in ("S256", "plain"):
            return self._consent_error("Error 400: invalid_request. Invalid code_challenge_method")
        email = args.get("login_hint") or next(iter(self.account_zones))
        if self.auto_approve or args.get("emulator_auto_approve") == "1":
            return self._approve(args.to_dict(), email=email, allow=True)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in args.items()
        )
        scope_list = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Google Accounts (emulator)</title>
{CONSENT_HEAD}</head>
<body><main>
<h1>Yoyaku wants to access your Google Account</h1>
{local_note("Google")}
<form method="post" action="/o/oauth2/v2/auth/approve">
{hidden}
<label for="email">Account</label>
<input id="email" name="email" type="email" value="{html.escape(email)}">
<p>This will allow the app to:</p><ul>{scope_list}</ul>
<div class="actions">
<button type="submit" name="decision" value="allow" id="allow" class="primary">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Cancel</button>
</div>
</form>
</main></body></html>"""
        return Response(page, content_type="text/html; charset=utf-8")

    def on_approve(self, request: Request) -> Response:
        form = request.form.to_dict()
        email = form.pop("email", "") or next(iter(self.account_zones))
        allow = form.pop("decision", "deny") == "allow"
        if form.get("client_id") != self.client_id:
            return self._consent_error("Error 401: invalid_client")
        return self._approve(form, email=email, allow=allow)

    def _approve(self, params: dict[str, str], *, email: str, allow: bool) -> Response:
        redirect_uri = params["redirect_uri"]
        query: dict[str, str] = {}
        if not allow:
            query["error"] = "access_denied"
        elif email not in self.account_zones:
            return self._consent_error(f"Couldn't find your Google Account {email}")
        else:
            code = "4/" + secrets.token_urlsafe(32)
            scopes = frozenset(params.get("scope", "").split())
            with self.lock:
                self.codes[code] = _Code(
                    client_id=params["client_id"],
                    redirect_uri=redirect_uri,
                    email=email,
                    scopes=scopes,
                    challenge=params.get("code_challenge", ""),
                    method=params.get("code_challenge_method", "plain"),
                    issued_at=_now(),
                )
            query["code"] = code
            query["scope"] = " ".join(sorted(scopes))
        if "state" in params:
            query["state"] = params["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return Response("", status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(query)}"})

    def _client(self, request: Request) -> str | None:
        """Client authentication by body parameters or HTTP Basic (RFC 6749 §2.3.1)."""
        client_id = request.form.get("client_id")
        secret = request.form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username
            secret = request.authorization.password
        if client_id != self.client_id or secret != self.client_secret:
            return None
        return client_id

    def _new_access_token(self, grant: _Grant, *, expires_in: int | None = None) -> dict[str, Any]:
        lifetime = self.access_token_lifetime if expires_in is None else expires_in
        token = "ya29." + secrets.token_urlsafe(40)
        self.access_tokens[token] = _AccessToken(grant=grant, expires_at=_now() + timedelta(seconds=lifetime))
        return {
            "access_token": token,
            "expires_in": lifetime,
            "scope": " ".join(sorted(grant.scopes)),
            "token_type": "Bearer",
        }

    def on_token(self, request: Request) -> Response:
        def oauth_error(error: str, description: str, status: int = 400) -> Response:
            return _json_response({"error": error, "error_description": description}, status)

        if self._client(request) is None:
            return oauth_error("invalid_client", "Unauthorized", 401)
        grant_type = request.form.get("grant_type", "")
        with self.lock:
            if grant_type == "authorization_code":
                code = self.codes.get(request.form.get("code", ""))
                if code is None or code.used or _now() - code.issued_at > CODE_LIFETIME:
                    return oauth_error("invalid_grant", "Malformed auth code.")
                if code.redirect_uri != request.form.get("redirect_uri"):
                    return oauth_error("redirect_uri_mismatch", "Bad Request")
                verifier = request.form.get("code_verifier", "")
                if code.challenge:
                    if not verifier:
                        return oauth_error("invalid_grant", "Missing code verifier.")
                    if code.method == "S256":
                        digest = hashlib.sha256(verifier.encode("ascii")).digest()
                        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
                    else:
                        computed = verifier
                    if computed != code.challenge:
                        return oauth_error("invalid_grant", "Invalid code verifier.")
                code.used = True
                grant = _Grant(
                    email=code.email,
                    client_id=code.client_id,
                    scopes=code.scopes,
                    refresh_token="1//" + secrets.token_urlsafe(32),
                )
                self.grants[grant.refresh_token] = grant
                return _json_response({**self._new_access_token(grant), "refresh_token": grant.refresh_token})
            if grant_type == "refresh_token":
                known = self.grants.get(request.form.get("refresh_token", ""))
                if known is None or known.revoked:
                    return oauth_error("invalid_grant", "Token has been expired or revoked.")
                if known.client_id != request.form.get("client_id", known.client_id):
                    return oauth_error("unauthorized_client", "Unauthorized")
                return _json_response(self._new_access_token(known))
        return oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def on_revoke(self, request: Request) -> Response:
        token = request.form.get("token") or request.args.get("token") or ""
        with self.lock:
            grant = self.grants.get(token)
            if grant is None and token in self.access_tokens:
                grant = self.access_tokens[token].grant
            if grant is None or grant.revoked:
                return _json_response(
                    {"error": "invalid_token", "error_description": "Token expired or revoked"}, 400
                )
            # Revoking either token ends the whole grant.
            grant.revoked = True
        return _json_response({})

    def _bearer(self, request: Request) -> _Grant:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise ApiError(401, "required", "Login Required.")
        with self.lock:
            token = self.access_tokens.get(header.removeprefix("Bearer ").strip())
            if token is None or token.grant.revoked or token.expires_at <= _now():
                raise ApiError(401, "authError", "Invalid Credentials")
            return token.grant

    def on_userinfo(self, request: Request) -> Response:
        try:
            grant = self._bearer(request)
        except ApiError:
            return _json_response(
                {"error": "invalid_request", "error_description": "Invalid Credentials"},
                401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        info: dict[str, Any] = {"sub": str(int(hashlib.sha256(grant.email.encode()).hexdigest()[:15], 16))}
        if "email" in grant.scopes or "https://www.googleapis.com/auth/userinfo.email" in grant.scopes:
            info.update(email=grant.email, email_verified=True)
        return _json_response(info)

    # -- Calendar API ----------------------------------------------------------

    def _authorize(self, request: Request, scopes: set[str]) -> _Grant:
        grant = self._bearer(request)
        if not grant.scopes & scopes:
            raise ApiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
        return grant

    def _resolve(self, calendar_id: str, email: str, *, minimum: str) -> _Calendar:
        calendar_id = email if calendar_id == "primary" else calendar_id
        role = self.access.get((email, calendar_id))
        if role is None or calendar_id not in self.calendars:
            raise ApiError(404, "notFound", "Not Found")
        if ROLE_RANK[role] < ROLE_RANK[minimum]:
            if minimum == "writer":
                raise ApiError(403, "requiredAccessLevel", "You need to have writer access to this calendar.")
            raise ApiError(403, "forbidden", "Forbidden")
        return self.calendars[calendar_id]

    def _list_entry(self, calendar: _Calendar, email: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{abs(hash(calendar.id)) % 10**16}"',
            "id": calendar.id,
            "summary": calendar.summary,
            "timeZone": calendar.time_zone,
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": self.access[(email, calendar.id)],
            "defaultReminders": [],
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
        }
        if calendar.id == email:
            entry["primary"] = True
            entry["defaultReminders"] = [{"method": "popup", "minutes": 10}]
        return entry

    def on_calendar_list(self, request: Request) -> Response:
        grant = self._authorize(request, SCOPES_CALENDAR_LIST)
        with self.lock:
            entries = [
                self._list_entry(self.calendars[cid], grant.email)
                for (email, cid) in self.access
                if email == grant.email and cid in self.calendars
            ]
        entries.sort(key=lambda e: (not e.get("primary", False), e["id"]))
        page, next_token = _page(entries, request, default_size=100, max_size=250)
        body: dict[str, Any] = {"kind": "calendar#calendarList", "etag": '"p33c"', "items": page}
        if next_token:
            body["nextPageToken"] = next_token
        else:
            body["nextSyncToken"] = "calendarlist-" + secrets.token_hex(8)
        return _json_response(body)

    def on_calendar_list_entry(self, request: Request, calendar_id: str) -> Response:
        grant = self._authorize(request, SCOPES_CALENDAR_LIST)
        with self.lock:
            calendar = self._resolve(calendar_id, grant.email, minimum="freeBusyReader")
            return _json_response(self._list_entry(calendar, grant.email))

    def on_free_busy(self, request: Request) -> Response:
        grant = self._authorize(request, SCOPES_FREEBUSY)
        body = request.get_json(silent=True) or {}
        if "timeMin" not in body or "timeMax" not in body:
            raise ApiError(400, "required", "Missing timeMin or timeMax parameter.")
        time_min = _parse_rfc3339(body["timeMin"], what="timeMin")
        time_max = _parse_rfc3339(body["timeMax"], what="timeMax")
        if time_max <= time_min:
            raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
        calendars: dict[str, Any] = {}
        with self.lock:
            for item in body.get("items", []):
                requested = item.get("id", "")
                try:
                    calendar = self._resolve(requested, grant.email, minimum="freeBusyReader")
                except ApiError:
                    calendars[requested] = {
                        "errors": [{"domain": "global", "reason": "notFound"}],
                        "busy": [],
                    }
                    continue
                periods = []
                for event in self._listing(
                    calendar,
                    single_events=True,
                    time_min=time_min,
                    time_max=time_max,
                    since_seq=None,
                    show_deleted=False,
                ):
                    if not _blocks_free_busy(event, owner=calendar.owner):
                        continue
                    start = max(_point(event["start"], calendar.time_zone), time_min)
                    end = min(_point(event["end"], calendar.time_zone), time_max)
                    if end > start:
                        periods.append((start.astimezone(UTC), end.astimezone(UTC)))
                calendars[requested] = {
                    "busy": [{"start": rfc3339(s), "end": rfc3339(e)} for s, e in _merge(periods)]
                }
        return _json_response(
            {
                "kind": "calendar#freeBusy",
                "timeMin": rfc3339(time_min),
                "timeMax": rfc3339(time_max),
                "calendars": calendars,
            }
        )

    def on_events_list(self, request: Request, calendar_id: str) -> Response:
        grant = self._authorize(request, SCOPES_EVENTS_READ)
        args = request.args
        sync_token = args.get("syncToken")
        single = args.get("singleEvents") == "true"
        if args.get("orderBy") == "startTime" and not single:
            raise ApiError(
                400, "badRequest", "The requested ordering is not available for the particular query."
            )
        with self.lock:
            calendar = self._resolve(calendar_id, grant.email, minimum="reader")
            since: int | None = None
            if sync_token:
                for forbidden in ("timeMin", "timeMax", "updatedMin", "q", "iCalUID", "orderBy"):
                    if forbidden in args:
                        raise ApiError(400, "invalid", f"Sync token cannot be used with {forbidden}.")
                since = self._read_sync_token(sync_token, calendar)
            time_min = _parse_rfc3339(args["timeMin"], what="timeMin") if "timeMin" in args else None
            time_max = _parse_rfc3339(args["timeMax"], what="timeMax") if "timeMax" in args else None
            if time_min and time_max and time_max <= time_min:
                raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
            snapshot = max(calendar.seqs.values(), default=0)
            token_data = _decode_page_token(args.get("pageToken"))
            if token_data:
                snapshot = token_data["s"]
            listing = self._listing(
                calendar,
                single_events=single,
                time_min=time_min,
                time_max=time_max,
                since_seq=since,
                show_deleted=args.get("showDeleted") == "true",
            )
            rendered = [self._render(e, viewer=grant.email) for e in listing]
            access_role = self.access[(grant.email, calendar.id)]
            zone = args.get("timeZone") or calendar.time_zone
            epoch = calendar.token_epoch
        size = min(int(args.get("maxResults", 250)), 2500)
        offset = token_data["o"] if token_data else 0
        page = rendered[offset : offset + size]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"p3{snapshot}"',
            "summary": calendar.summary,
            "description": "",
            "updated": rfc3339(_now()),
            "timeZone": zone,
            "accessRole": access_role,
            "defaultReminders": [{"method": "popup", "minutes": 10}] if access_role == "owner" else [],
            "items": page,
        }
        if offset + size < len(rendered):
            body["nextPageToken"] = _encode_page_token({"o": offset + size, "s": snapshot})
        else:
            body["nextSyncToken"] = _encode_sync_token(calendar.id, snapshot, epoch)
        return _json_response(body)

    def _read_sync_token(self, token: str, calendar: _Calendar) -> int:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token.encode("ascii") + b"==").decode("utf-8"))
            calendar_id, seq, epoch = raw["c"], int(raw["s"]), int(raw["e"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise ApiError(400, "invalid", "Invalid sync token value.") from None
        if calendar_id != calendar.id:
            raise ApiError(400, "invalid", "Invalid sync token value.")
        if epoch != calendar.token_epoch:
            raise ApiError(
                410,
                "fullSyncRequired",
                "Sync token is no longer valid, a full sync is required.",
                domain="calendar",
            )
        return seq

    def on_events_insert(self, request: Request, calendar_id: str) -> Response:
        grant = self._authorize(request, SCOPES_EVENTS_WRITE)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "parseError", "Parse Error")
        with self.lock:
            calendar = self._resolve(calendar_id, grant.email, minimum="writer")
            stored = self._insert(calendar, body, creator=grant.email)
            rendered = self._render(stored, viewer=grant.email)
        self._record_update("insert", calendar.id, stored, request.args.get("sendUpdates", "false"))
        self._notify(calendar.id)
        return _json_response(rendered)

    def on_event(self, request: Request, calendar_id: str, event_id: str) -> Response:
        writing = request.method != "GET"
        grant = self._authorize(request, SCOPES_EVENTS_WRITE if writing else SCOPES_EVENTS_READ)
        with self.lock:
            calendar = self._resolve(calendar_id, grant.email, minimum="writer" if writing else "reader")
            if request.method == "GET":
                stored = self._existing(calendar, event_id, materialize=False)
                return _json_response(self._render(stored, viewer=grant.email))
            if request.method == "DELETE":
                stored = self._delete(calendar, event_id)
                action = "delete"
            else:
                changes = request.get_json(silent=True)
                if not isinstance(changes, dict):
                    raise ApiError(400, "parseError", "Parse Error")
                if request.method == "PUT":
                    current = self._existing(calendar, event_id, materialize=True)
                    keep = {
                        k: current[k]
                        for k in ("recurringEventId", "originalStartTime", "iCalUID")
                        if k in current
                    }
                    changes = {**{k: None for k in current if k not in _SERVER_FIELDS}, **keep, **changes}
                    changes = {k: v for k, v in changes.items() if v is not None}
                stored = self._patch(calendar, event_id, changes)
                action = "patch" if request.method == "PATCH" else "update"
            rendered = self._render(stored, viewer=grant.email)
        self._record_update(action, calendar.id, stored, request.args.get("sendUpdates", "false"))
        self._notify(calendar.id)
        if request.method == "DELETE":
            return Response(b"", status=204)
        return _json_response(rendered)

    def on_events_watch(self, request: Request, calendar_id: str) -> Response:
        grant = self._authorize(request, SCOPES_EVENTS_READ)
        body = request.get_json(silent=True) or {}
        if body.get("type") not in ("web_hook", "webhook") or not body.get("id") or not body.get("address"):
            raise ApiError(400, "badRequest", "Bad Request")
        with self.lock:
            calendar = self._resolve(calendar_id, grant.email, minimum="reader")
            if body["id"] in self.channels:
                raise ApiError(400, "channelIdNotUnique", f"Channel id {body['id']} not unique")
            ttl = int(body.get("params", {}).get("ttl", 604800))
            expiration = int((_now() + timedelta(seconds=ttl)).timestamp() * 1000)
            channel = Channel(
                id=body["id"],
                resource_id=hashlib.sha1(calendar.id.encode()).hexdigest()[:27],  # noqa: S324 - an id, not a secret
                calendar_id=calendar.id,
                address=body["address"],
                token=body.get("token", ""),
                expiration_ms=expiration,
                email=grant.email,
            )
            self.channels[channel.id] = channel
        self._notify(calendar.id, only=channel, state="sync")
        answer = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": channel.resource_id,
            "resourceUri": f"{self.url}/calendar/v3/calendars/{calendar.id}/events?alt=json",
            "expiration": str(expiration),
        }
        if channel.token:
            answer["token"] = channel.token
        return _json_response(answer)

    def on_channels_stop(self, request: Request) -> Response:
        self._bearer(request)
        body = request.get_json(silent=True) or {}
        with self.lock:
            channel = self.channels.get(body.get("id", ""))
            if channel is None or channel.resource_id != body.get("resourceId") or channel.stopped:
                raise ApiError(404, "notFound", f"Channel '{body.get('id')}' not found")
            channel.stopped = True
        return Response(b"", status=204)

    # -- control endpoints -----------------------------------------------------

    def on_ctl_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
            return _json_response({"ok": True})
        spec = request.get_json(silent=True) or {}
        allowed = {"status", "reason", "retry_after", "delay", "count", "path_contains", "method", "after"}
        self.add_fault(**{k: v for k, v in spec.items() if k in allowed})
        return _json_response({"ok": True})

    def on_ctl_events(self, request: Request) -> Response:
        if request.method == "GET":
            calendar_id = request.args.get("calendar_id") or next(iter(self.account_zones))
            return _json_response({"items": self.events(calendar_id, include_cancelled=True)})
        spec = request.get_json(silent=True) or {}
        try:
            event = self.add_event(spec.get("calendar_id") or next(iter(self.account_zones)), spec["event"])
        except ApiError as error:
            return _json_response({"error": error.message}, error.code)
        return _json_response(event)

    def on_ctl_accounts(self, request: Request) -> Response:
        spec = request.get_json(silent=True) or {}
        self.add_account(spec["email"], time_zone=spec.get("time_zone", "UTC"))
        return _json_response({"ok": True})

    def on_ctl_revoke(self, request: Request) -> Response:
        spec = request.get_json(silent=True) or {}
        self.revoke(spec["email"])
        return _json_response({"ok": True})

    def on_ctl_expire_access(self, request: Request) -> Response:
        self.expire_access_tokens()
        return _json_response({"ok": True})

    def on_ctl_expire_sync(self, request: Request) -> Response:
        spec = request.get_json(silent=True) or {}
        self.expire_sync_tokens(spec.get("calendar_id"))
        return _json_response({"ok": True})

    def on_ctl_sent_updates(self, request: Request) -> Response:
        return _json_response({"items": self.sent_updates})


# -- helpers -----------------------------------------------------------------


def _normalize_attendees(event: dict[str, Any], *, owner: str) -> None:
    attendees = event.get("attendees") or []
    for attendee in attendees:
        attendee.setdefault("responseStatus", "needsAction")
    if attendees and not any(a.get("email") == owner for a in attendees):
        # Google lists the organizer among the attendees once there are guests.
        attendees.insert(0, {"email": owner, "organizer": True, "responseStatus": "accepted"})
    if "attendees" in event and not attendees:
        del event["attendees"]


def _blocks_free_busy(event: dict[str, Any], *, owner: str) -> bool:
    """Google's free/busy: opaque, not cancelled, not declined by the calendar's owner."""
    if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
        return False
    if event.get("eventType") == "workingLocation":
        return False
    return not any(
        a.get("email") == owner and a.get("responseStatus") == "declined" for a in event.get("attendees", [])
    )


def _merge(periods: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(periods):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _encode_page_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _decode_page_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii") + b"==").decode("utf-8"))
        return {"o": int(data["o"]), "s": int(data["s"])}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ApiError(400, "invalid", "Invalid page token value.") from None


def _encode_sync_token(calendar_id: str, seq: int, epoch: int) -> str:
    raw = json.dumps({"c": calendar_id, "s": seq, "e": epoch}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _page(
    items: list[dict[str, Any]], request: Request, *, default_size: int, max_size: int
) -> tuple[list[dict[str, Any]], str]:
    size = min(int(request.args.get("maxResults", default_size)), max_size)
    data = _decode_page_token(request.args.get("pageToken"))
    offset = data["o"] if data else 0
    next_token = _encode_page_token({"o": offset + size, "s": 0}) if offset + size < len(items) else ""
    return items[offset : offset + size], next_token


def _post_quietly(address: str, headers: dict[str, str]) -> None:
    request = urllib.request.Request(address, data=b"", headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=2):  # noqa: S310 - loopback test receiver
            pass
    except OSError:
        pass


def start(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    accounts: Iterable[str] = ("host@example.com",),
    time_zone: str = "UTC",
    auto_approve: bool = False,
    deliver_notifications: bool = True,
) -> GoogleEmulator:
    """Serve a fresh emulator on 127.0.0.1 (a free port); call ``.stop()`` when done."""
    return GoogleEmulator(
        client_id=client_id,
        client_secret=client_secret,
        accounts=accounts,
        time_zone=time_zone,
        auto_approve=auto_approve,
        deliver_notifications=deliver_notifications,
    ).start()
