"""Microsoft 365 calendars through Microsoft Graph v1.0 (delegated permissions).

Tokens come from msal (see :mod:`yoyaku.calendars.microsoft_oauth`); Graph is
called over httpx with explicit timeouts and ``Prefer: outlook.timezone="UTC"``
so every event time arrives in UTC. Throttling (429/503 with ``Retry-After``),
other 5xx answers and timeouts are retried a bounded number of times, then end
in :class:`CalendarUnavailable`; an expired access token is refreshed once, and
a revoked grant ends in :class:`GrantRevoked`. Busy time is never reported
empty because it could not be read: those paths raise (fail closed).
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from yoyaku.calendars.base import (
    Attendee,
    BusyInterval,
    BusyStatus,
    CalendarAuthError,
    CalendarError,
    CalendarInfo,
    CalendarUnavailable,
    EventDraft,
    RemoteEvent,
    SyncPage,
    SyncResult,
    UnreadableEvent,
    retry_after_seconds,
    whole_listing,
)
from yoyaku.calendars.busy_rules import GRAPH_RESPONSE, GRAPH_SHOW_AS, EventFacts, lookup, response_of
from yoyaku.calendars.busy_rules import busy_status as rules_busy_status
from yoyaku.calendars.microsoft_oauth import (
    GRAPH_SCOPES,
    AuthorizationRequest,
    MicrosoftApp,
    MicrosoftEndpoints,
    finish_authorization,
    refresh_tokens,
    start_authorization,
)
from yoyaku.calendars.oauth import GrantRevoked, OAuthError, OAuthTokens, TokensCallback

__all__ = [
    "GRAPH_SCOPES",
    "AuthorizationRequest",
    "ChangeNotification",
    "GraphRequestError",
    "GraphSubscription",
    "InvalidNotification",
    "MicrosoftApp",
    "MicrosoftCalendar",
    "MicrosoftConnection",
    "MicrosoftEndpoints",
    "finish_authorization",
    "max_subscription_expiration",
    "refresh_tokens",
    "resolve_time_zone",
    "start_authorization",
    "transaction_id",
    "validate_notification",
    "validation_token",
    "verify_connection",
]

logger = logging.getLogger(__name__)

PREFER_UTC = 'outlook.timezone="UTC"'
PAGE_SIZE = 250
DELTA_PAGE_SIZE = 100
# Graph keeps subscriptions to Outlook events at most 10,080 minutes (7 days).
MAX_SUBSCRIPTION_LIFETIME = timedelta(minutes=10080)
# Graph gives the notification endpoint 10 s to echo the validation token while
# it holds our POST /subscriptions open, so that call needs a longer timeout.
SUBSCRIPTION_TIMEOUT = 30.0
# Codes Graph uses when a delta token can no longer be used; all mean "start over".
_RESYNC_CODES = {"syncstatenotfound", "syncstateinvalid", "resyncrequired"}
_EVENT_FIELDS = (
    "id,iCalUId,subject,start,end,isAllDay,showAs,isCancelled,responseStatus,type,"
    "seriesMasterId,attendees,organizer,isOrganizer,location,bodyPreview,transactionId,"
    "originalStartTimeZone,originalEndTimeZone"
)


# What the sync reads of an event: every field, and the body as plain text (Graph converts an HTML
# body when asked with ``Prefer: outlook.body-content-type``), which the CRM keeps as the description.
_SYNC_FIELDS = _EVENT_FIELDS + ",body"
PREFER_TEXT_BODY = 'outlook.body-content-type="text"'

# A delta item without one of these is a partial update (only the changed properties).
_DELTA_WHOLE_EVENT = ("subject", "start", "end", "isAllDay", "attendees")


class GraphRequestError(CalendarError):
    """Graph refused a request (a 4xx other than auth/throttling); ``code`` is Graph's error code."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class _ResyncRequired(Exception):
    pass


# --------------------------------------------------------------------------- time zones


