"""Google Calendar adapter (Calendar API v3 through google-api-python-client).

The client is built from the discovery document bundled with the library
(``static_discovery=True``), so building it needs no network, and pointed at
``GoogleEndpoints.calendar_api`` (the real service or the test emulator).

Busy time comes from ``events.list`` with ``singleEvents=true`` rather than
``freeBusy``. freeBusy is cheaper, but it flattens everything to "busy": it
cannot tell a tentative answer from an accepted one nor out-of-office from a
meeting, and Yoyaku's hosts may choose that tentative events leave time free.
events.list gives per-event ``status``, ``transparency``, ``eventType`` and the
host's own ``responseStatus``, and Google expands recurrences (with their
exceptions) server side. freeBusy is still used for a selected calendar whose
events the user may not read (shared as "see only free/busy").

Retries: googleapiclient's own ``num_retries`` ignores ``Retry-After`` and
sleeps up to 2^n seconds, so requests run with ``num_retries=0`` and this
module retries 429, 5xx, 403 rate-limit reasons and timeouts itself, a
bounded number of times, honouring ``Retry-After`` up to a small cap.

An adapter instance holds one ``httplib2.Http`` connection and is not
thread-safe: make one per task.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

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
from yoyaku.calendars.busy_rules import GOOGLE_KIND, GOOGLE_RESPONSE, EventFacts, Response, response_of
from yoyaku.calendars.busy_rules import busy_status as rules_busy_status
from yoyaku.calendars.google_oauth import (
    DEFAULT_TIMEOUT_SECONDS,
    GOOGLE_SCOPES,
    GoogleEndpoints,
    fetch_google_account_email,
    google_authorization_url,
    google_exchange_code,
    google_revoke,
    timeout_request,
)
from yoyaku.calendars.oauth import GrantRevoked, OAuthTokens, TokensCallback

__all__ = [
    "GOOGLE_SCOPES",
    "GoogleCalendarAdapter",
    "GoogleChannel",
    "GoogleConnection",
    "GoogleEndpoints",
    "GoogleNotification",
    "busy_status",
    "google_authorization_url",
    "google_event_id",
    "google_exchange_code",
    "google_revoke",
    "google_verify_connection",
    "parse_notification",
]

logger = logging.getLogger(__name__)

UID_PROPERTY = "yoyakuUid"
_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
_PAGE_SIZE = 2500  # the maximum events.list allows


def google_event_id(uid: str) -> str:
    """A Google event id derived from Yoyaku's uid, the same on every retry.

    Client-chosen ids may use base32hex characters (a-v, 0-9) and be 5 to 1024
    long (Events resource, ``id``); base32hex of a SHA-256 is 52 of them.
    """
    digest = hashlib.sha256(uid.encode("utf-8")).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


def busy_status(event: Mapping[str, Any]) -> BusyStatus | None:
    """How one events.list item blocks the host's time (calendars/busy_rules.py); None leaves it free.

    The host's own answer is the attendee Google marks ``self`` (the calendar's
    owner, whatever address the login has).
    """
    response: Response = "none"
    for attendee in event.get("attendees", ()):
        if attendee.get("self"):
            response = response_of(GOOGLE_RESPONSE, attendee.get("responseStatus"))
            break
    if response == "none" and (event.get("organizer") or {}).get("self"):
        response = "organizer"
    facts = EventFacts(
        cancelled=event.get("status") == "cancelled",
        kind=GOOGLE_KIND.get(str(event.get("eventType", "default")), "default"),
        show_as="free" if event.get("transparency") == "transparent" else None,
        tentative=event.get("status") == "tentative",
        response=response,
    )
    return rules_busy_status(facts)


# Google's attendee responseStatus values, as the store keeps them.
_GOOGLE_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "needsAction": "needs_action",
}


def _parse_updated(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r from Google, using UTC", name)
        return ZoneInfo("UTC")


def _event_time(value: Mapping[str, Any], *, zone: ZoneInfo) -> tuple[datetime, bool]:
    """An EventDateTime as an aware UTC datetime and whether it was a date.

    All-day events carry a ``date`` that means midnight in the calendar's (or
    the host's) zone; the end date is exclusive (as DTEND in RFC 5545 §3.6.1).
    """
    if "dateTime" in value:
        moment = datetime.fromisoformat(value["dateTime"])
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_zone(value.get("timeZone")) if value.get("timeZone") else zone)
        return moment.astimezone(UTC), False
    day = date.fromisoformat(value["date"])
    return datetime.combine(day, dtime(0), tzinfo=zone).astimezone(UTC), True


def _unreadable_span(
    event: Mapping[str, Any], error: Exception, *, zone: ZoneInfo, start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """What an event with unreadable times still tells: the day of whichever end reads, else the window."""
    logger.warning("Unreadable Google event %r (%s): blocking what can be placed", event.get("id"), error)
    for key in ("start", "end"):
        try:
            moment, _ = _event_time(event[key], zone=zone)
        except (KeyError, TypeError, ValueError):
            continue
        day = moment.astimezone(zone).date()
        return (
            datetime.combine(day, dtime(0), tzinfo=zone).astimezone(UTC),
            datetime.combine(day + timedelta(days=1), dtime(0), tzinfo=zone).astimezone(UTC),
        )
    return start, end


def _unreadable_event(event: Mapping[str, Any], error: Exception, *, zone: ZoneInfo) -> UnreadableEvent:
    label = str(event.get("summary") or event.get("iCalUID") or event.get("id") or "?")
    try:
        _event_time(event["start"], zone=zone)
        reason = "end"  # the start reads, so the end is what is wrong
    except (KeyError, TypeError, ValueError):
        reason = "start"
    return UnreadableEvent(event=label[:200], reason=reason, detail=str(error)[:300])


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _error_details(error: HttpError) -> tuple[int, str, str]:
    status = int(error.resp.status)
    reason = ""
    message = ""
    try:
        body = json.loads(error.content.decode("utf-8"))
        payload = body.get("error", {}) if isinstance(body, dict) else {}
        if isinstance(payload, dict):
            message = str(payload.get("message", ""))
            errors = payload.get("errors") or []
            if errors and isinstance(errors[0], dict):
                reason = str(errors[0].get("reason", ""))
            if not reason:
                reason = str(payload.get("status", ""))
    except (UnicodeDecodeError, ValueError, AttributeError):
        pass
    return status, reason, message


def _refresh_error(error: Exception) -> CalendarError:
    if isinstance(error, google.auth.exceptions.RefreshError):
        data = error.args[1] if len(error.args) > 1 else None
        code = data.get("error") if isinstance(data, dict) else str(error.args[0] if error.args else "")
        if code == "invalid_grant" or (isinstance(code, str) and code.startswith("invalid_grant")):
            return GrantRevoked(
                "Google no longer lets Yoyaku use your calendar (access was revoked or expired). "
                "Please reconnect Google Calendar."
            )
        if code in ("invalid_client", "unauthorized_client"):
            return CalendarAuthError(
                "Google rejected this server's OAuth client. An administrator must check its settings."
            )
        if getattr(error, "retryable", False):
            return CalendarUnavailable("Google's sign-in service is not answering. Yoyaku will try again.")
        return CalendarAuthError("Google refused to renew Yoyaku's access. Please reconnect Google Calendar.")
    return CalendarUnavailable("Google's sign-in service could not be reached. Yoyaku will try again.")


class _Passthrough(Exception):
    """A non-retryable HTTP error the caller asked to handle itself."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class GoogleChannel:
    """A push channel (events.watch); renew it before ``expiration``."""

    id: str
    resource_id: str
    expiration: datetime | None


