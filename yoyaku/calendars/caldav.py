"""CalDAV adapter (RFC 4791, RFC 6578, RFC 6764) over httpx with hand-written WebDAV XML.

Why not the ``caldav`` library: every URL we fetch comes from a user or from a
server the user named, so each connection (including every redirect hop and every
href a server hands back) must go to an address that passed the SSRF check
(``ssrf.pinned_transport``), and credentials must go only to the server the user
named, never to another origin and never over a downgrade from https to http
(the library hands both to its HTTP client's redirect handling); we also need exact
control of the conditional headers (If-None-Match / If-Match), of the
sync-collection error precondition (RFC 6578 §3.2) and of how failures map to
CalendarUnavailable / CalendarAuthError. The protocol surface we use is four
requests (PROPFIND, REPORT, PUT, GET), which is less code to own than the
wrapping needed to get the same guarantees out of the library.

Servers differ where the RFCs leave room, so the adapter reads answers by their
precondition, not their status alone: only a 401 asks the user to reconnect; a
403 says what the server refused (a privilege, a report, a UID conflict); a 412
on create is success only once the object is seen to be ours; an invalid sync
token (403/409 ``valid-sync-token``, or 412 as Xandikos answers) means a full
sync; a server without sync-collection is synced by comparing ETags.

Busy time is computed client-side from full calendar objects (masters with
their overrides), not with server-side expansion, because servers differ in how
they expand and an override can move an instance into or out of the window.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import re
import ssl
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON
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
    EventGone,
    RemoteEvent,
    SyncPage,
    SyncResult,
    SyncTokenExpired,
    UnreadableEvent,
    retry_after_seconds,
    whole_listing,
)
from yoyaku.calendars.ical_build import event_to_ical
from yoyaku.calendars.ical_busy import busy_from_calendar
from yoyaku.calendars.ical_window import plainly_outside
from yoyaku.calendars.ssrf import UnsafeURLError, check_url, pinned_transport, unsafe_cause

logger = logging.getLogger(__name__)

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
_NS = {"d": DAV, "c": CALDAV}

AUTH_MESSAGE = "The CalDAV server rejected the username or password."
MAX_REDIRECTS = 5
MULTIGET_BATCH = 100
# A sync token of our own for servers without sync-collection: the ETags of the
# last listing, compressed (see _sync_by_etags).
ETAG_TOKEN_PREFIX = "yoyaku-etags:1:"
# Servers read floating times and all-day dates in a zone of their choosing when
# filtering by time range (RFC 4791 §9.9: the request's, the collection's
# calendar-timezone, else UTC; some use their own); widen the query so nothing the
# host's zone would place inside the window is missed, then clip client-side. Two
# zones' readings of one local time differ by at most 26 hours (UTC-12 to UTC+14);
# an hour more for good measure. Wider costs: the server filters, and Yoyaku
# receives, every object of those hours.
QUERY_MARGIN = timedelta(hours=27)

_CALENDAR_PROPS = [
    (DAV, "resourcetype"),
    (DAV, "displayname"),
    (CALDAV, "supported-calendar-component-set"),
    (DAV, "current-user-privilege-set"),
]
# Preconditions saying an object with this UID exists elsewhere: RFC 4791 §5.3.2.1,
# RFC 6638 §3.2.4.1 (servers doing scheduling allow one object per UID per user).
_UID_CONFLICTS = frozenset(
    {
        "{urn:ietf:params:xml:ns:caldav}no-uid-conflict",
        "{urn:ietf:params:xml:ns:caldav}unique-scheduling-object-resource",
    }
)
# Answers to sync-collection that are not a server failure: a bad token or no such report.
_SYNC_REFUSALS = (400, 403, 405, 409, 412, 415, 501)

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
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            transport=pinned_transport(allowed_networks=self.allowed_networks, verify=tls_context()),
        )
        self._calendars: list[CalendarInfo] | None = None
        # Collections seen to be calendars (a PROPFIND of their resourcetype), once per adapter.
        self._verified: set[str] = set()
        # The calendar the user pasted when connecting, as described by the server.
        self._pasted: CalendarInfo | None = None
        self._owner_addresses: list[str] | None = None
        self._calendar_zones: dict[str, str] = {}

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
        self,
        *,
        start: datetime,
        end: datetime,
        calendar_ids: Sequence[str] | None = None,
        unreadable: list[UnreadableEvent] | None = None,
    ) -> list[BusyInterval]:
        if calendar_ids is None:
            urls = [c.id for c in self.list_calendars()]
        else:
            urls = [self._absolute(c) for c in calendar_ids]
        result: list[BusyInterval] = []
        for calendar in urls:
            # Fail closed: any calendar that cannot be read raises, so no slots are
            # offered from a partial picture. Several servers answer a calendar-query
            # on a plain collection with an empty 207, which would read as "free":
            # the collection must be a calendar.
            self._require_calendar(calendar)
            # The query is widened by a day (QUERY_MARGIN); what plainly lies outside the window is
            # dropped before the costly parse.
            objects = [
                data
                for _href, data, _etag in self._calendar_query(calendar, start=start, end=end)
                if not plainly_outside(data, start=start, end=end)
            ]
            # The owner's addresses and the calendar's zone cost a request each: asked only
            # when an object has attendees, or dates and floating times to place.
            owners = self.owner_addresses() if any(_HAS_PEOPLE.search(d) for d in objects) else []
            zone = (
                self.calendar_time_zone(calendar) if any(_HAS_LOCAL_TIMES.search(d) for d in objects) else ""
            )
            for data in objects:
                result.extend(
                    busy_from_calendar(
                        calendar=data,
                        start=start,
                        end=end,
                        time_zone=zone or self.time_zone,
                        owner_emails=owners,
                        unreadable=unreadable,
                    )
                )
        result.sort(key=lambda i: (i.start, i.end))
        return result

    def owner_addresses(self) -> list[str]:
        """The calendar owner's addresses: the principal's ``calendar-user-address-set`` (RFC 6638 §2.4.1).

        The login is often not the address invitations go to (a username, or one of
        several addresses), so the server's own list is what finds the host among a
        meeting's ORGANIZER and ATTENDEEs; the connection's email and an email-shaped
        login are added. Read once per adapter.
        """
        if self._owner_addresses is None:
            found = [e for e in (self.owner_email, self.username) if "@" in e]
            principal = self._find_principal()
            if principal is not None:
                responses = (
                    self._propfind(principal, [(CALDAV, "calendar-user-address-set")], depth=0, tolerate=True)
                    or []
                )
                for item in responses:
                    element = item.props.get(_q(CALDAV, "calendar-user-address-set"))
                    if element is None:
                        continue
                    for href in element.iter(_q(DAV, "href")):
                        text = (href.text or "").strip()
                        if text.lower().startswith("mailto:"):
                            found.append(unquote(text[7:]))
            self._owner_addresses = list(dict.fromkeys(e.lower() for e in found))
        return list(self._owner_addresses)

    def calendar_time_zone(self, calendar: str) -> str:
        """The zone all-day and floating times of ``calendar`` are read in.

        The collection's ``calendar-timezone`` (RFC 4791 §5.2.2: the zone for floating
        times and dates in queries) when it names a zone we know, else the host's.
        """
        if calendar not in self._calendar_zones:
            zone = self.time_zone
            responses = (
                self._propfind(calendar, [(CALDAV, "calendar-timezone")], depth=0, tolerate=True) or []
            )
            for item in responses:
                element = item.props.get(_q(CALDAV, "calendar-timezone"))
                if element is not None and element.text:
                    zone = _vtimezone_name(element.text) or zone
            self._calendar_zones[calendar] = zone
        return self._calendar_zones[calendar]

    def create_event(self, *, draft: EventDraft, calendar_id: str | None = None) -> str:
        collection = self._write_calendar(calendar_id)
        href = urljoin(collection, quote(f"{draft.uid}.ics", safe="@"))
        response = self._request(
            "PUT",
            href,
            content=event_to_ical(draft=draft, client_schedules=True),
            headers={"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"},
            ok=(200, 201, 204, 412, 403, 409),
        )
        status = response.status_code
        if status in (200, 201, 204):
            return self._canonical(href)
        conditions = _error_conditions(response.content)
        uid_conflict = bool(conditions & _UID_CONFLICTS)
        if status == 412 or uid_conflict:
            # If-None-Match: * failed (RFC 4791 §5.3.2), or the UID is taken
            # (RFC 4791 §5.3.2.1 no-uid-conflict, RFC 6638 §3.2.4.1
            # unique-scheduling-object-resource; Xandikos says so with a 412).
            # Either is a retry of a write that went through only if an object
            # with this UID is really there: find it, or the caller would keep
            # an id that names nothing.
            found = self._find_uid(
                collection, draft.uid, candidates=[href, *_conflict_hrefs(response.content, href)]
            )
            if found is not None:
                return found
            if uid_conflict:
                raise CalendarError(
                    "The CalDAV server says the event's UID is already used by another event, "
                    "which Yoyaku cannot read in this calendar."
                )
            raise CalendarError(
                "The CalDAV server refused to create the event (412 Precondition Failed) "
                "and the event is not in the calendar."
            )
        if status == 403:
            raise _forbidden(conditions, method="PUT", url=href)
        raise CalendarError(f"The CalDAV server refused the new event ({status}).")

    def update_event(self, *, event_id: str, draft: EventDraft, calendar_id: str | None = None) -> None:
        href = self._absolute(event_id)
        for _attempt in range(3):
            # EventGone when it was deleted on the server: a CalendarError, so the
            # caller records it like any refusal instead of an unexpected crash.
            current, etag = self._get_object(href)
            sequence = _max_sequence(current) + 1
            status = "CANCELLED" if _is_cancelled(current) else "CONFIRMED"
            data = event_to_ical(draft=draft, sequence=sequence, status=status, client_schedules=True)
            if self._put_if_match(href, data, etag):
                return
        raise CalendarError("The event kept changing on the CalDAV server; try again.")

    def event_sequence(self, *, event_id: str) -> int:
        """The event's SEQUENCE on the server (0 if it is gone), for iMIP mail about it to carry.

        Attendees' clients apply an update or cancellation only with a SEQUENCE at
        least the one they have (RFC 5546 §2.1.4); writes here bump the stored one.
        """
        try:
            current, _etag = self._get_object(self._absolute(event_id))
        except EventGone:
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
            except EventGone:
                return  # already gone: nothing left to cancel
            if _is_cancelled(current):
                return
            sequence = _max_sequence(current) + 1
            for event in current.walk("VEVENT"):
                # Objects written before Yoyaku marked them: the cancellation is mailed
                # by Yoyaku, so a scheduling server must not mail one too (RFC 6638 §7.1).
                for address in _as_list(event.get("ORGANIZER")) + _as_list(event.get("ATTENDEE")):
                    if hasattr(address, "params"):
                        address.params["SCHEDULE-AGENT"] = "CLIENT"
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
        return whole_listing(self.sync_pages(token=token, calendar_id=calendar_id))

    def sync_pages(self, *, token: str | None, calendar_id: str | None = None) -> Iterator[SyncPage]:
        """Changes since ``token`` (RFC 6578 sync-collection), or a full listing (``full=True``).

        The changed hrefs are listed first (hrefs only, so the listing stays small), then
        fetched MULTIGET_BATCH at a time (calendar-multiget, RFC 4791 §7.9), each batch a page.
        A token the server rejects means a full sync. A server without
        sync-collection is synced by comparing the ETags of a calendar-query
        with those of the last listing, kept in a token of our own.
        """
        collection = self._absolute(calendar_id) if calendar_id else self._default_calendar()
        self._require_calendar(collection)
        if token and token.startswith(ETAG_TOKEN_PREFIX):
            yield from self._sync_by_etags(collection, previous=_decode_etag_token(token))
            return
        try:
            listing: _HrefListing | None = None
            if token:
                try:
                    listing = self._sync_collection(collection, token)
                except SyncTokenExpired:
                    logger.info("CalDAV sync token for %s was rejected; doing a full sync", collection)
            full = listing is None
            listing = listing or self._sync_collection(collection, "")
        except _SyncUnsupported:
            logger.info("CalDAV server has no sync-collection on %s; comparing ETags", collection)
            yield from self._sync_by_etags(collection, previous=None)
            return
        yield from self._fetched_pages(collection, listing=listing, full=full)

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
            # A calendar outside the account's homes (shared with it, say), as the user gave it.
            pasted = self._pasted
            if pasted is None or pasted.id != self.calendar_url:
                pasted = CalendarInfo(id=self.calendar_url, name=self.calendar_url)
            calendars.insert(0, pasted)
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
        for item in self._propfind(home, _CALENDAR_PROPS, depth=1) or []:
            info = self._calendar_info(home, item)
            if info is not None:
                yield info

    def _calendar_info(self, base: str, item: _DavResponse) -> CalendarInfo | None:
        resourcetype = item.props.get(_q(DAV, "resourcetype"))
        if resourcetype is None or resourcetype.find(_q(CALDAV, "calendar")) is None:
            return None
        components = item.props.get(_q(CALDAV, "supported-calendar-component-set"))
        if components is not None and len(components):
            names = {str(c.get("name", "")).upper() for c in components.iter(_q(CALDAV, "comp"))}
            if "VEVENT" not in names:
                return None  # task lists and journals hold no busy time
        url = self._canonical(urljoin(base, item.href))
        name_element = item.props.get(_q(DAV, "displayname"))
        name = (name_element.text or "").strip() if name_element is not None else ""
        return CalendarInfo(
            id=url,
            name=name or unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]),
            writable=_writable(item.props.get(_q(DAV, "current-user-privilege-set"))),
        )

    def use_calendar_at(self, url: str) -> bool:
        """Make the calendar at ``url`` the primary one (bookings go there) if it is a calendar of events."""
        info = self._describe(self._absolute(url))
        if info is None:
            return False
        self.calendar_url = info.id
        self._pasted = info
        self._calendars = None
        return True

    def _describe(self, url: str) -> CalendarInfo | None:
        """The collection at ``url`` as a calendar of events, or None when it is not one."""
        responses = self._propfind(url, _CALENDAR_PROPS, depth=0, tolerate=True) or []
        item = self._answer_for(url, responses)
        return None if item is None else self._calendar_info(url, item)

    def _answer_for(self, url: str, responses: list[_DavResponse]) -> _DavResponse | None:
        """The response about ``url`` itself in a Depth: 0 multistatus."""
        path = urlsplit(self._canonical(url)).path.rstrip("/")
        for item in responses:
            if urlsplit(self._canonical(item.href)).path.rstrip("/") == path:
                return item
        # Depth 0 answers about one resource, whatever spelling of its href the server uses.
        return responses[0] if len(responses) == 1 else None

    def _require_calendar(self, url: str) -> None:
        """Fail closed on a URL that is not a calendar collection (RFC 4791 §4.2 resourcetype).

        Asked once per adapter and collection: the answer costs one PROPFIND.
        """
        if url in self._verified:
            return
        item = self._answer_for(url, self._propfind(url, [(DAV, "resourcetype")], depth=0) or [])
        resourcetype = item.props.get(_q(DAV, "resourcetype")) if item is not None else None
        if resourcetype is None or resourcetype.find(_q(CALDAV, "calendar")) is None:
            raise CalendarError(
                f"{url} is not a CalDAV calendar, so its busy time cannot be read: "
                "choose one of the account's calendars."
            )
        self._verified.add(url)

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

    def _find_uid(self, collection: str, uid: str, *, candidates: Sequence[str]) -> str | None:
        """The href of the object holding ``uid``: one of ``candidates`` if it does, else a search.

        The search is a calendar-query on the UID (RFC 4791 §7.8, §9.7.5); text-match is
        a substring match, so the UID read back must be equal.
        """
        for href in dict.fromkeys(self._canonical(c) for c in candidates):
            try:
                calendar, _etag = self._get_object(href)
            except EventGone:
                continue
            if uid in _uids(calendar):
                return href
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<c:calendar-query xmlns:d="{DAV}" xmlns:c="{CALDAV}">'
            "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            f'<c:prop-filter name="UID"><c:text-match collation="i;octet">{escape(uid)}</c:text-match>'
            "</c:prop-filter></c:comp-filter></c:comp-filter></c:filter>"
            "</c:calendar-query>"
        )
        for href, data, _etag in self._objects(collection, self._report(collection, body, depth=1)):
            try:
                if uid in _uids(icalendar.Calendar.from_ical(data)):
                    return href
            except ValueError:
                continue
        return None

    def _sync_by_etags(self, collection: str, *, previous: dict[str, str] | None) -> Iterator[SyncPage]:
        """Sync without sync-collection: list every event's ETag and compare with the last listing.

        The token carries the last listing (hrefs relative to the collection, a short
        hash of each ETag), so the caller stores it like any sync token. Without a
        usable previous listing the result is a full one.
        """
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<c:calendar-query xmlns:d="{DAV}" xmlns:c="{CALDAV}">'
            "<d:prop><d:getetag/></d:prop>"
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/>'
            "</c:comp-filter></c:filter>"
            "</c:calendar-query>"
        )
        etags: dict[str, str] = {}
        for item in self._report(collection, body, depth=1):
            url = self._canonical(urljoin(collection, item.href))
            if urlsplit(url).path.rstrip("/") == urlsplit(collection).path.rstrip("/"):
                continue
            etag_element = item.props.get(_q(DAV, "getetag"))
            etag = (etag_element.text or "").strip() if etag_element is not None else ""
            # No ETag: always fetched, since a change could not be seen otherwise.
            etags[url] = _etag_digest(etag) if etag else ""
        full = previous is None
        known = {self._canonical(urljoin(collection, h)): d for h, d in (previous or {}).items()}
        listing = _HrefListing(
            changed=[u for u, d in etags.items() if not d or known.get(u) != d],
            removed=[] if full else [u for u in known if u not in etags],
            token=_encode_etag_token(collection, etags),
        )
        yield from self._fetched_pages(collection, listing=listing, full=full)

    def _fetched_pages(self, collection: str, *, listing: _HrefListing, full: bool) -> Iterator[SyncPage]:
        """The listing's changed objects fetched a multiget batch at a time, one page per batch;
        the removals ride on the first page and the token on the last."""
        hrefs = listing.changed
        starts = range(0, len(hrefs), MULTIGET_BATCH) if hrefs else range(1)

        def fetch(begin: int) -> list[tuple[str, bytes, str]]:
            return list(self._multiget(collection, hrefs[begin : begin + MULTIGET_BATCH]))

        # The next batch is requested while this one is parsed and stored: the wait is the
        # server's, so a thread overlaps it. Only that thread talks to the server meanwhile,
        # and at most two batches are held, so the peak stays flat.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="caldav-multiget") as pool:
            pending = pool.submit(fetch, starts[0])
            for number in range(len(starts)):
                objects = pending.result()
                last = number == len(starts) - 1
                if not last:
                    pending = pool.submit(fetch, starts[number + 1])
                changed: list[RemoteEvent] = []
                for href, data, _etag in objects:
                    event = self._remote_event(href, data)
                    if event is not None:
                        changed.append(event)
                del objects
                yield SyncPage(
                    changed=changed,
                    removed=listing.removed if number == 0 else [],
                    full=full,
                    token=listing.token if last else "",
                    last=last,
                )
                del changed  # not kept while the next batch is fetched

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
            raise EventGone("The event was deleted from the CalDAV calendar.")
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
            raise EventGone("The event was deleted from the CalDAV calendar.")
        # 412: changed meanwhile, or (Radicale) deleted meanwhile; the caller reads it again.
        return response.status_code != 412

    # -- sync ----------------------------------------------------------------

    def _sync_collection(self, collection: str, token: str) -> _HrefListing:
        """What changed since ``token`` ("" for everything), as hrefs: RFC 6578 sync-collection."""
        # Ordered sets (dicts): a listing of 10,000 hrefs must not be searched as a list.
        changed_hrefs: dict[str, None] = {}
        removed: dict[str, None] = {}
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
                ok=(207, *_SYNC_REFUSALS),
            )
            status = response.status_code
            if status != 207:
                conditions = _error_conditions(response.content)
                if current and (_q(DAV, "valid-sync-token") in conditions or status == 412):
                    # RFC 6578 §3.2: DAV:valid-sync-token, with 403 or 409; Xandikos
                    # answers 412. The token is useless either way: start over.
                    raise SyncTokenExpired("The CalDAV sync token is no longer valid.")
                if _q(DAV, "supported-report") in conditions or status in (400, 405, 415, 501):
                    # RFC 3253 §3.6 DAV:supported-report: no sync-collection here.
                    raise _SyncUnsupported(collection)
                if status == 403:
                    raise _forbidden(conditions, method="REPORT", url=collection)
                raise CalendarError(f"The CalDAV server refused to sync ({status}).")
            root = _parse_xml(response.content)
            del response  # the parsed tree is enough; a listing of 10,000 objects is megabytes
            token_element = root.find(_q(DAV, "sync-token"))
            new_token = (token_element.text or "").strip() if token_element is not None else ""
            truncated = False
            collection_path = urlsplit(collection).path.rstrip("/")
            for item in _iter_responses(root):
                url = self._canonical(urljoin(collection, item.href))
                if urlsplit(url).path.rstrip("/") == collection_path:
                    truncated = item.status == 507
                    continue
                if item.status in (404, 410):
                    removed[url] = None
                    changed_hrefs.pop(url, None)
                else:
                    changed_hrefs[url] = None
                    removed.pop(url, None)
            if not new_token:
                raise CalendarError("The CalDAV server did not return a sync token.")
            current = new_token
            if not truncated:
                break
        return _HrefListing(changed=list(changed_hrefs), removed=list(removed), token=current)

    def _remote_event(self, href: str, data: bytes) -> RemoteEvent | None:
        # CalDAV objects hold a whole series (RRULE, overrides, EXDATEs): expand it here with the
        # same busy rules as a busy query, over the sync's window, so the store keeps instances.
        # The expansion blocks what it can of an event it cannot read (its span, its day, else the
        # window) and says so: such an event is stored with those spans, never dropped.
        now = datetime.now(UTC)
        unreadable: list[UnreadableEvent] = []
        # Parsed once for both the expansion and the fields: parsing is most of a sync's work.
        try:
            parsed: icalendar.Calendar | None = icalendar.Calendar.from_ical(data)
        except Exception:
            parsed = None  # the expansion and the fields below say what is wrong with it
        try:
            occurrences = busy_from_calendar(
                calendar=data if parsed is None else parsed,
                start=now - SYNC_PAST,
                end=now + SYNC_FUTURE,
                time_zone=self.time_zone,
                owner_emails=[e for e in (self.owner_email, self.username) if "@" in e],
                unreadable=unreadable,
            )
        except Exception as error:  # not iCalendar at all: block the whole window, fail closed
            logger.warning("Unreadable CalDAV object %s blocks the whole window: %s", href, error)
            name = href.rsplit("/", 1)[-1]
            unreadable.append(UnreadableEvent(event=name, reason="data", detail=str(error)))
            occurrences = [BusyInterval(start=now - SYNC_PAST, end=now + SYNC_FUTURE)]
        try:
            calendar = icalendar.Calendar.from_ical(data) if parsed is None else parsed
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
                sequence=_max_sequence(calendar),
                expanded=True,
                occurrences=tuple(occurrences),
                unreadable=tuple(unreadable),
            )
        except Exception as error:
            if not occurrences:
                logger.warning("Skipping CalDAV object %s, which blocks no time: %s", href, error)
                return None
            # The object's own fields do not read, but its blocking spans are known: keep those.
            logger.warning("CalDAV object %s is stored by its busy spans only: %s", href, error)
            return RemoteEvent(
                id=href,
                uid=None,
                title=unreadable[0].event if unreadable else "",
                start=occurrences[0].start,
                end=occurrences[-1].end,
                show_as=occurrences[0].status,
                expanded=True,
                occurrences=tuple(occurrences),
                unreadable=tuple(unreadable)
                or (UnreadableEvent(event=href.rsplit("/", 1)[-1], reason="data", detail=str(error)),),
            )

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
    ) -> httpx.Response:
        """One request, following redirects by hand: every hop connects only to a checked address
        (the transport), and the credentials go only to the origin the user gave."""
        for _hop in range(MAX_REDIRECTS + 1):
            self._check(url)
            auth = self._auth if self._credentials_allowed(url) else None
            try:
                response = self._client.request(method, url, content=content, headers=headers, auth=auth)
                if response.status_code == 401 and auth is not None and self._wants_digest(response):
                    response = self._client.request(
                        method, url, content=content, headers=headers, auth=self._auth
                    )
            except httpx.TimeoutException as error:
                raise CalendarUnavailable(
                    f"The CalDAV server at {_host(url)} did not answer in time."
                ) from error
            except httpx.HTTPError as error:
                unsafe = unsafe_cause(error)
                if unsafe is not None:
                    raise CalendarError(str(unsafe)) from error
                raise CalendarUnavailable(
                    f"The CalDAV server at {_host(url)} could not be reached."
                ) from error
            status = response.status_code
            if status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                # RFC 6764 §5: /.well-known/caldav answers with a redirect; the
                # same request goes to the new place (after its own SSRF check).
                target = urljoin(url, response.headers["Location"])
                if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
                    raise CalendarError(
                        f"The CalDAV server at {_host(url)} redirected from https to an unencrypted "
                        "address; Yoyaku sends calendar data only over https once it started there."
                    )
                url = target
                if status == 303:
                    method, content = "GET", None
                continue
            if status in ok:
                return response
            if auth is None and status in (401, 403):
                raise CalendarError(
                    f"The CalDAV server sent Yoyaku to {_origin(url)}, another server than the one you "
                    f"entered ({_origin(self.url)}); Yoyaku sends your password only to the server you "
                    "entered. Enter the other server's address instead."
                )
            if status == 401:
                # Only a 401 is about who we are; a 403 is about what we asked for
                # (RFC 9110 §15.5.4), so reconnecting would not help.
                raise CalendarAuthError(AUTH_MESSAGE)
            if status == 403:
                raise _forbidden(_error_conditions(response.content), method=method, url=url)
            if status == 429 or status >= 500:
                raise CalendarUnavailable(
                    f"The CalDAV server at {_host(url)} is not available right now ({status}).",
                    retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                )
            if status in (404, 410):
                raise CalendarError(f"No CalDAV calendar was found at {url}.")
            raise CalendarError(f"The CalDAV server answered {method} with an unexpected status {status}.")
        raise CalendarError(f"The CalDAV server at {_host(url)} redirected too many times.")

    def _credentials_allowed(self, url: str) -> bool:
        """Credentials go to the origin (RFC 6454: scheme, host, port) of the URL the user gave, and to
        that host over https when the user gave http (an upgrade), never anywhere else: a redirect or an
        href from the server must not carry the password to another server."""
        given, target = _origin_of(self.url), _origin_of(url)
        if target == given:
            return True
        return given[0] == "http" and target[0] == "https" and target[1] == given[1]

    def _wants_digest(self, response: httpx.Response) -> bool:
        challenge = response.headers.get("WWW-Authenticate", "").lower()
        if isinstance(self._auth, httpx.DigestAuth) or not challenge.startswith("digest"):
            return False
        self._auth = httpx.DigestAuth(self.username, self._password)
        return True

    def _check(self, url: str) -> None:
        """The URL's form and, on an https connection, no step down to http. Addresses are checked by
        the transport at connect time, once per connection, so a name cannot change its answer between
        the check and the connection (DNS rebinding)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CalendarError(f"The CalDAV server gave an address Yoyaku cannot use: {url}")
        if urlsplit(self.url).scheme == "https" and parts.scheme != "https":
            raise CalendarError(
                f"The CalDAV server pointed Yoyaku to an unencrypted address ({_origin(url)}); "
                "Yoyaku sends calendar data to an https server only over https."
            )

    def _absolute(self, href: str) -> str:
        return self._canonical(urljoin(self.url, href))

    @staticmethod
    def _canonical(url: str) -> str:
        """One spelling per resource, so ids from create, busy and sync compare equal."""
        parts = urlsplit(url)
        path = quote(unquote(parts.path), safe="/@:+!$&'()*,;=~")
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class _SyncUnsupported(Exception):
    """The collection does not answer sync-collection (RFC 6578)."""