def resolve_time_zone(name: str | None, *, fallback: tzinfo = UTC) -> tzinfo:
    """A tzinfo for a Graph ``timeZone`` value: "UTC", an IANA name, or a Windows name.

    Graph answers in UTC when asked with ``Prefer``, but some responses (and
    events written by Outlook) carry Windows names such as "W. Europe Standard
    Time"; CLDR's windowsZones mapping shipped with icalendar turns them into
    IANA zones. Unknown or custom zones fall back to ``fallback`` (the host's zone).
    """
    if not name or name.upper() in ("UTC", "GMT", "Z", "ETC/UTC") or name == "tzone://Microsoft/Utc":
        return UTC
    olson = WINDOWS_TO_OLSON.get(name, name)
    try:
        return ZoneInfo(olson)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("Unknown time zone %r from Graph; reading it in %s", name, fallback)
        return fallback


def _parse_naive(raw: str) -> datetime:
    # Graph writes seven fractional digits ("2025-03-01T09:00:00.0000000").
    raw = raw.rstrip("Z")
    if "." in raw:
        head, frac = raw.split(".", 1)
        raw = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(raw)


def parse_graph_datetime(value: Mapping[str, Any], *, fallback: tzinfo = UTC) -> datetime:
    """A Graph dateTimeTimeZone as an aware UTC datetime."""
    naive = _parse_naive(str(value["dateTime"]))
    if naive.tzinfo is None:
        # fold=0: in a DST overlap the first instant, in a gap the pre-transition offset (RFC 5545 §3.3.5).
        naive = naive.replace(tzinfo=resolve_time_zone(value.get("timeZone"), fallback=fallback))
    return naive.astimezone(UTC)


def _graph_datetime(value: datetime) -> dict[str, str]:
    if value.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return {"dateTime": utc.isoformat(timespec="seconds"), "timeZone": "UTC"}


