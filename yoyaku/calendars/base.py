"""The one small interface every calendar provider implements.

Adapters speak UTC-aware datetimes at this boundary; the availability engine
converts them to epoch seconds. Nothing here imports Django, so adapters can be
tested against their protocol servers without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol

BusyStatus = Literal["busy", "tentative", "oof"]
# How an event stored by the sync blocks time: the busy statuses, or "free".
ShowAs = Literal["busy", "tentative", "oof", "free"]

# The window a sync keeps: recurring series are expanded (by the provider, or by the
# CalDAV adapter) from SYNC_PAST before now to SYNC_FUTURE after it. Availability may
# be asked up to a year ahead, so the future reaches past a year.
SYNC_PAST = timedelta(days=31)
SYNC_FUTURE = timedelta(days=400)


@dataclass(frozen=True, slots=True)
class BusyInterval:
    start: datetime
    end: datetime
    # Kept so the caller can honour the host's "tentative blocks time" setting.
    status: BusyStatus = "busy"


@dataclass(frozen=True, slots=True)
class UnreadableEvent:
    """An event whose times or recurrence could not be read.

    Its stated span (or its day, or the whole window when even that is unknown)
    is reported busy, and the host is shown ``event`` (the summary, else the
    UID) and why, so they can fix it in their calendar. ``reason`` is one of
    ``start``, ``end``, ``recurrence`` or ``data`` (the pages word it in the
    host's language); ``detail`` is the parser's own words.
    """

    event: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    name: str = ""
    # The attendee's answer as read back by a sync: "accepted", "declined", "tentative",
    # "needs_action", or "" when unknown (and on drafts Yoyaku writes).
    response: str = ""


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event Yoyaku wants on the host's calendar.

    ``uid`` is chosen by Yoyaku (derived from the booking) so that a retried
    write finds the event it already made instead of creating a second one.
    """

    uid: str
    title: str
    start: datetime
    end: datetime
    time_zone: str = "UTC"
    description: str = ""
    location: str = ""
    organizer_email: str = ""
    organizer_name: str = ""
    attendees: tuple[Attendee, ...] = ()


@dataclass(frozen=True, slots=True)
class RemoteEvent:
    """An event as read back from the provider during sync."""

    id: str
    uid: str | None
    title: str
    start: datetime
    end: datetime
    attendees: tuple[Attendee, ...] = ()
    cancelled: bool = False
    all_day: bool = False
    location: str = ""
    description: str = ""
    # How the event blocks the host's time, decided by the adapter's own busy rules.
    show_as: ShowAs = "busy"
    # "confirmed", "tentative" or "cancelled" (RFC 5545 STATUS; Google's status; Graph's isCancelled).
    status: str = "confirmed"
    # For one instance of a recurring series: the series' id and the instance's original start.
    series_id: str = ""
    recurrence_id: str = ""
    organizer: str = ""
    etag: str = ""
    changed_at: datetime | None = None
    # The highest SEQUENCE of the object's VEVENTs (CalDAV, RFC 5545 §3.8.7.4): Yoyaku's own iMIP
    # mail about the event must carry at least this one (0 where the provider schedules itself).
    sequence: int = 0
    # Set when the adapter expanded the event itself (a CalDAV object with an RRULE):
    # the blocking occurrences within SYNC_PAST..SYNC_FUTURE, each stored as an instance.
    expanded: bool = False
    occurrences: tuple[BusyInterval, ...] = ()
    # Set when the event's times or recurrence could not be read: ``occurrences`` then hold what could
    # still be placed (its span, its day or the whole window), never nothing.
    unreadable: tuple[UnreadableEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncPage:
    """One page of a sync listing: what a provider sent in one answer (or one batch of fetches).

    A listing is the pages of one ``sync_pages`` call; only its ``last`` page carries the token
    to sync from next time, so a caller stores the token once every page has been taken.
    """

    changed: list[RemoteEvent] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # True when this page belongs to a complete listing (no token, or the old one was rejected):
    # once the last page is taken, anything known and not seen since the listing began is deleted.
    # An adapter may start a complete listing after pages of an incremental one, never the reverse.
    full: bool = False
    token: str = ""
    last: bool = False


@dataclass(frozen=True, slots=True)
class SyncResult:
    changed: list[RemoteEvent] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    token: str = ""
    # True when the old token was rejected and this is a complete listing:
    # the caller must treat anything it knew and did not see as deleted.
    full: bool = False


def whole_listing(pages: Iterable[SyncPage]) -> SyncResult:
    """A listing's pages gathered into one result (the ``sync`` form of ``sync_pages``).

    A switch to a complete listing drops what the incremental pages before it said: the
    complete listing holds all of it.
    """
    changed: list[RemoteEvent] = []
    removed: list[str] = []
    full = False
    for page in pages:
        if page.full and not full:
            changed, removed, full = [], [], True
        changed.extend(page.changed)
        removed.extend(page.removed)
        if page.last:
            return SyncResult(changed=changed, removed=removed, token=page.token, full=full)
    raise CalendarUnavailable("The calendar's listing ended before its last page.")


@dataclass(frozen=True, slots=True)
class CalendarInfo:
    id: str
    name: str
    primary: bool = False
    writable: bool = True


class CalendarError(Exception):
    """Base class; ``str(error)`` is a message fit to show the user."""


class CalendarUnavailable(CalendarError):
    """The server could not be reached or kept failing (timeouts, 5xx, 429 after retries).

    ``retry_after`` is the wait in seconds the server asked for (its Retry-After header, RFC 9110
    §10.2.3) when it asked for one: whoever tries again later must not come back sooner.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(tz=UTC)).total_seconds())


class CalendarAuthError(CalendarError):
    """Credentials were rejected or the grant was revoked: the user must reconnect."""


class CalendarOperationNotSupported(CalendarError):
    """The provider (Exchange) does not allow this operation from Yoyaku."""


class EventGone(CalendarError):
    """The event was deleted on the provider: an update cannot land, a cancellation has nothing left to do."""


class SyncTokenExpired(CalendarError):
    """The incremental sync token is no longer valid; a full sync is needed."""


class CalendarAdapter(Protocol):
    provider: str

    def list_calendars(self) -> list[CalendarInfo]: ...

    def busy(
        self,
        *,
        start: datetime,
        end: datetime,
        calendar_ids: Sequence[str] | None = None,
        unreadable: list[UnreadableEvent] | None = None,
    ) -> list[BusyInterval]:
        """Busy time in the window; events that cannot be read are blocked and appended to ``unreadable``."""
        ...

    def create_event(self, *, draft: EventDraft, calendar_id: str | None = None) -> str: ...

    def update_event(self, *, event_id: str, draft: EventDraft, calendar_id: str | None = None) -> None: ...

    def cancel_event(self, *, event_id: str, calendar_id: str | None = None) -> None: ...

    def sync_pages(self, *, token: str | None, calendar_id: str | None = None) -> Iterator[SyncPage]:
        """The changes since ``token`` page by page (None: a complete listing, every page ``full``)."""
        ...

    def sync(self, *, token: str | None, calendar_id: str | None = None) -> SyncResult:
        """``sync_pages`` gathered into one result (``whole_listing``)."""
        ...

    def close(self) -> None:
        """Release the adapter's connections (HTTP clients, EWS sessions); callers close in a finally."""
        ...


def blocking_intervals(intervals: Iterable[BusyInterval], *, tentative_blocks: bool) -> list[tuple[int, int]]:
    """Busy intervals as sorted epoch-second pairs, the engine's input form."""
    pairs = [
        (int(i.start.timestamp()), int(i.end.timestamp()))
        for i in intervals
        if i.end > i.start and (tentative_blocks or i.status != "tentative")
    ]
    pairs.sort()
    return pairs