@dataclass(frozen=True, slots=True)
class _HrefListing:
    """A sync's answer before the objects are fetched: changed and removed hrefs, and the new token."""

    changed: list[str]
    removed: list[str]
    token: str


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
        # The URL the user pasted may be the calendar itself: then it is the one
        # that receives bookings and blocks time, not the first in the listing.
        adapter.use_calendar_at(url)
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


# An ORGANIZER or ATTENDEE line: the host's own answer may matter.
_HAS_PEOPLE = re.compile(rb"^(?:ORGANIZER|ATTENDEE)[;:]", re.MULTILINE | re.IGNORECASE)
# A date or floating date-time (no TZID, no "Z"): read in the calendar's zone (RFC 4791 §5.2.2).
_HAS_LOCAL_TIMES = re.compile(
    rb"^(?:DTSTART|DTEND|RECURRENCE-ID|EXDATE|RDATE|DUE)(?![^:\r\n]*TZID=)[^:\r\n]*:[0-9T,]+\r?$",
    re.MULTILINE | re.IGNORECASE,
)


_VTIMEZONE = re.compile(rb"^BEGIN:VTIMEZONE.*?^END:VTIMEZONE", re.MULTILINE | re.DOTALL | re.IGNORECASE)


def _has_local_times(data: bytes) -> bool:
    # A VTIMEZONE's own DTSTARTs are local by definition and say nothing about the events.
    return bool(_HAS_LOCAL_TIMES.search(_VTIMEZONE.sub(b"", data)))