def _iso_z(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def transaction_id(uid: str) -> str:
    """Graph ``transactionId`` for a draft: stable per booking, so a retried create finds the first event."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"yoyaku:event:{uid}"))


# --------------------------------------------------------------------------- notifications


class InvalidNotification(ValueError):
    """A notification POST that did not come from our subscription (bad JSON or clientState)."""


@dataclass(frozen=True, slots=True)
class ChangeNotification:
    subscription_id: str
    change_type: str  # created / updated / deleted; "" for lifecycle notifications
    resource: str
    event_id: str | None
    lifecycle_event: str | None = None  # reauthorizationRequired / subscriptionRemoved / missed


def validation_token(query: Mapping[str, str]) -> str | None:
    """The token to echo back (200, ``text/plain``) when Graph validates a notification URL, if any."""
    token = query.get("validationToken")
    return token if token else None


def validate_notification(
    *, body: bytes | str | Mapping[str, Any], client_state: str
) -> list[ChangeNotification]:
    """Parse a Graph change/lifecycle notification POST and check every item's ``clientState``.

    Pure. Raises :class:`InvalidNotification` if the body is not a notification
    collection or any item's clientState differs (constant-time comparison): the
    whole POST is then rejected, since a forger could mix in valid-looking items.
    """
    try:
        data = json.loads(body) if isinstance(body, bytes | str) else dict(body)
    except (ValueError, TypeError) as error:
        raise InvalidNotification("notification body is not JSON") from error
    items = data.get("value") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidNotification("notification body has no value array")
    result = []
    for item in items:
        if not isinstance(item, dict):
            raise InvalidNotification("notification item is not an object")
        state = str(item.get("clientState") or "")
        if not hmac.compare_digest(state.encode(), client_state.encode()):
            raise InvalidNotification("clientState does not match")
        resource_data = item.get("resourceData")
        data_part: dict[str, Any] = resource_data if isinstance(resource_data, dict) else {}
        result.append(
            ChangeNotification(
                subscription_id=str(item.get("subscriptionId", "")),
                change_type=str(item.get("changeType", "")),
                resource=str(item.get("resource", "")),
                event_id=str(data_part["id"]) if data_part.get("id") else None,
                lifecycle_event=str(item["lifecycleEvent"]) if item.get("lifecycleEvent") else None,
            )
        )
    return result


def max_subscription_expiration(*, now: datetime | None = None) -> datetime:
    """The furthest expiration Graph accepts for an events subscription, less a safety minute."""
    current = now or datetime.now(tz=UTC)
    return current + MAX_SUBSCRIPTION_LIFETIME - timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class GraphSubscription:
    id: str
    resource: str
    expiration: datetime
    client_state: str


@dataclass(frozen=True, slots=True)
class MicrosoftConnection:
    email: str
    display_name: str
    calendars: list[CalendarInfo]


# --------------------------------------------------------------------------- the adapter


class MicrosoftCalendar:
    """One connected Microsoft 365 mailbox. Safe to share between threads."""

    provider = "microsoft"

    def __init__(
        self,
        *,
        app: MicrosoftApp,
        tokens: OAuthTokens,
        on_tokens: TokensCallback | None = None,
        time_zone: str = "UTC",
        timeout: float = 10.0,
        max_attempts: int = 4,
        retry_after_cap: float = 10.0,
        backoff: float = 0.5,
        sync_past: timedelta = timedelta(days=30),
        sync_future: timedelta = timedelta(days=365),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.app = app
        self._tokens = tokens
        self._on_tokens = on_tokens
        self._token_lock = threading.Lock()
        # The host's zone: all-day events are days in it, and unknown zones fall back to it.
        self.zone = resolve_time_zone(time_zone)
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.retry_after_cap = retry_after_cap
        self.backoff = backoff
        self.sync_past = sync_past
        self.sync_future = sync_future
        self.graph = app.endpoints.graph.rstrip("/")
        self._mailbox_zone: str | None = None
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            verify=_tls_context(),
            transport=transport,
            headers={"Prefer": PREFER_UTC, "Accept": "application/json"},
        )

    @property
    def tokens(self) -> OAuthTokens:
        return self._tokens

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ tokens

    def _access_token(self, *, force: bool = False, stale: str | None = None) -> str:
        with self._token_lock:
            # Another thread may have refreshed while we waited for the lock.
            if force and stale is not None and self._tokens.access_token != stale:
                return self._tokens.access_token
            if force or self._tokens.expired():
                try:
                    self._tokens = refresh_tokens(app=self.app, tokens=self._tokens)
                except GrantRevoked:
                    raise
                except OAuthError as error:
                    raise CalendarAuthError(str(error)) from error
                if self._on_tokens is not None:
                    self._on_tokens(self._tokens)
            return self._tokens.access_token

    # ------------------------------------------------------------------ HTTP

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            # nextLink/deltaLink come from the server; never send our token elsewhere.
            if not path_or_url.startswith(self.graph + "/"):
                raise CalendarUnavailable("Microsoft Graph returned a link to an unexpected host.")
            return path_or_url
        return self.graph + path_or_url

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        url = self._url(path_or_url)
        refreshed = False
        attempts = self.max_attempts if retry else 1
        failure = "Microsoft 365 did not answer"
        asked_wait: float | None = None
        attempt = 0
        while attempt < attempts:
            token = self._access_token()
            request_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers=request_headers,
                    timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))
                    if timeout
                    else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TimeoutException:
                failure = "Microsoft 365 took too long to answer"
                asked_wait = None
                attempt += 1
                self._pause(attempt, attempts, None)
                continue
            except httpx.TransportError as error:
                failure = f"Microsoft 365 could not be reached ({type(error).__name__})"
                asked_wait = None
                attempt += 1
                self._pause(attempt, attempts, None)
                continue
            status = response.status_code
            if status == 401 and not refreshed:
                # Expired or rejected access token: refresh once and try again (not counted as an attempt).
                refreshed = True
                self._access_token(force=True, stale=token)
                continue
            if status == 429 or status >= 500:
                failure = (
                    "Microsoft 365 is busy" if status in (429, 503) else f"Microsoft 365 failed ({status})"
                )
                delay = retry_after_seconds(response.headers.get("Retry-After"))
                asked_wait = delay
                if delay is not None and delay > self.retry_after_cap:
                    # Told to wait longer than we block a worker: give up now, the caller retries later.
                    break
                attempt += 1
                self._pause(attempt, attempts, delay)
                continue
            return response
        # The wait Graph asked for travels with the error, so the caller's later retry honours it.
        raise CalendarUnavailable(f"{failure}; please try again in a few minutes.", retry_after=asked_wait)

    def _pause(self, attempt: int, attempts: int, retry_after: float | None) -> None:
        """Sleep before attempt number ``attempt`` (1-based count of failures so far)."""
        if attempt >= attempts:
            return
        if retry_after is not None:
            delay = min(retry_after, self.retry_after_cap)
        else:
            delay = min(self.backoff * 2 ** (attempt - 1), self.retry_after_cap)
        time.sleep(delay)

    @staticmethod
    def _error(response: httpx.Response) -> GraphRequestError | CalendarAuthError:
        try:
            err = response.json().get("error", {})
            code, message = str(err.get("code", "")), str(err.get("message", ""))
        except (ValueError, AttributeError):
            code, message = "", response.text[:200]
        if response.status_code == 401:
            return CalendarAuthError(
                "Microsoft 365 rejected Yoyaku's access; please reconnect your calendar."
            )
        if response.status_code == 403:
            return CalendarAuthError(
                "Yoyaku lacks permission for this calendar; reconnect and accept the requested permissions."
            )
        logger.warning("Graph error %s %s: %s", response.status_code, code, message)
        return GraphRequestError(
            f"Microsoft 365 refused the request ({code or response.status_code}).",
            status=response.status_code,
            code=code,
        )

    def _json(self, method: str, path_or_url: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path_or_url, **kwargs)
        if response.status_code >= 400:
            raise self._error(response)
        try:
            data = response.json()
        except ValueError as error:
            raise CalendarUnavailable("Microsoft 365 sent an unreadable answer.") from error
        if not isinstance(data, dict):
            raise CalendarUnavailable("Microsoft 365 sent an unexpected answer.")
        return data

    def _pages(self, path: str, *, params: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Items of a collection, following ``@odata.nextLink``."""
        data = self._json(
            "GET", path, params=params, headers={"Prefer": f"{PREFER_UTC}, odata.maxpagesize={PAGE_SIZE}"}
        )
        while True:
            yield from data.get("value", [])
            link = data.get("@odata.nextLink")
            if not link:
                return
            data = self._json("GET", link, headers={"Prefer": f"{PREFER_UTC}, odata.maxpagesize={PAGE_SIZE}"})

    @staticmethod
    def _calendar_path(calendar_id: str | None) -> str:
        return f"/me/calendars/{quote(calendar_id, safe='')}" if calendar_id else "/me/calendar"

    # ------------------------------------------------------------------ account

    def me(self) -> tuple[str, str]:
        """(email, display name). ``mail`` can be empty for accounts without Exchange mail; use the UPN."""
        data = self._json("GET", "/me", params={"$select": "mail,userPrincipalName,displayName"})
        email = str(data.get("mail") or data.get("userPrincipalName") or "")
        return email, str(data.get("displayName") or "")

    def list_calendars(self) -> list[CalendarInfo]:
        return [
            CalendarInfo(
                id=str(item["id"]),
                name=str(item.get("name") or ""),
                primary=bool(item.get("isDefaultCalendar")),
                writable=bool(item.get("canEdit", True)),
            )
            for item in self._pages("/me/calendars")
        ]

    # ------------------------------------------------------------------ busy time

    def busy(
        self,
        *,
        start: datetime,
        end: datetime,
        calendar_ids: Sequence[str] | None = None,
        unreadable: list[UnreadableEvent] | None = None,
    ) -> list[BusyInterval]:
        """Busy intervals from ``calendarView`` of each selected calendar (default calendar if none).

        Why calendarView and not ``getSchedule``: getSchedule answers with the
        mailbox's published free/busy, which Exchange builds from the default
        calendar only, so other calendars the host selected would be ignored;
        and its items carry no response status, so "the host's own declined
        event is free" cannot be applied. calendarView expands recurrences on
        the server (occurrences and exceptions, with moved instances where they
        landed) and gives per-event ``showAs``, ``isCancelled`` and
        ``responseStatus`` (the mailbox owner's own answer, whatever address
        signed in). The rules are calendars/busy_rules.py's. An event whose
        times cannot be read blocks the day of whichever end reads (else the
        window) and is reported in ``unreadable``. :meth:`schedule_busy` reads
        getSchedule for when the published free/busy is what is wanted.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            return []
        params = {"startDateTime": _iso_z(start), "endDateTime": _iso_z(end), "$select": _EVENT_FIELDS}
        result: list[BusyInterval] = []
        targets: Sequence[str | None] = list(calendar_ids) if calendar_ids else [None]
        for calendar_id in targets:
            for event in self._pages(f"{self._calendar_path(calendar_id)}/calendarView", params=params):
                interval = self._busy_interval(event, window=(start, end), unreadable=unreadable)
                if interval is None:
                    continue
                clipped_start, clipped_end = max(interval.start, start), min(interval.end, end)
                if clipped_end > clipped_start:
                    result.append(BusyInterval(clipped_start, clipped_end, interval.status))
        result.sort(key=lambda i: (i.start, i.end))
        return result

    def _busy_interval(
        self,
        event: Mapping[str, Any],
        *,
        window: tuple[datetime, datetime] | None = None,
        unreadable: list[UnreadableEvent] | None = None,
    ) -> BusyInterval | None:
        status = graph_busy_status(event)
        if status is None:
            return None
        try:
            start, end = self._event_times(event)
            if end < start:
                raise ValueError("the event ends before it starts")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            label = str(event.get("subject") or event.get("iCalUId") or event.get("id") or "?")
            logger.warning("Unreadable Graph event %r (%s): blocking what can be placed", label, error)
            if unreadable is not None:
                try:
                    parse_graph_datetime(event["start"], fallback=self.zone)
                    reason = "end"  # the start reads, so the end is what is wrong
                except (KeyError, TypeError, ValueError, AttributeError):
                    reason = "start"
                unreadable.append(UnreadableEvent(event=label[:200], reason=reason, detail=str(error)[:300]))
            start, end = self._unreadable_span(event, window)
        if end <= start:
            return None
        return BusyInterval(start, end, status)

    def _unreadable_span(
        self, event: Mapping[str, Any], window: tuple[datetime, datetime] | None
    ) -> tuple[datetime, datetime]:
        zone = self._all_day_zone(event)
        for key in ("start", "end"):
            try:
                day = parse_graph_datetime(event[key], fallback=zone).astimezone(zone).date()
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            return _day_start(day, zone), _day_start(day + timedelta(days=1), zone)
        if window is None:
            raise CalendarUnavailable("Microsoft 365 returned an event without readable times.")
        return window

    def _all_day_zone(self, event: Mapping[str, Any]) -> tzinfo:
        """The zone an all-day event's dates are days in.

        The event's own (``originalStartTimeZone``), else the mailbox's, else the host's.
        """
        name = event.get("originalStartTimeZone")
        if not name or str(name).lower() == "tzone://microsoft/custom":
            name = self.mailbox_time_zone()
        return resolve_time_zone(str(name), fallback=self.zone) if name else self.zone

    def mailbox_time_zone(self) -> str | None:
        """The mailbox's zone (``mailboxSettings/timeZone``), read once per adapter; None if unreadable."""
        if self._mailbox_zone is None:
            # MailboxSettings.Read is not among the scopes Yoyaku must have: a refusal
            # here is not a broken connection, just no mailbox zone (the host's is used).
            response = self._request("GET", "/me/mailboxSettings/timeZone")
            value = ""
            if response.status_code == 200:
                try:
                    value = str(response.json().get("value") or "")
                except (ValueError, AttributeError):
                    value = ""
            else:
                logger.info("Mailbox time zone unavailable (%s); using the host's zone", response.status_code)
            self._mailbox_zone = value
        return self._mailbox_zone or None

    def _event_times(self, event: Mapping[str, Any]) -> tuple[datetime, datetime]:
        if event.get("isAllDay"):
            # All-day events are dates, not instants: days in the calendar's own zone (the
            # event's originalStartTimeZone, else the mailbox's), end exclusive (RFC 5545 §3.6.1).
            zone = self._all_day_zone(event)
            first = _parse_naive(str(event["start"]["dateTime"])).date()
            last = _parse_naive(str(event["end"]["dateTime"])).date()
            return _day_start(first, zone), _day_start(last, zone)
        return (
            parse_graph_datetime(event["start"], fallback=self.zone),
            parse_graph_datetime(event["end"], fallback=self.zone),
        )

    def schedule_busy(
        self, *, start: datetime, end: datetime, email: str | None = None
    ) -> list[BusyInterval]:
        """Published free/busy of ``email`` (default: the signed-in user).

        Read via ``POST /me/calendar/getSchedule``.

        Covers the mailbox's default calendar only (see :meth:`busy`). Raises if
        the schedule cannot be read rather than returning it empty.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        who = email or self.me()[0]
        data = self._json(
            "POST",
            "/me/calendar/getSchedule",
            body={
                "schedules": [who],
                "startTime": _graph_datetime(start),
                "endTime": _graph_datetime(end),
                "availabilityViewInterval": 15,
            },
        )
        schedules = [s for s in data.get("value", []) if str(s.get("scheduleId", "")).lower() == who.lower()]
        if not schedules or schedules[0].get("error"):
            detail = (schedules[0].get("error") or {}).get("responseCode", "") if schedules else "missing"
            raise CalendarUnavailable(f"Microsoft 365 could not share the free/busy schedule ({detail}).")
        result = []
        for item in schedules[0].get("scheduleItems", []):
            status = rules_busy_status(
                EventFacts(show_as=lookup(GRAPH_SHOW_AS, item.get("status") or "busy"))
            )
            if status is None:
                continue
            item_start = max(parse_graph_datetime(item["start"], fallback=self.zone), start)
            item_end = min(parse_graph_datetime(item["end"], fallback=self.zone), end)
            if item_end > item_start:
                result.append(BusyInterval(item_start, item_end, status))
        result.sort(key=lambda i: (i.start, i.end))
        return result

    # ------------------------------------------------------------------ writes

    def _event_body(self, draft: EventDraft) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subject": draft.title,
            "body": {"contentType": "text", "content": draft.description},
            # Times are sent in UTC; Graph accepts "UTC" everywhere, while
            # arbitrary IANA names are not guaranteed to be understood.
            "start": _graph_datetime(draft.start),
            "end": _graph_datetime(draft.end),
            "location": {"displayName": draft.location},
            "attendees": [
                {"emailAddress": {"address": a.email, "name": a.name or a.email}, "type": "required"}
                for a in draft.attendees
            ],
            "showAs": "busy",
            "isReminderOn": True,
            "responseRequested": True,
            "allowNewTimeProposals": False,
        }
        return body

    def create_event(self, *, draft: EventDraft, calendar_id: str | None = None) -> str:
        """Create the meeting; Graph sends the invitations to the attendees.

        ``transactionId`` is derived from ``draft.uid``: if a create is retried
        after a timeout, Graph returns the event it already made instead of
        creating (and inviting) twice.
        """
        body = self._event_body(draft)
        body["transactionId"] = transaction_id(draft.uid)
        path = f"{self._calendar_path(calendar_id)}/events" if calendar_id else "/me/events"
        data = self._json("POST", path, body=body)
        return str(data["id"])

    def update_event(self, *, event_id: str, draft: EventDraft, calendar_id: str | None = None) -> None:
        """PATCH the event; Graph sends updates to attendees when the meeting changes."""
        self._json("PATCH", f"/me/events/{quote(event_id, safe='')}", body=self._event_body(draft))

    def cancel_event(self, *, event_id: str, calendar_id: str | None = None, comment: str = "") -> None:
        """Cancel as organizer (attendees get a cancellation with ``comment``); already gone is success."""
        path = f"/me/events/{quote(event_id, safe='')}"
        response = self._request("POST", f"{path}/cancel", body={"Comment": comment})
        if response.status_code in (200, 202, 204, 404):
            return
        error = self._error(response)
        if response.status_code == 400 and isinstance(error, GraphRequestError):
            # Not a meeting we organise (e.g. an appointment without attendees): remove it instead.
            deleted = self._request("DELETE", path)
            if deleted.status_code in (200, 204, 404):
                return
            raise self._error(deleted)
        raise error

    # ------------------------------------------------------------------ sync

    def sync(self, *, token: str | None, calendar_id: str | None = None) -> SyncResult:
        return whole_listing(self.sync_pages(token=token, calendar_id=calendar_id))

    def sync_pages(self, *, token: str | None, calendar_id: str | None = None) -> Iterator[SyncPage]:
        """Incremental sync through ``calendarView/delta``, one page (``@odata.nextLink``) at a time.

        The last page's token is the ``@odata.deltaLink`` (Graph gives it only on the
        last page). Without a token the window is ``sync_past`` .. ``sync_future``
        around now; the delta link keeps that window. An expired or unknown
        token (410 Gone / ``syncStateNotFound``) starts over with ``full=True``.
        """
        if token:
            try:
                yield from self._delta(token, full=False)
                return
            except _ResyncRequired:
                logger.info("Graph delta token expired; running a full sync")
        now = datetime.now(tz=UTC)
        query = f"startDateTime={_iso_z(now - self.sync_past)}&endDateTime={_iso_z(now + self.sync_future)}"
        first = f"{self.graph}{self._calendar_path(calendar_id)}/calendarView/delta?{query}"
        if calendar_id is None:
            first = f"{self.graph}/me/calendarView/delta?{query}"
        try:
            yield from self._delta(first, full=True)
        except _ResyncRequired as error:
            raise CalendarUnavailable("Microsoft 365 could not start a calendar sync.") from error

    def _delta(self, url: str, *, full: bool) -> Iterator[SyncPage]:
        # A calendarView delta takes no $select: it gives what calendarView gives, the body included.
        headers = {"Prefer": f"{PREFER_UTC}, {PREFER_TEXT_BODY}, odata.maxpagesize={DELTA_PAGE_SIZE}"}
        while True:
            response = self._request("GET", url, headers=headers)
            if response.status_code >= 400:
                if response.status_code == 410 or _error_code(response).lower() in _RESYNC_CODES:
                    raise _ResyncRequired()
                raise self._error(response)
            data = response.json()
            changed: list[RemoteEvent] = []
            removed: list[str] = []
            for item in data.get("value", []):
                if "@removed" in item:
                    removed.append(str(item["id"]))
                    continue
                whole = (
                    item if all(k in item for k in _DELTA_WHOLE_EVENT) else self._whole_event(str(item["id"]))
                )
                if whole is None:
                    removed.append(str(item["id"]))
                else:
                    changed.append(self._remote_event(whole))
            if data.get("@odata.deltaLink"):
                yield SyncPage(
                    changed=changed,
                    removed=removed,
                    full=full,
                    token=str(data["@odata.deltaLink"]),
                    last=True,
                )
                return
            link = data.get("@odata.nextLink")
            if not link:
                raise CalendarUnavailable("Microsoft 365 ended a sync without a delta link.")
            del data, response  # neither they nor this page's events are kept while the next is read
            yield SyncPage(changed=changed, removed=removed, full=full)
            del changed, removed
            url = str(link)

    def _whole_event(self, event_id: str) -> dict[str, Any] | None:
        """An event in full, for a delta item that carries only its changed properties; None if gone.

        Graph may send an updated event in a delta round as its id and the properties that
        changed; reading the rest from an older copy could pair a new start with an old end,
        so the event is read again.
        """
        response = self._request(
            "GET",
            f"/me/events/{quote(event_id, safe='')}",
            params={"$select": _SYNC_FIELDS},
            headers={"Prefer": f"{PREFER_UTC}, {PREFER_TEXT_BODY}"},
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise self._error(response)
        try:
            data = response.json()
        except ValueError as error:
            raise CalendarUnavailable("Microsoft 365 sent an unreadable answer.") from error
        return data if isinstance(data, dict) else None

    def _remote_event(self, item: Mapping[str, Any]) -> RemoteEvent:
        start, end = self._event_times(item)
        body = item.get("body") or {}
        interval = self._busy_interval(item)
        cancelled = bool(item.get("isCancelled"))
        original = item.get("originalStart")
        return RemoteEvent(
            id=str(item["id"]),
            uid=str(item["iCalUId"]) if item.get("iCalUId") else None,
            title=str(item.get("subject") or ""),
            start=start,
            end=end,
            attendees=tuple(
                Attendee(
                    email=str(a.get("emailAddress", {}).get("address") or ""),
                    name=str(a.get("emailAddress", {}).get("name") or ""),
                    response=_GRAPH_RESPONSES.get(str((a.get("status") or {}).get("response") or ""), ""),
                )
                for a in item.get("attendees") or []
            ),
            cancelled=cancelled,
            all_day=bool(item.get("isAllDay")),
            location=str((item.get("location") or {}).get("displayName") or ""),
            description=str(
                body.get("content") if body.get("contentType") == "text" else item.get("bodyPreview") or ""
            ),
            show_as=interval.status if interval is not None else "free",
            status="cancelled" if cancelled else "confirmed",
            series_id=str(item.get("seriesMasterId") or ""),
            recurrence_id=str(original) if original else "",
            organizer=str(((item.get("organizer") or {}).get("emailAddress") or {}).get("address") or ""),
            etag=str(item.get("changeKey") or item.get("@odata.etag") or ""),
            changed_at=_parse_modified(item.get("lastModifiedDateTime")),
        )

    # ------------------------------------------------------------------ subscriptions

    def create_subscription(
        self,
        *,
        notification_url: str,
        client_state: str,
        expiration: datetime,
        calendar_id: str | None = None,
        lifecycle_notification_url: str | None = None,
    ) -> GraphSubscription:
        """Subscribe to created/updated/deleted events; Graph validates ``notification_url`` first.

        The endpoint must echo ``validationToken`` (see :func:`validation_token`)
        within 10 s. ``expiration`` is capped at Graph's 7-day limit; renew
        before it passes with :meth:`renew_subscription`.
        """
        resource = f"me/calendars/{calendar_id}/events" if calendar_id else "me/events"
        body: dict[str, Any] = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": resource,
            "expirationDateTime": _iso_z(min(expiration, max_subscription_expiration())),
            "clientState": client_state,
        }
        if lifecycle_notification_url:
            body["lifecycleNotificationUrl"] = lifecycle_notification_url
        response = self._request("POST", "/subscriptions", body=body, timeout=SUBSCRIPTION_TIMEOUT)
        if response.status_code == 400 and _error_code(response) == "ValidationError":
            raise GraphRequestError(
                "Microsoft 365 could not reach Yoyaku's notification address; check the public URL setting.",
                status=400,
                code="ValidationError",
            )
        if response.status_code >= 400:
            raise self._error(response)
        return _subscription(response.json(), client_state)

    def renew_subscription(self, *, subscription_id: str, expiration: datetime) -> GraphSubscription:
        data = self._json(
            "PATCH",
            f"/subscriptions/{quote(subscription_id, safe='')}",
            body={"expirationDateTime": _iso_z(min(expiration, max_subscription_expiration()))},
        )
        return _subscription(data, str(data.get("clientState") or ""))

    def delete_subscription(self, *, subscription_id: str) -> None:
        response = self._request("DELETE", f"/subscriptions/{quote(subscription_id, safe='')}")
        if response.status_code not in (200, 204, 404):
            raise self._error(response)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default trust store, loaded once per process: each adapter (one per sync, per push
    notification) loading its own cost about 20 ms."""
    return httpx.create_ssl_context()


