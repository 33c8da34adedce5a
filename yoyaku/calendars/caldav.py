"""CalDAV adapter (RFC 4791, RFC 6578, RFC 6764) over httpx with hand-written WebDAV XML.

Why not the ``caldav`` library: every URL we fetch comes from a user or from a
server the user named, so each request (including every redirect hop and every
href a server hands back) must pass the SSRF check first; we also need exact
control of the conditional headers (If-None-Match / If-Match), of the
sync-collection error precondition (RFC 6578 §3.2) and of how failures map to
CalendarUnavailable / CalendarAuthError. The protocol surface we use is four
requests (PROPFIND, REPORT, PUT, GET), which is less code to own than the
wrapping needed to get the same guarantees out of the library.

Busy time is computed client-side from full calendar objects (masters with
their overrides), not with server-side expansion, because servers differ in how
they expand and an override can move an instance into or out of the window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import icalendar
from lxml import etree

from yoyaku.calendars.base import (
    SYNC_FUTURE,
    SYNC_PAST,
    Attendee,
    BusyInterval,
    CalendarAuthError,
    CalendarError,
    CalendarInfo,
    CalendarUnavailable,
    EventDraft,
    RemoteEvent,
    SyncResult,
)
from yoyaku.calendars.ical_build import event_to_ical
from yoyaku.calendars.ical_busy import busy_from_calendar
from yoyaku.calendars.ssrf import UnsafeURLError, check_url

logger = logging.getLogger(__name__)

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
_NS = {"d": DAV, "c": CALDAV}

AUTH_MESSAGE = "The CalDAV server rejected the username or password."
MAX_REDIRECTS = 5
MULTIGET_BATCH = 100
# Servers read floating times and all-day dates in their own zone (or UTC) when
# filtering by time range; widen the query so nothing the host's zone would
# place inside the window is missed, then clip client-side.
QUERY_MARGIN = timedelta(days=2)

# A hardened parser: no entity expansion, no network, no huge trees.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


@dataclass
class _DavResponse:
    href: str
    status: int | None = None
    props: dict[str, Any] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)


class CalDAVAdapter:
    provider = "caldav"

    def __init__(
        self,
        *,
        url: str,
        username: str,
        password: str,
        time_zone: str,
        owner_email: str = "",
        calendar_url: str | None = None,
        timeout: float = 10.0,
        allowed_networks: Sequence[str] = (),
    ) -> None:
        self.url = url
        self.username = username
        self.time_zone = time_zone
        self.owner_email = owner_email
        self.allowed_networks = tuple(allowed_networks)
        self.calendar_url = self._absolute(calendar_url) if calendar_url else None
        self._auth: httpx.Auth = httpx.BasicAuth(username, password)
        self._password = password
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._checked_hosts: set[tuple[str, str, int | None]] = set()
        self._calendars: list[CalendarInfo] | None = None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> CalDAVAdapter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- CalendarAdapter -----------------------------------------------------

    def list_calendars(self) -> list[CalendarInfo]:
        if self._calendars is None:
            self._calendars = self._discover()
        return list(self._calendars)

    def busy(
        self, *, start: datetime, end: datetime, calendar_ids: Sequence[str] | None = None
    ) -> list[BusyInterval]:
        if calendar_ids is None:
            urls = [c.id for c in self.list_calendars()]
        else:
            urls = [self._absolute(c) for c in calendar_ids]
        owners = [e for e in (self.owner_email, self.username) if "@" in e]
        result: list[BusyInterval] = []
        for calendar in urls:
            # Fail closed: any calendar that cannot be read raises, so no slots are
            # offered from a partial picture.
            for _href, data, _etag in self._calendar_query(calendar, start=start, end=end):
                result.extend(
                    busy_from_calendar(
                        calendar=data, start=start, end=end, time_zone=self.time_zone, owner_emails=owners
                    )
                )
        result.sort(key=lambda i: (i.start, i.end))
        return result

    def create_event(self, *, draft: EventDraft, calendar_id: str | None = None) -> str:
        collection = self._write_calendar(calendar_id)
        href = urljoin(collection, quote(f"{draft.uid}.ics", safe="@"))
        response = self._request(
            "PUT",
            href,
            content=event_to_ical(draft=draft),
            headers={"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"},
            ok=(200, 201, 204, 412, 403, 409),
        )
        if response.status_code == 412:
            # RFC 4791 §5.3.2: If-None-Match: * failed, so the object is already
            # there: this is a retry of a write that went through.
            return self._canonical(href)
        if response.status_code in (403, 409):
            existing = _no_uid_conflict_href(response.content)
            if existing is not None:
                # RFC 4791 §5.3.2.1: the UID is already used by another resource.
                return self._canonical(urljoin(href, existing))
            if response.status_code == 403:
                raise CalendarAuthError("The CalDAV server does not allow Yoyaku to write to this calendar.")
            raise CalendarError(f"The CalDAV server refused the new event ({response.status_code}).")
        return self._canonical(href)

    def update_event(self, *, event_id: str, draft: EventDraft, calendar_id: str | None = None) -> None:
        href = self._absolute(event_id)
        for _attempt in range(3):
            current, etag = self._get_object(href)
            sequence = _max_sequence(current) + 1
            status = "CANCELLED" if _is_cancelled(current) else "CONFIRMED"
            if self._put_if_match(href, event_to_ical(draft=draft, sequence=sequence, status=status), etag):
                return
        raise CalendarError("The event kept changing on the CalDAV server; try again.")

    def event_sequence(self, *, event_id: str) -> int:
        """The event's SEQUENCE on the server (0 if it is gone), for iMIP mail about it to carry.

        Attendees' clients apply an update or cancellation only with a SEQUENCE at
        least the one they have (RFC 5546 §2.1.4); writes here bump the stored one.
        """
        try:
            current, _etag = self._get_object(self._absolute(event_id))
        except _NotFound:
            return 0
        return _max_sequence(current)

    def cancel_event(self, *, event_id: str, calendar_id: str | None = None) -> None:
        """Mark the event STATUS:CANCELLED and bump SEQUENCE (RFC 5545 §3.8.1.11, §3.8.7.4).

        Rather than DELETE: the host's other clients and any attendee copies
        that sync from this calendar show the meeting as cancelled instead of
        silently losing it, busy-time extraction already treats it as free,
        sync reports it as a change with ``cancelled=True`` (not a deletion the
        CRM would have to guess about), and cancelling twice is harmless.
        """
        href = self._absolute(event_id)
        for _attempt in range(3):
            try:
                current, etag = self._get_object(href)
            except _NotFound:
                return  # already gone: nothing left to cancel
            if _is_cancelled(current):
                return
            sequence = _max_sequence(current) + 1
            for event in current.walk("VEVENT"):
                event.pop("STATUS", None)
                event.add("STATUS", "CANCELLED")
                event.pop("SEQUENCE", None)
                event.add("SEQUENCE", sequence)
                event.pop("DTSTAMP", None)
                event.add("DTSTAMP", datetime.now(UTC))
            if self._put_if_match(href, current.to_ical(), etag):
                return
        raise CalendarError("The event kept changing on the CalDAV server; try again.")

    def sync(self, *, token: str | None, calendar_id: str | None = None) -> SyncResult:
        collection = self._absolute(calendar_id) if calendar_id else self._default_calendar()
        if token:
            try:
                return self._sync_from(collection, token, full=False)
            except _InvalidSyncToken:
                logger.info("CalDAV sync token for %s was rejected; doing a full sync", collection)
        return self._sync_from(collection, "", full=True)

    # -- discovery -----------------------------------------------------------

    def _discover(self) -> list[CalendarInfo]:
        principal = self._find_principal()
        if principal is None:
            if self.calendar_url:
                return [CalendarInfo(id=self.calendar_url, name=self.calendar_url, primary=True)]
            raise CalendarError(f"No CalDAV calendar was found at {self.url}.")
        homes = self._calendar_homes(principal)
        if not homes:
            if self.calendar_url:
                return [CalendarInfo(id=self.calendar_url, name=self.calendar_url, primary=True)]
            raise CalendarError(
                f"No CalDAV calendar was found at {self.url}: the account has no calendar home."
            )
        calendars: list[CalendarInfo] = []
        seen: set[str] = set()
        for home in homes:
            for info in self._calendars_in(home):
                if info.id not in seen:
                    seen.add(info.id)
                    calendars.append(info)
        if self.calendar_url and self.calendar_url not in seen:
            calendars.insert(0, CalendarInfo(id=self.calendar_url, name=self.calendar_url))
        primary_id = self.calendar_url or next((c.id for c in calendars if c.writable), None)
        return [
            CalendarInfo(id=c.id, name=c.name, primary=c.id == primary_id, writable=c.writable)
            for c in calendars
        ]

    def _find_principal(self) -> str | None:
        """RFC 6764 §6: ask the given URL, then /.well-known/caldav, then the server root."""
        parts = urlsplit(self.url)
        origin = urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
        candidates = [self.url, urljoin(origin, "/.well-known/caldav"), origin]
        if self.calendar_url:
            candidates.insert(1, self.calendar_url)
        tried: set[str] = set()
        for candidate in candidates:
            if candidate in tried:
                continue
            tried.add(candidate)
            responses = self._propfind(candidate, [(DAV, "current-user-principal")], depth=0, tolerate=True)
            for item in responses or []:
                element = item.props.get(_q(DAV, "current-user-principal"))
                href = _first_href(element)
                if href:
                    return self._canonical(urljoin(item.href, href))
        return None

    def _calendar_homes(self, principal: str) -> list[str]:
        responses = self._propfind(principal, [(CALDAV, "calendar-home-set")], depth=0, tolerate=True) or []
        homes: list[str] = []
        for item in responses:
            element = item.props.get(_q(CALDAV, "calendar-home-set"))
            if element is None:
                continue
            for href in element.iter(_q(DAV, "href")):
                if href.text:
                    homes.append(self._canonical(urljoin(principal, href.text.strip())))
        return homes

    def _calendars_in(self, home: str) -> Iterator[CalendarInfo]:
        props = [
            (DAV, "resourcetype"),
            (DAV, "displayname"),
            (CALDAV, "supported-calendar-component-set"),
            (DAV, "current-user-privilege-set"),
        ]
        for item in self._propfind(home, props, depth=1) or []:
            resourcetype = item.props.get(_q(DAV, "resourcetype"))
            if resourcetype is None or resourcetype.find(_q(CALDAV, "calendar")) is None:
                continue
            components = item.props.get(_q(CALDAV, "supported-calendar-component-set"))
            if components is not None and len(components):
                names = {str(c.get("name", "")).upper() for c in components.iter(_q(CALDAV, "comp"))}
                if "VEVENT" not in names:
                    continue  # task lists and journals hold no busy time
            url = self._canonical(urljoin(home, item.href))
            name_element = item.props.get(_q(DAV, "displayname"))
            name = (name_element.text or "").strip() if name_element is not None else ""
            yield CalendarInfo(
                id=url,
                name=name or unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]),
                writable=_writable(item.props.get(_q(DAV, "current-user-privilege-set"))),
            )

    def _default_calendar(self) -> str:
        if self.calendar_url:
            return self.calendar_url
        calendars = self.list_calendars()
        for calendar in calendars:
            if calendar.primary:
                return calendar.id
        if not calendars:
            raise CalendarError(f"No CalDAV calendar was found at {self.url}.")
        return calendars[0].id

    def _write_calendar(self, calendar_id: str | None) -> str:
        if calendar_id:
            return self._absolute(calendar_id)
        return self._default_calendar()

    # -- reading objects -----------------------------------------------------

    def _calendar_query(
        self, collection: str, *, start: datetime, end: datetime
    ) -> Iterator[tuple[str, bytes, str]]:
        """RFC 4791 §7.8: every object with an instance overlapping the range, unexpanded."""
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<c:calendar-query xmlns:d="{DAV}" xmlns:c="{CALDAV}">'
            "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            f'<c:time-range start="{_utc_stamp(start - QUERY_MARGIN)}"'
            f' end="{_utc_stamp(end + QUERY_MARGIN)}"/>'
            "</c:comp-filter></c:comp-filter></c:filter>"
            "</c:calendar-query>"
        )
        responses = self._report(collection, body, depth=1)
        yield from self._objects(collection, responses)

    def _multiget(self, collection: str, hrefs: Sequence[str]) -> Iterator[tuple[str, bytes, str]]:
        """RFC 4791 §7.9: fetch objects by href, in batches."""
        for index in range(0, len(hrefs), MULTIGET_BATCH):
            batch = hrefs[index : index + MULTIGET_BATCH]
            href_xml = "".join(f"<d:href>{escape(urlsplit(h).path)}</d:href>" for h in batch)
            body = (
                '<?xml version="1.0" encoding="utf-8"?>'
                f'<c:calendar-multiget xmlns:d="{DAV}" xmlns:c="{CALDAV}">'
                f"<d:prop><d:getetag/><c:calendar-data/></d:prop>{href_xml}"
                "</c:calendar-multiget>"
            )
            yield from self._objects(collection, self._report(collection, body, depth=1))

    def _objects(self, collection: str, responses: list[_DavResponse]) -> Iterator[tuple[str, bytes, str]]:
        for item in responses:
            data = item.props.get(_q(CALDAV, "calendar-data"))
            if data is None or not (data.text or "").strip():
                continue
            etag_element = item.props.get(_q(DAV, "getetag"))
            etag = (etag_element.text or "").strip() if etag_element is not None else ""
            yield self._canonical(urljoin(collection, item.href)), data.text.encode("utf-8"), etag

    def _get_object(self, href: str) -> tuple[icalendar.Calendar, str]:
        response = self._request("GET", href, ok=(200, 404, 410))
        if response.status_code in (404, 410):
            raise _NotFound(href)
        try:
            calendar = icalendar.Calendar.from_ical(response.content)
        except Exception as error:
            raise CalendarError("The event on the CalDAV server could not be read.") from error
        return calendar, response.headers.get("ETag", "")

    def _put_if_match(self, href: str, data: bytes, etag: str) -> bool:
        """PUT guarded by the ETag we read (RFC 4791 §5.3.4); False if someone changed it meanwhile."""
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if etag:
            headers["If-Match"] = etag
        response = self._request("PUT", href, content=data, headers=headers, ok=(200, 201, 204, 404, 412))
        if response.status_code == 404:
            raise CalendarError("The event no longer exists on the CalDAV server.")
        return response.status_code != 412

    # -- sync ----------------------------------------------------------------

    def _sync_from(self, collection: str, token: str, *, full: bool) -> SyncResult:
        changed_hrefs: list[str] = []
        removed: list[str] = []
        current = token
        # RFC 6578 §3.6: a server may truncate the result (507 on the collection);
        # keep asking with the new token until it stops.
        for _round in range(100):
            body = (
                '<?xml version="1.0" encoding="utf-8"?>'
                f'<d:sync-collection xmlns:d="{DAV}">'
                f"<d:sync-token>{escape(current)}</d:sync-token>"
                "<d:sync-level>1</d:sync-level>"
                "<d:prop><d:getetag/></d:prop>"
                "</d:sync-collection>"
            )
            response = self._request(
                "REPORT",
                collection,
                content=body.encode(),
                headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"},
                ok=(207, 403, 409),
            )
            if response.status_code in (403, 409):
                if current and b"valid-sync-token" in response.content:
                    # RFC 6578 §3.2 precondition DAV:valid-sync-token.
                    raise _InvalidSyncToken(current)
                if response.status_code == 403:
                    raise CalendarAuthError(AUTH_MESSAGE)
                raise CalendarError(f"The CalDAV server refused to sync ({response.status_code}).")
            root = _parse_xml(response.content)
            token_element = root.find(_q(DAV, "sync-token"))
            new_token = (token_element.text or "").strip() if token_element is not None else ""
            truncated = False
            collection_path = urlsplit(collection).path.rstrip("/")
            for item in _responses(root):
                url = self._canonical(urljoin(collection, item.href))
                if urlsplit(url).path.rstrip("/") == collection_path:
                    truncated = item.status == 507
                    continue
                if item.status in (404, 410):
                    removed.append(url)
                    if url in changed_hrefs:
                        changed_hrefs.remove(url)
                elif url not in changed_hrefs:
                    changed_hrefs.append(url)
                    if url in removed:
                        removed.remove(url)
            if not new_token:
                raise CalendarError("The CalDAV server did not return a sync token.")
            current = new_token
            if not truncated:
                break
        changed: list[RemoteEvent] = []
        for href, data, _etag in self._multiget(collection, changed_hrefs):
            event = self._remote_event(href, data)
            if event is not None:
                changed.append(event)
        return SyncResult(changed=changed, removed=removed, token=current, full=full)

    def _remote_event(self, href: str, data: bytes) -> RemoteEvent | None:
        try:
            calendar = icalendar.Calendar.from_ical(data)
            events = list(calendar.walk("VEVENT"))
            if not events:
                return None
            master = next((e for e in events if "RECURRENCE-ID" not in e), events[0])
            start_value = master.decoded("DTSTART")
            all_day = not isinstance(start_value, datetime)
            start = self._to_utc(start_value)
            if "DTEND" in master:
                end = self._to_utc(master.decoded("DTEND"))
            elif "DURATION" in master:
                end = self._to_utc(start_value + master.decoded("DURATION"))
            else:
                end = self._to_utc(start_value + timedelta(days=1)) if all_day else start
            attendees = tuple(_attendee(a) for a in _as_list(master.get("ATTENDEE")))
            organizer = str(master.get("ORGANIZER", ""))
            if organizer.lower().startswith("mailto:"):
                organizer = organizer[7:]
            status = str(master.get("STATUS", "")).upper()
            modified = master.get("LAST-MODIFIED")
            changed_at = modified.dt if modified is not None and isinstance(modified.dt, datetime) else None
            # CalDAV objects hold a whole series (RRULE, overrides, EXDATEs): expand it here with the
            # same busy rules as a busy query, over the sync's window, so the store keeps instances.
            now = datetime.now(UTC)
            owners = [e for e in (self.owner_email, self.username) if "@" in e]
            occurrences = busy_from_calendar(
                calendar=calendar,
                start=now - SYNC_PAST,
                end=now + SYNC_FUTURE,
                time_zone=self.time_zone,
                owner_emails=owners,
            )
            return RemoteEvent(
                id=href,
                uid=str(master["UID"]) if "UID" in master else None,
                title=str(master.get("SUMMARY", "")),
                start=start,
                end=end,
                attendees=attendees,
                cancelled=status == "CANCELLED",
                all_day=all_day,
                location=str(master.get("LOCATION", "")),
                description=str(master.get("DESCRIPTION", "")),
                show_as=occurrences[0].status if occurrences else "free",
                status=status.lower() or "confirmed",
                organizer=organizer.strip(),
                changed_at=changed_at,
                expanded=True,
                occurrences=tuple(occurrences),
            )
        except Exception as error:
            logger.warning("Skipping unreadable CalDAV object %s: %s", href, error)
            return None

    def _to_utc(self, value: date | datetime) -> datetime:
        try:
            zone: Any = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                value = value.replace(tzinfo=zone)  # floating: the host's zone
            return value.astimezone(UTC)
        return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)

    # -- WebDAV plumbing -----------------------------------------------------

    def _propfind(
        self, url: str, props: Sequence[tuple[str, str]], *, depth: int, tolerate: bool = False
    ) -> list[_DavResponse] | None:
        prop_xml = "".join(f'<x:{name} xmlns:x="{namespace}"/>' for namespace, name in props)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<d:propfind xmlns:d="DAV:"><d:prop>{prop_xml}</d:prop></d:propfind>'
        )
        # While probing for the principal, anything but a 207 just means "not here".
        ok = (200, 204, 207, 400, 403, 404, 405, 406, 409, 415, 501) if tolerate else (207,)
        response = self._request(
            "PROPFIND",
            url,
            content=body.encode(),
            headers={"Depth": str(depth), "Content-Type": "application/xml; charset=utf-8"},
            ok=ok,
            forbidden_is_auth=not tolerate,
        )
        if response.status_code != 207:
            return None
        try:
            root = _parse_xml(response.content)
        except CalendarError:
            if tolerate:
                return None
            raise
        base = str(response.url)
        return [
            _DavResponse(href=urljoin(base, r.href), status=r.status, props=r.props, missing=r.missing)
            for r in _responses(root)
        ]

    def _report(self, url: str, body: str, *, depth: int) -> list[_DavResponse]:
        response = self._request(
            "REPORT",
            url,
            content=body.encode(),
            headers={"Depth": str(depth), "Content-Type": "application/xml; charset=utf-8"},
            ok=(207,),
        )
        return _responses(_parse_xml(response.content))

    def _request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: Sequence[int] = (200, 201, 204, 207),
        forbidden_is_auth: bool = True,
    ) -> httpx.Response:
        """One request, following redirects by hand so that every hop passes the SSRF check."""
        for _hop in range(MAX_REDIRECTS + 1):
            self._check(url)
            try:
                response = self._client.request(
                    method, url, content=content, headers=headers, auth=self._auth
                )
                if response.status_code == 401 and self._wants_digest(response):
                    response = self._client.request(
                        method, url, content=content, headers=headers, auth=self._auth
                    )
            except httpx.TimeoutException as error:
                raise CalendarUnavailable(
                    f"The CalDAV server at {_host(url)} did not answer in time."
                ) from error
            except httpx.HTTPError as error:
                raise CalendarUnavailable(
                    f"The CalDAV server at {_host(url)} could not be reached."
                ) from error
            status = response.status_code
            if status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                # RFC 6764 §5: /.well-known/caldav answers with a redirect; the
                # same request goes to the new place (after its own SSRF check).
                url = urljoin(url, response.headers["Location"])
                if status == 303:
                    method, content = "GET", None
                continue
            if status in ok:
                return response
            if status == 401 or (status == 403 and forbidden_is_auth):
                raise CalendarAuthError(AUTH_MESSAGE)
            if status == 429 or status >= 500:
                raise CalendarUnavailable(
                    f"The CalDAV server at {_host(url)} is not available right now ({status})."
                )
            if status in (404, 410):
                raise CalendarError(f"No CalDAV calendar was found at {url}.")
            raise CalendarError(f"The CalDAV server answered {method} with an unexpected status {status}.")
        raise CalendarError(f"The CalDAV server at {_host(url)} redirected too many times.")

    def _wants_digest(self, response: httpx.Response) -> bool:
        challenge = response.headers.get("WWW-Authenticate", "").lower()
        if isinstance(self._auth, httpx.DigestAuth) or not challenge.startswith("digest"):
            return False
        self._auth = httpx.DigestAuth(self.username, self._password)
        return True

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "", parts.port)
        if key in self._checked_hosts:
            return
        try:
            check_url(url, allowed_networks=self.allowed_networks)
        except UnsafeURLError as error:
            raise CalendarError(str(error)) from error
        self._checked_hosts.add(key)

    def _absolute(self, href: str) -> str:
        return self._canonical(urljoin(self.url, href))

    @staticmethod
    def _canonical(url: str) -> str:
        """One spelling per resource, so ids from create, busy and sync compare equal."""
        parts = urlsplit(url)
        path = quote(unquote(parts.path), safe="/@:+!$&'()*,;=~")
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class _InvalidSyncToken(Exception):
    pass


class _NotFound(Exception):
    pass


def connect_caldav(
    *,
    url: str,
    username: str,
    password: str,
    time_zone: str,
    owner_email: str = "",
    allowed_networks: Sequence[str] = (),
    timeout: float = 10.0,
) -> tuple[CalDAVAdapter, list[CalendarInfo]]:
    """Check the URL, the credentials and discovery; return the adapter and its calendars.

    Raises CalendarError (or a subclass) with a message fit to show the user.
    """
    url = url.strip()
    if not urlsplit(url).scheme:
        url = f"https://{url}"
    adapter = CalDAVAdapter(
        url=url,
        username=username,
        password=password,
        time_zone=time_zone,
        owner_email=owner_email,
        timeout=timeout,
        allowed_networks=allowed_networks,
    )
    try:
        try:
            check_url(url, allowed_networks=allowed_networks)
        except UnsafeURLError as error:
            raise CalendarError(str(error)) from error
        calendars = adapter.list_calendars()
        if not calendars:
            raise CalendarError(
                f"No CalDAV calendar was found at {url}: the account has no calendars that hold events."
            )
        if not any(c.writable for c in calendars):
            raise CalendarError(
                f"The CalDAV calendars at {url} are all read-only; Yoyaku needs one it can write."
            )
    except Exception:
        adapter.close()
        raise
    return adapter, calendars


# -- XML helpers ---------------------------------------------------------------


def _parse_xml(content: bytes) -> Any:
    try:
        return etree.fromstring(content, parser=_PARSER)
    except etree.XMLSyntaxError as error:
        raise CalendarError("The CalDAV server sent a response that is not valid XML.") from error


def _status_code(text: str | None) -> int | None:
    # "HTTP/1.1 404 Not Found"
    if not text:
        return None
    pieces = text.split()
    if len(pieces) >= 2 and pieces[1].isdigit():
        return int(pieces[1])
    return None


def _responses(root: Any) -> list[_DavResponse]:
    result: list[_DavResponse] = []
    for response in root.iter(_q(DAV, "response")):
        href_element = response.find(_q(DAV, "href"))
        if href_element is None or not (href_element.text or "").strip():
            continue
        item = _DavResponse(href=href_element.text.strip())
        status_element = response.find(_q(DAV, "status"))
        if status_element is not None:
            item.status = _status_code(status_element.text)
        for propstat in response.iter(_q(DAV, "propstat")):
            code = _status_code(propstat.findtext(_q(DAV, "status")))
            prop = propstat.find(_q(DAV, "prop"))
            if prop is None:
                continue
            for child in prop:
                if code == 200:
                    item.props[child.tag] = child
                else:
                    item.missing.add(child.tag)
        result.append(item)
    return result


def _first_href(element: Any) -> str | None:
    if element is None:
        return None
    href = element.find(_q(DAV, "href"))
    if href is None or not (href.text or "").strip():
        return None
    return str(href.text.strip())


def _writable(privileges: Any) -> bool:
    if privileges is None:
        return True  # not reported: assume yes and let the PUT tell
    names = {child.tag for privilege in privileges.iter(_q(DAV, "privilege")) for child in privilege}
    return bool(names & {_q(DAV, "all"), _q(DAV, "write"), _q(DAV, "write-content"), _q(DAV, "bind")})


def _no_uid_conflict_href(content: bytes) -> str | None:
    try:
        root = _parse_xml(content)
    except CalendarError:
        return None
    conflict = root.find(f".//{_q(CALDAV, 'no-uid-conflict')}")
    return _first_href(conflict)


# -- iCalendar helpers -----------------------------------------------------------


def _max_sequence(calendar: icalendar.Calendar) -> int:
    sequence = 0
    for event in calendar.walk("VEVENT"):
        try:
            sequence = max(sequence, int(event.get("SEQUENCE", 0)))
        except (TypeError, ValueError):
            continue
    return sequence


def _is_cancelled(calendar: icalendar.Calendar) -> bool:
    events = list(calendar.walk("VEVENT"))
    return bool(events) and all(str(e.get("STATUS", "")).upper() == "CANCELLED" for e in events)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# RFC 5545 §3.2.12 PARTSTAT values, as the store keeps them.
_PARTSTATS = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "NEEDS-ACTION": "needs_action",
}


def _attendee(value: Any) -> Attendee:
    email = str(value)
    if email.lower().startswith("mailto:"):
        email = email[7:]
    params = getattr(value, "params", {})
    return Attendee(
        email=email.strip(),
        name=str(params.get("CN", "")),
        response=_PARTSTATS.get(str(params.get("PARTSTAT", "")).upper(), ""),
    )


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