def _vtimezone_name(text: str) -> str | None:
    """The IANA name of the VTIMEZONE in a ``calendar-timezone`` value, if it names one we know."""
    try:
        parsed = icalendar.Calendar.from_ical(text)
    except Exception:
        return None
    for component in parsed.walk("VTIMEZONE"):
        tzid = str(component.get("TZID", "")).strip()
        for name in (tzid, WINDOWS_TO_OLSON.get(tzid, "")):
            if not name:
                continue
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return None


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
    return list(_iter_responses(root))


def _iter_responses(root: Any) -> Iterator[_DavResponse]:
    """The multistatus answer's responses one at a time (a sync's listing has one per object)."""
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
        yield item


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


def _error_root(content: bytes) -> Any:
    if not content.strip().startswith(b"<"):
        return None
    try:
        return _parse_xml(content)
    except CalendarError:
        return None


def _error_conditions(content: bytes) -> set[str]:
    """The pre- and postconditions of a DAV:error body (RFC 4918 §16), as qualified tag names."""
    root = _error_root(content)
    if root is None or root.tag != _q(DAV, "error"):
        return set()
    return {child.tag for child in root if isinstance(child.tag, str)}


def _conflict_hrefs(content: bytes, base: str) -> list[str]:
    """The hrefs a UID-conflict precondition names: the object already holding the UID."""
    root = _error_root(content)
    if root is None:
        return []
    return [
        urljoin(base, href.text.strip())
        for tag in _UID_CONFLICTS
        for element in root.iter(tag)
        for href in element.iter(_q(DAV, "href"))
        if href.text and href.text.strip()
    ]