def graph_busy_status(event: Mapping[str, Any]) -> BusyStatus | None:
    """How one Graph event blocks the host's time (calendars/busy_rules.py); None leaves it free.

    ``responseStatus`` is the mailbox owner's own answer, so it recognises the
    host whatever address signed in.
    """
    facts = EventFacts(
        cancelled=bool(event.get("isCancelled")),
        show_as=lookup(GRAPH_SHOW_AS, event.get("showAs")),
        response=response_of(GRAPH_RESPONSE, (event.get("responseStatus") or {}).get("response")),
    )
    return rules_busy_status(facts)


# Graph's attendee status.response values, as the store keeps them.
_GRAPH_RESPONSES = {
    "accepted": "accepted",
    "organizer": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
    "notResponded": "needs_action",
    "none": "needs_action",
}


def _parse_modified(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _day_start(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", {}).get("code", ""))
    except (ValueError, AttributeError):
        return ""


def _subscription(data: Mapping[str, Any], client_state: str) -> GraphSubscription:
    raw = str(data["expirationDateTime"])
    expiration = (
        _parse_naive(raw).replace(tzinfo=UTC) if not raw.endswith("+00:00") else datetime.fromisoformat(raw)
    )
    return GraphSubscription(
        id=str(data["id"]),
        resource=str(data.get("resource") or ""),
        expiration=expiration,
        client_state=client_state,
    )


def verify_connection(
    *, app: MicrosoftApp, tokens: OAuthTokens, on_tokens: TokensCallback | None = None
) -> MicrosoftConnection:
    """Check the tokens work and describe the account: email, name and calendars.

    Raises :class:`CalendarAuthError` (or :class:`GrantRevoked`) when the user
    must reconnect and :class:`CalendarUnavailable` when Microsoft is down; both
    carry messages fit to show the user.
    """
    adapter = MicrosoftCalendar(app=app, tokens=tokens, on_tokens=on_tokens)
    try:
        email, name = adapter.me()
        calendars = adapter.list_calendars()
    except GraphRequestError as error:
        raise CalendarAuthError(
            "Your Microsoft 365 account has no calendar Yoyaku can use (is it a mailbox-enabled account?)."
        ) from error
    finally:
        adapter.close()
    if not email:
        raise CalendarAuthError("Microsoft 365 did not tell Yoyaku your email address; please reconnect.")
    return MicrosoftConnection(email=email, display_name=name, calendars=calendars)