@dataclass(frozen=True, slots=True)
class GoogleNotification:
    channel_id: str
    resource_id: str
    state: str  # "sync" (channel opened) or "exists" (something changed: run a sync)
    token: str
    message_number: int


def parse_notification(headers: Mapping[str, str]) -> GoogleNotification | None:
    """Read a push notification's headers; None when it is not one.

    Google sends headers only; the caller compares ``token`` with the one it
    set on the channel and then runs an incremental sync.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    channel_id = lowered.get("x-goog-channel-id")
    state = lowered.get("x-goog-resource-state")
    if not channel_id or not state:
        return None
    try:
        number = int(lowered.get("x-goog-message-number", "0"))
    except ValueError:
        number = 0
    return GoogleNotification(
        channel_id=channel_id,
        resource_id=lowered.get("x-goog-resource-id", ""),
        state=state,
        token=lowered.get("x-goog-channel-token", ""),
        message_number=number,
    )


class GoogleCalendarAdapter:
    provider = "google"

    def __init__(
        self,
        *,
        tokens: OAuthTokens,
        client_id: str,
        client_secret: str,
        endpoints: GoogleEndpoints | None = None,
        on_tokens: TokensCallback | None = None,
        time_zone: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_attempts: int = 4,
        max_retry_after: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = _PAGE_SIZE,
    ) -> None:
        """``time_zone`` is the host's zone for all-day events (default: each calendar's own).

        ``on_tokens`` is called with the new tokens after a refresh, so the
        caller can store them (encrypted).
        """
        self.endpoints = endpoints or GoogleEndpoints()
        self._tokens = tokens
        self._on_tokens = on_tokens
        self._time_zone = time_zone
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self._page_size = page_size
        self._credentials = Credentials(  # type: ignore[no-untyped-call]
            token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            token_uri=self.endpoints.token_url,
            client_id=client_id,
            client_secret=client_secret,
            scopes=list(GOOGLE_SCOPES),
            # google-auth compares expiry with a naive UTC "now".
            expiry=tokens.expires_at.astimezone(UTC).replace(tzinfo=None),
        )
        http = google_auth_httplib2.AuthorizedHttp(self._credentials, http=httplib2.Http(timeout=timeout))
        self._service = build(
            "calendar",
            "v3",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.endpoints.calendar_api},
        )

    def close(self) -> None:
        # httplib2 keeps its sockets open until told otherwise.
        self._service.close()

    # -- tokens ---------------------------------------------------------------

    @property
    def tokens(self) -> OAuthTokens:
        return self._tokens

    def _ensure_fresh(self) -> None:
        if self._credentials.valid:
            return
        try:
            self._credentials.refresh(timeout_request(timeout=self._timeout))  # type: ignore[no-untyped-call]
        except google.auth.exceptions.GoogleAuthError as error:
            raise _refresh_error(error) from error

    def _remember_tokens(self) -> None:
        token = self._credentials.token
        if not token or token == self._tokens.access_token:
            return
        expiry = self._credentials.expiry
        expires_at = (
            expiry.replace(tzinfo=UTC) if expiry is not None else datetime.now(tz=UTC) + timedelta(hours=1)
        )
        self._tokens = replace(
            self._tokens,
            access_token=token,
            refresh_token=self._credentials.refresh_token or self._tokens.refresh_token,
            expires_at=expires_at,
        )
        if self._on_tokens is not None:
            self._on_tokens(self._tokens)

    def account_email(self) -> str:
        self._ensure_fresh()
        self._remember_tokens()
        return fetch_google_account_email(
            access_token=self._tokens.access_token, endpoints=self.endpoints, timeout=self._timeout
        )

    # -- request execution ----------------------------------------------------

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        wait = retry_after_seconds(retry_after)
        if wait is None:
            wait = min(self._max_retry_after, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        elif wait > self._max_retry_after:
            raise CalendarUnavailable(
                f"Google asked Yoyaku to wait {int(wait)} seconds before trying again. "
                "Yoyaku will retry later.",
                retry_after=wait,
            )
        self._sleep(wait)

    def _execute(self, request: Any, *, what: str, passthrough: Sequence[int] = ()) -> Any:
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            self._ensure_fresh()
            try:
                result = request.execute(num_retries=0)
            except HttpError as error:
                status, reason, message = _error_details(error)
                retryable = (
                    status == 429 or status >= 500 or (status == 403 and reason in _RATE_LIMIT_REASONS)
                )
                if retryable and not last:
                    logger.info("Google answered %s %s to %s; retrying", status, reason, what)
                    self._backoff(attempt, error.resp.get("retry-after"))
                    continue
                if status in passthrough and not retryable and reason not in _SCOPE_REASONS:
                    raise _Passthrough(status, reason, message) from error
                error_out = self._http_error(status, reason, message, what=what)
                if isinstance(error_out, CalendarUnavailable):
                    # The wait Google asked for travels with the error, so a later retry honours it.
                    error_out.retry_after = retry_after_seconds(error.resp.get("retry-after"))
                raise error_out from error
            except google.auth.exceptions.GoogleAuthError as error:
                raise _refresh_error(error) from error
            except (TimeoutError, ConnectionError, httplib2.HttpLib2Error, OSError) as error:
                if not last:
                    logger.info("Google did not answer %s (%s); retrying", what, error)
                    self._backoff(attempt, None)
                    continue
                raise CalendarUnavailable(
                    f"Google Calendar did not answer in time while {what}. Yoyaku will try again."
                ) from error
            self._remember_tokens()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _http_error(self, status: int, reason: str, message: str, *, what: str) -> CalendarError:
        logger.warning("Google answered %s %s (%s) while %s", status, reason, message, what)
        if status == 401:
            return CalendarAuthError(
                "Google no longer accepts Yoyaku's access. Please reconnect Google Calendar."
            )
        if status == 403 and reason in _SCOPE_REASONS:
            return CalendarAuthError(
                "Yoyaku was not given permission to use your calendar. Reconnect Google Calendar and "
                "allow calendar access."
            )
        if status == 429 or status >= 500 or reason in _RATE_LIMIT_REASONS:
            return CalendarUnavailable(
                f"Google Calendar is busy or failing while {what}. Yoyaku will try again."
            )
        if status == 403:
            return CalendarError(f"Google Calendar did not allow {what}: {message or reason}.")
        if status == 404:
            return CalendarError(f"Google Calendar could not find what Yoyaku needed while {what}.")
        return CalendarError(f"Google Calendar refused {what}: {message or reason or status}.")

    # -- calendars ------------------------------------------------------------

    def list_calendars(self) -> list[CalendarInfo]:
        calendars: list[CalendarInfo] = []
        page_token: str | None = None
        while True:
            page = self._execute(
                self._service.calendarList().list(pageToken=page_token, maxResults=250),
                what="listing your calendars",
            )
            for item in page.get("items", []):
                calendars.append(
                    CalendarInfo(
                        id=item["id"],
                        name=item.get("summaryOverride") or item.get("summary") or item["id"],
                        primary=bool(item.get("primary", False)),
                        writable=item.get("accessRole") in ("owner", "writer"),
                    )
                )
            page_token = page.get("nextPageToken")
            if not page_token:
                return calendars

    # -- busy time ------------------------------------------------------------

    def busy(
        self,
        *,
        start: datetime,
        end: datetime,
        calendar_ids: Sequence[str] | None = None,
        unreadable: list[UnreadableEvent] | None = None,
    ) -> list[BusyInterval]:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            return []
        intervals: list[BusyInterval] = []
        free_busy_only: list[str] = []
        for calendar_id in calendar_ids or ["primary"]:
            try:
                intervals.extend(
                    self._busy_from_events(
                        calendar_id=calendar_id, start=start, end=end, unreadable=unreadable
                    )
                )
            except _Passthrough:
                # 403/404 on events.list: the calendar is shared "free/busy only"
                # (or gone); freeBusy tells which, and raises if it is gone.
                free_busy_only.append(calendar_id)
        if free_busy_only:
            intervals.extend(self._busy_from_free_busy(calendar_ids=free_busy_only, start=start, end=end))
        intervals.sort(key=lambda i: (i.start, i.end))
        return intervals

    def _list_events(self, *, what: str, passthrough: Sequence[int] = (), **params: Any) -> Iterator[Any]:
        """Every page of an events.list query (the page dicts)."""
        page_token: str | None = None
        while True:
            page = self._execute(
                self._service.events().list(pageToken=page_token, maxResults=self._page_size, **params),
                what=what,
                passthrough=passthrough,
            )
            page_token = page.get("nextPageToken")
            yield page
            del page  # not kept while the next page is read: one page in memory at a time
            if not page_token:
                return

    def _busy_from_events(
        self,
        *,
        calendar_id: str,
        start: datetime,
        end: datetime,
        unreadable: list[UnreadableEvent] | None = None,
    ) -> list[BusyInterval]:
        intervals: list[BusyInterval] = []
        for page in self._list_events(
            what="reading your busy times",
            passthrough=(403, 404),
            calendarId=calendar_id,
            timeMin=_rfc3339(start),
            timeMax=_rfc3339(end),
            singleEvents=True,
        ):
            # All-day events are days in the calendar's own zone (events.list's
            # ``timeZone``); the host's zone only when Google gives none.
            zone = _zone(page.get("timeZone") or self._time_zone)
            for event in page.get("items", []):
                status = busy_status(event)
                if status is None:
                    continue
                try:
                    event_start, _ = _event_time(event["start"], zone=zone)
                    event_end, _ = _event_time(event["end"], zone=zone)
                    if event_end <= event_start:
                        raise ValueError("the event ends before it starts")
                except (KeyError, TypeError, ValueError) as error:
                    event_start, event_end = _unreadable_span(event, error, zone=zone, start=start, end=end)
                    if unreadable is not None:
                        unreadable.append(_unreadable_event(event, error, zone=zone))
                event_start, event_end = max(event_start, start), min(event_end, end)
                if event_end > event_start:
                    intervals.append(BusyInterval(start=event_start, end=event_end, status=status))
        return intervals

    def _busy_from_free_busy(
        self, *, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[BusyInterval]:
        body = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "items": [{"id": calendar_id} for calendar_id in calendar_ids],
        }
        answer = self._execute(self._service.freebusy().query(body=body), what="reading your busy times")
        intervals: list[BusyInterval] = []
        calendars = answer.get("calendars", {})
        for calendar_id in calendar_ids:
            entry = calendars.get(calendar_id)
            if entry is None or entry.get("errors"):
                # Fail closed: a calendar we cannot read must not look free.
                reasons = (
                    ", ".join(e.get("reason", "?") for e in (entry or {}).get("errors", [])) or "missing"
                )
                raise CalendarUnavailable(
                    f"Google Calendar could not read the calendar {calendar_id} ({reasons}). "
                    "Check that it is still shared with you."
                )
            for period in entry.get("busy", []):
                period_start = datetime.fromisoformat(period["start"]).astimezone(UTC)
                period_end = datetime.fromisoformat(period["end"]).astimezone(UTC)
                if period_end > period_start:
                    intervals.append(BusyInterval(start=period_start, end=period_end, status="busy"))
        return intervals

    # -- writes ---------------------------------------------------------------

    @staticmethod
    def _event_body(draft: EventDraft) -> dict[str, Any]:
        zone = _zone(draft.time_zone)
        body: dict[str, Any] = {
            "summary": draft.title,
            "start": {"dateTime": draft.start.astimezone(zone).isoformat(), "timeZone": draft.time_zone},
            "end": {"dateTime": draft.end.astimezone(zone).isoformat(), "timeZone": draft.time_zone},
            "attendees": [
                {"email": a.email, **({"displayName": a.name} if a.name else {})} for a in draft.attendees
            ],
            "extendedProperties": {"private": {UID_PROPERTY: draft.uid}},
        }
        if draft.description:
            body["description"] = draft.description
        if draft.location:
            body["location"] = draft.location
        return body

    def create_event(self, *, draft: EventDraft, calendar_id: str | None = None) -> str:
        """Insert the event and invite the attendees; a retried call returns the same id.

        The id is derived from ``draft.uid``, so a write that reached Google
        but whose answer was lost comes back as 409 "duplicate" on retry.
        """
        if draft.start.tzinfo is None or draft.end.tzinfo is None:
            raise ValueError("draft times must be timezone-aware")
        event_id = google_event_id(draft.uid)
        body = {"id": event_id, **self._event_body(draft)}
        try:
            created = self._execute(
                self._service.events().insert(
                    calendarId=calendar_id or "primary", body=body, sendUpdates="all"
                ),
                what="adding the meeting to your calendar",
                passthrough=(409,),
            )
        except _Passthrough:
            logger.info("event %s already exists on Google; treating the insert as done", event_id)
            return event_id
        return str(created.get("id", event_id))

    def update_event(self, *, event_id: str, draft: EventDraft, calendar_id: str | None = None) -> None:
        self._execute(
            self._service.events().patch(
                calendarId=calendar_id or "primary",
                eventId=event_id,
                body=self._event_body(draft),
                sendUpdates="all",
            ),
            what="changing the meeting in your calendar",
        )

    def cancel_event(self, *, event_id: str, calendar_id: str | None = None) -> None:
        """Delete the event and notify attendees; an event already gone counts as cancelled."""
        try:
            self._execute(
                self._service.events().delete(
                    calendarId=calendar_id or "primary", eventId=event_id, sendUpdates="all"
                ),
                what="cancelling the meeting in your calendar",
                passthrough=(404, 410),
            )
        except _Passthrough:
            logger.info("event %s was already deleted on Google", event_id)

    # -- sync -----------------------------------------------------------------

    def sync(self, *, token: str | None, calendar_id: str | None = None) -> SyncResult:
        return whole_listing(self.sync_pages(token=token, calendar_id=calendar_id))

    def sync_pages(self, *, token: str | None, calendar_id: str | None = None) -> Iterator[SyncPage]:
        """Changes since ``token``, one events.list page at a time (None: a complete listing).

        Google puts ``nextSyncToken`` only on the last page. An expired token
        answers 410 ``fullSyncRequired``; then everything is listed again and
        the pages say ``full=True`` so the caller drops what it did not see.
        """
        calendar = calendar_id or "primary"
        if token:
            try:
                yield from self._sync_pages(calendar_id=calendar, token=token)
                return
            except _Passthrough as gone:
                logger.info("Google sync token for %s rejected (%s); full resync", calendar, gone.reason)
        yield from self._sync_pages(calendar_id=calendar, token=None)

    def _sync_pages(self, *, calendar_id: str, token: str | None) -> Iterator[SyncPage]:
        params: dict[str, Any] = {"calendarId": calendar_id, "singleEvents": True}
        if token:
            params["syncToken"] = token
        for page in self._list_events(what="syncing your calendar", passthrough=(410,), **params):
            zone = _zone(self._time_zone or page.get("timeZone"))
            changed: list[RemoteEvent] = []
            removed: list[str] = []
            for event in page.get("items", []):
                if event.get("status") == "cancelled":
                    removed.append(event["id"])
                elif "start" in event and "end" in event:
                    changed.append(self._remote_event(event, zone=zone))
            last = not page.get("nextPageToken")
            next_token = str(page.get("nextSyncToken") or "") if last else ""
            del page  # neither it nor this page's events are kept while the next page is read
            yield SyncPage(changed=changed, removed=removed, full=token is None, token=next_token, last=last)
            del changed, removed

    @staticmethod
    def _remote_event(event: Mapping[str, Any], *, zone: ZoneInfo) -> RemoteEvent:
        start, all_day = _event_time(event["start"], zone=zone)
        end, _ = _event_time(event["end"], zone=zone)
        private = event.get("extendedProperties", {}).get("private", {})
        original = event.get("originalStartTime")
        recurrence_id = ""
        if isinstance(original, Mapping) and ("dateTime" in original or "date" in original):
            recurrence_id = _rfc3339(_event_time(original, zone=zone)[0])
        return RemoteEvent(
            id=event["id"],
            uid=private.get(UID_PROPERTY) or event.get("iCalUID"),
            title=event.get("summary", ""),
            start=start,
            end=end,
            attendees=tuple(
                Attendee(
                    email=a["email"],
                    name=a.get("displayName", ""),
                    response=_GOOGLE_RESPONSES.get(str(a.get("responseStatus", "")), ""),
                )
                for a in event.get("attendees", [])
                if a.get("email")
            ),
            all_day=all_day,
            location=event.get("location", ""),
            description=event.get("description", ""),
            show_as=busy_status(event) or "free",
            status=str(event.get("status") or "confirmed"),
            series_id=str(event.get("recurringEventId") or ""),
            recurrence_id=recurrence_id,
            organizer=str((event.get("organizer") or {}).get("email") or ""),
            etag=str(event.get("etag") or ""),
            changed_at=_parse_updated(event.get("updated")),
        )

    # -- push -----------------------------------------------------------------

    def watch(
        self,
        *,
        channel_id: str,
        address: str,
        token: str,
        calendar_id: str | None = None,
        ttl_seconds: int | None = None,
    ) -> GoogleChannel:
        """Open a push channel; Google then POSTs headers-only notifications to ``address``."""
        body: dict[str, Any] = {"id": channel_id, "type": "web_hook", "address": address, "token": token}
        if ttl_seconds is not None:
            body["params"] = {"ttl": str(ttl_seconds)}
        answer = self._execute(
            self._service.events().watch(calendarId=calendar_id or "primary", body=body, singleEvents=True),
            what="subscribing to calendar changes",
        )
        expiration = answer.get("expiration")
        return GoogleChannel(
            id=answer.get("id", channel_id),
            resource_id=answer.get("resourceId", ""),
            expiration=datetime.fromtimestamp(int(expiration) / 1000, tz=UTC) if expiration else None,
        )

    def stop_channel(self, *, channel_id: str, resource_id: str) -> None:
        try:
            self._execute(
                self._service.channels().stop(body={"id": channel_id, "resourceId": resource_id}),
                what="unsubscribing from calendar changes",
                passthrough=(404,),
            )
        except _Passthrough:
            logger.info("Google channel %s was already gone", channel_id)


@dataclass(frozen=True, slots=True)
class GoogleConnection:
    account_email: str
    calendars: list[CalendarInfo]
    tokens: OAuthTokens


def google_verify_connection(
    *,
    tokens: OAuthTokens,
    client_id: str,
    client_secret: str,
    endpoints: GoogleEndpoints | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> GoogleConnection:
    """Check the tokens work: the account's email and its calendars.

    Raises CalendarAuthError/GrantRevoked or CalendarUnavailable with a message
    for the user. ``tokens`` in the answer may be refreshed ones: store them.
    """
    adapter = GoogleCalendarAdapter(
        tokens=tokens,
        client_id=client_id,
        client_secret=client_secret,
        endpoints=endpoints,
        timeout=timeout,
    )
    try:
        email = adapter.account_email()
        calendars = adapter.list_calendars()
    finally:
        adapter.close()
    return GoogleConnection(account_email=email, calendars=calendars, tokens=adapter.tokens)