def _forbidden(conditions: set[str], *, method: str, url: str) -> CalendarError:
    """What a 403 means, for the user: never "reconnect", which would not help."""
    if _q(DAV, "need-privileges") in conditions:
        # RFC 3744 §7.1.1.
        return CalendarError(
            f"The CalDAV account lacks the permission for this ({method} {url}): "
            "give it access to the calendar on the server, or choose another calendar."
        )
    if _q(DAV, "supported-report") in conditions:
        return CalendarError(
            f"The CalDAV server cannot search {url} (the report is not supported there): "
            "it is probably not a calendar. Choose one of the account's calendars."
        )
    if conditions & _UID_CONFLICTS:
        return CalendarError("The CalDAV server says the event's UID is already used by another event.")
    if {_q(CALDAV, "calendar-collection-location-ok"), _q(CALDAV, "supported-calendar-component")} & (
        conditions
    ):
        return CalendarError(f"{url} does not take events: choose one of the account's calendars.")
    if _q(CALDAV, "valid-organizer") in conditions:
        # RFC 6638 §3.2.4.2 (servers that do scheduling).
        return CalendarError(
            "The CalDAV server refused the event's organizer: the account's address must be the host's."
        )
    return CalendarError(
        f"The CalDAV server refused {method} {url} (403 Forbidden): "
        "the account may not use this calendar that way."
    )


def _etag_digest(etag: str) -> str:
    return hashlib.blake2b(etag.encode(), digest_size=8).hexdigest()


def _encode_etag_token(collection: str, listing: dict[str, str]) -> str:
    base = urlsplit(collection).path
    relative = {}
    for url, digest in listing.items():
        path = urlsplit(url).path
        relative[path[len(base) :] if path.startswith(base) else path] = digest
    packed = zlib.compress(json.dumps(relative, separators=(",", ":"), sort_keys=True).encode())
    return ETAG_TOKEN_PREFIX + base64.urlsafe_b64encode(packed).decode()


def _decode_etag_token(token: str) -> dict[str, str] | None:
    """The listing in one of our tokens; None (a full sync) if it cannot be read."""
    try:
        packed = base64.urlsafe_b64decode(token[len(ETAG_TOKEN_PREFIX) :].encode())
        value = json.loads(zlib.decompress(packed))
    except (ValueError, zlib.error):
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return None
    return {str(k): v for k, v in value.items()}


# -- iCalendar helpers -----------------------------------------------------------


def _max_sequence(calendar: icalendar.Calendar) -> int:
    sequence = 0
    for event in calendar.walk("VEVENT"):
        try:
            sequence = max(sequence, int(event.get("SEQUENCE", 0)))
        except (TypeError, ValueError):
            continue
    return sequence


def _uids(calendar: icalendar.Calendar) -> set[str]:
    return {str(event["UID"]) for event in calendar.walk("VEVENT") if "UID" in event}


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


def _origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"https": 443, "http": 80}.get(scheme)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The trust store for CalDAV servers (the system's default, through httpx), loaded once per process.

    Loading it costs tens of milliseconds of CPU, which every adapter (one per booking's fresh read)
    paid before. One context may serve many connections and threads; nothing changes it once built.
    """
    return httpx.create_ssl_context(trust_env=False)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
