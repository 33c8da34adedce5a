"""Busy time from iCalendar data (RFC 5545), shared by every adapter that sees raw VEVENTs.

Pure: no I/O. Recurrences are expanded by recurring-ical-events, which applies
RRULE/RDATE/EXDATE and RECURRENCE-ID overrides (including RANGE=THISANDFUTURE).
Callers must pass the master together with its overrides (CalDAV keeps them in
one resource, RFC 4791 §4.1), because an override can move an instance into or
out of the window.

Calendar data comes from users' servers and is often odd, so nothing here may
raise or hang. Nothing is silently dropped either: an event whose RRULE,
EXDATE, DTSTART or DTEND cannot be read blocks what can still be determined
(its instances without the unreadable exclusions, else its stated span, else
its day in the calendar's zone, else the whole window), is logged at WARNING
and is reported to the caller as an :class:`UnreadableEvent` so the host can
be told. A series that expands to an absurd number of instances is treated as
busy for the rest of the window (failing closed rather than offering slots we
could not check).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from yoyaku.calendars.base import BusyInterval, BusyStatus, UnreadableEvent
from yoyaku.calendars.busy_rules import (
    ICAL_MS_SHOW_AS,
    ICAL_RESPONSE,
    EventFacts,
    Response,
    busy_status,
    lookup,
    response_of,
)

logger = logging.getLogger(__name__)

# More instances than this of one series inside one window is not a real
# meeting pattern (a 15-minute daily slot for two years is about 730).
MAX_INSTANCES_PER_SERIES = 20_000
# Wall-clock budget for expanding one calendar; beyond it the rest of the window
# is reported busy so a hostile RRULE cannot stall availability.
MAX_EXPANSION_SECONDS = 5.0


def busy_from_calendar(
    *,
    calendar: icalendar.Calendar | bytes | str,
    start: datetime,
    end: datetime,
    time_zone: str,
    owner_emails: Collection[str] = (),
    unreadable: list[UnreadableEvent] | None = None,
) -> list[BusyInterval]:
    """Busy intervals of ``calendar`` inside ``[start, end)``, as aware UTC datetimes, sorted.

    ``time_zone`` is the calendar's zone (its ``calendar-timezone``, else the
    host's): floating times and all-day dates are read in it. ``owner_emails``
    are the calendar owner's addresses (RFC 6638 ``calendar-user-address-set``),
    which find the host among ORGANIZER and ATTENDEEs, so that events the host
    declined count as free and unanswered or tentative ones are tentative.
    Events that cannot be read are blocked as far as they can be placed and
    appended to ``unreadable``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        return []
    zone = _zone(time_zone)
    problems: list[UnreadableEvent] = [] if unreadable is None else unreadable
    owners = {_normalise_email(e) for e in owner_emails if e}
    window_start = start.astimezone(UTC)
    window_end = end.astimezone(UTC)
    parsed = _parse(calendar)
    if parsed is None:
        return _unparseable(
            calendar, zone=zone, window_start=window_start, window_end=window_end, problems=problems
        )
    plain = _plain_event_busy(
        parsed, zone=zone, owners=owners, window_start=window_start, window_end=window_end
    )
    if plain is not None:
        return plain
    try:
        query = recurring_ical_events.of(parsed, skip_bad_series=True)
        all_series = list(query.series)
    except Exception as error:  # CALSCALE other than GREGORIAN, broken structure
        logger.warning("Calendar cannot be expanded (%s); blocking each event's stated span", error)
        all_series = []
    # recurring-ical-events reads floating times and DATE values in the zone of
    # the span it is given (RFC 5545 §3.3.5 form #1: floating is the host's zone).
    span_start = window_start.astimezone(zone)
    span_end = window_end.astimezone(zone)
    deadline = time.monotonic() + MAX_EXPANSION_SECONDS
    result: list[BusyInterval] = []
    expanded: set[str] = set()
    for series in all_series:
        expanded.add(_uid(series))
        result.extend(
            _series_busy(
                series,
                span_start=span_start,
                span_end=span_end,
                window_start=window_start,
                window_end=window_end,
                zone=zone,
                owners=owners,
                deadline=deadline,
                problems=problems,
            )
        )
    result.extend(
        _unexpanded_busy(
            parsed,
            expanded=expanded,
            span_start=span_start,
            span_end=span_end,
            window_start=window_start,
            window_end=window_end,
            zone=zone,
            owners=owners,
            problems=problems,
        )
    )
    result.sort(key=lambda i: (i.start, i.end))
    return result


# Any of these makes an event a series (or part of one), which only the expansion reads.
_RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID")


def _plain_event_busy(
    parsed: icalendar.Calendar,
    *,
    zone: tzinfo,
    owners: set[str],
    window_start: datetime,
    window_end: datetime,
) -> list[BusyInterval] | None:
    """Busy time of a calendar holding one plain, well-formed VEVENT; None for anything else.

    Most objects are single events (19 in 20 in bench/initial_sync.py's calendar), and
    building recurring-ical-events' series for them costs more than parsing them. Only the
    unambiguous case is taken here: one VEVENT with a UID, DTSTART and DTEND of the same kind
    (both DATE or both DATE-TIME, both floating or both zoned), DTEND after DTSTART with no
    change of UTC offset between them, no recurrence property, no parse error, Gregorian, no
    X-WR-TIMEZONE. It gives what the expansion gives (the differential test in
    tests/calendars/test_ical_busy_plain.py holds it to that); anything else, including an
    event whose busy status cannot be read, goes the full way.
    """
    calscale = parsed.get("CALSCALE")
    if calscale is not None and str(calscale).upper() != "GREGORIAN":
        return None
    if "X-WR-TIMEZONE" in parsed:
        return None  # recurring-ical-events moves the times into that zone (x-wr-timezone)
    events = parsed.walk("VEVENT")
    if len(events) != 1:
        return None
    event = events[0]
    if getattr(event, "errors", None) or any(name in event for name in _RECURRENCE_PROPERTIES):
        return None
    if not str(event.get("UID", "") or "") or "DURATION" in event:
        return None
    first, last = _parsed(event, "DTSTART"), _parsed(event, "DTEND")
    if not isinstance(first, date) or not isinstance(last, date):
        return None
    if isinstance(first, datetime) is not isinstance(last, datetime) or _floating(first) is not _floating(
        last
    ):
        return None
    begin, finish = _to_utc(first, zone), _to_utc(last, zone)
    if finish <= begin:
        return None
    if (
        isinstance(first, datetime)
        and isinstance(last, datetime)
        and (
            first.utcoffset() != last.utcoffset()
            or begin.astimezone(zone).utcoffset() != finish.astimezone(zone).utcoffset()
        )
    ):
        # Across a change of offset the expansion measures the length in wall-clock time of
        # the calendar's zone; such events are rare, so they take the full path.
        return None
    try:
        status = event_busy_status(event, owners=owners)
    except Exception:
        return None  # the full path reports it as unreadable
    if status is None:
        return []
    clipped = _clip(BusyInterval(begin, finish, status), window_start, window_end)
    return [clipped] if clipped is not None else []


# Properties whose value recurring-ical-events needs; an error in one of them
# makes it skip the whole series.
_TIME_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID")
_REASON_OF_PROPERTY = {
    "DTSTART": "start",
    "DTEND": "end",
    "DURATION": "end",
    "RECURRENCE-ID": "recurrence",
    "RRULE": "recurrence",
    "RDATE": "recurrence",
    "EXDATE": "recurrence",
    "EXRULE": "recurrence",
}


def _unexpanded_busy(
    parsed: icalendar.Calendar,
    *,
    expanded: set[str],
    span_start: datetime,
    span_end: datetime,
    window_start: datetime,
    window_end: datetime,
    zone: tzinfo,
    owners: set[str],
    problems: list[UnreadableEvent],
) -> Iterator[BusyInterval]:
    """Busy time of the VEVENTs the expansion skipped or could only misread, each reported once."""
    reported: set[str] = set()
    for component in parsed.walk("VEVENT"):
        uid = str(component.get("UID", "") or "")
        errors = [(name, message) for name, message in _errors(component) if name in _TIME_PROPERTIES]
        inverted = _ends_before_start(component)
        if uid in expanded and uid and not errors and not inverted:
            continue
        if not errors and not inverted:
            if uid in expanded or not uid:
                continue
            errors = [("", "the event could not be expanded")]
        key = uid or str(id(component))
        try:
            status = event_busy_status(component, owners=owners)
        except Exception:
            status = "busy"
        if status is None:
            continue  # cancelled, free or declined whatever its times say: nothing to block
        if key not in reported:
            reported.add(key)
            name, message = errors[0] if errors else ("DTEND", "the event ends before it starts")
            label = str(component.get("SUMMARY", "") or "").strip() or uid or "?"
            logger.warning(
                "Unreadable calendar event %r (%s %s): blocking what can be placed", label, name, message
            )
            problems.append(
                UnreadableEvent(
                    event=label[:200], reason=_REASON_OF_PROPERTY.get(name, "data"), detail=message[:300]
                )
            )
        if inverted and uid in expanded and not errors:
            continue  # recurring-ical-events already blocks the span between the two times
        spans = _without_bad_exclusions(
            component, errors, span_start=span_start, span_end=span_end, zone=zone
        )
        if spans is None:
            spans = [_stated_span(component, zone=zone, window_start=window_start, window_end=window_end)]
        for begin, finish in spans:
            clipped = _clip(BusyInterval(begin, finish, status), window_start, window_end)
            if clipped is not None:
                yield clipped


def _errors(component: icalendar.cal.Component) -> list[tuple[str, str]]:
    found = [(str(name).upper(), str(message)) for name, message in getattr(component, "errors", []) or []]
    for name in ("DTSTART", "DTEND", "DURATION"):
        if name in component and not any(n == name for n, _ in found):
            value = _parsed(component, name)
            if not isinstance(value, date | timedelta):
                found.append((name, f"not a date or time: {str(component.get(name))[:40]}"))
    return found


def _ends_before_start(component: icalendar.cal.Component) -> bool:
    begin, finish = _decoded(component, "DTSTART"), _decoded(component, "DTEND")
    if begin is None or finish is None:
        return False
    try:
        return _to_utc(finish, UTC) < _to_utc(begin, UTC)
    except Exception:
        return False


def _decoded(component: icalendar.cal.Component, name: str) -> date | None:
    value = _parsed(component, name)
    return value if isinstance(value, date) else None


def _parsed(component: icalendar.cal.Component, name: str) -> object:
    """The property's parsed value (``vDDDTypes.dt``), None when absent or broken.

    Already parsed with the component; decoding again would cost about as much as parsing.
    """
    try:
        return getattr(component.get(name), "dt", None)
    except Exception:  # icalendar raises BrokenCalendarProperty for a value it could not parse
        return None


def _without_bad_exclusions(
    component: icalendar.cal.Component,
    errors: list[tuple[str, str]],
    *,
    span_start: datetime,
    span_end: datetime,
    zone: tzinfo,
) -> list[tuple[datetime, datetime]] | None:
    """The series' instances with its unreadable exclusions left out (more busy, never less).

    Only when the exclusions (EXDATE, EXRULE) are the sole problem: dropping
    them can only add instances, so what is blocked covers the real series.
    """
    names = {name for name, _ in errors}
    if not names or not names <= {"EXDATE", "EXRULE"} or "RRULE" not in component:
        return None
    copy = icalendar.Event()
    for name, value in component.property_items(recursive=False)[1:-1]:
        if name.upper() not in ("EXDATE", "EXRULE"):
            copy.add(name, value, encode=False)
    calendar = icalendar.Calendar()
    calendar.add_component(copy)
    try:
        spans: list[tuple[datetime, datetime]] = []
        for count, occurrence in enumerate(recurring_ical_events.of(calendar).between(span_start, span_end)):
            if count >= MAX_INSTANCES_PER_SERIES:
                return None
            begin = _to_utc(occurrence.start, zone)
            finish = _to_utc(occurrence.end, zone) if isinstance(occurrence.end, date) else begin
            if finish <= begin:
                finish = begin + timedelta(days=1) if not isinstance(occurrence.start, datetime) else begin
            if finish > begin:
                spans.append((begin, finish))
        return spans
    except Exception:
        return None


_DATE_DIGITS = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def _stated_span(
    component: icalendar.cal.Component, *, zone: tzinfo, window_start: datetime, window_end: datetime
) -> tuple[datetime, datetime]:
    """What the event itself states: its span, else its day in ``zone``, else the whole window."""
    first, last = _decoded(component, "DTSTART"), _decoded(component, "DTEND")
    if first is not None:
        begin = _to_utc(first, zone)
        finish: datetime | None = None
        if last is not None:
            finish = _to_utc(last, zone)
        elif isinstance(first, datetime):
            try:
                duration = component.decoded("DURATION")
            except Exception:
                duration = None
            if isinstance(duration, timedelta):
                finish = begin + duration
        if finish is not None and finish > begin:
            return begin, finish
        return _day_of(first, zone)
    if last is not None:
        return _day_of(last, zone)
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        raw = component.get(name)
        if raw is None:
            continue
        text = raw.to_ical() if hasattr(raw, "to_ical") else raw
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        match = _DATE_DIGITS.search(str(text))
        if match:
            try:
                return _day_of(date(int(match[1]), int(match[2]), int(match[3])), zone)
            except ValueError:
                continue
    return window_start, window_end


def _day_of(value: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The whole day (or days, for a zone's long day) of ``value`` in ``zone``, as UTC."""
    if isinstance(value, datetime):
        local = (
            value.astimezone(zone) if value.tzinfo is not None and value.utcoffset() is not None else value
        )
        day = local.date()
    else:
        day = value
    return _to_utc(day, zone), _to_utc(day + timedelta(days=1), zone)


def _unparseable(
    calendar: icalendar.Calendar | bytes | str,
    *,
    zone: tzinfo,
    window_start: datetime,
    window_end: datetime,
    problems: list[UnreadableEvent],
) -> list[BusyInterval]:
    """Data that is not iCalendar at all: block the day a DTSTART names, else the window."""
    text = calendar.decode("utf-8", "replace") if isinstance(calendar, bytes) else str(calendar)
    summary = re.search(r"^SUMMARY[^:\r\n]*:(.*)$", text, re.MULTILINE)
    uid = re.search(r"^UID[^:\r\n]*:(.*)$", text, re.MULTILINE)
    label = (summary[1] if summary else uid[1] if uid else "?").strip()[:200] or "?"
    logger.warning("Unreadable calendar data %r: blocking what can be placed", label)
    problems.append(UnreadableEvent(event=label, reason="data", detail="the calendar data does not parse"))
    stated = re.search(r"^DTSTART[^:\r\n]*:(\d{4})(\d{2})(\d{2})", text, re.MULTILINE)
    span: tuple[datetime, datetime] = (window_start, window_end)
    if stated:
        with contextlib.suppress(ValueError):
            span = _day_of(date(int(stated[1]), int(stated[2]), int(stated[3])), zone)
    clipped = _clip(BusyInterval(span[0], span[1], "busy"), window_start, window_end)
    return [clipped] if clipped is not None else []


def _series_busy(
    series: Any,
    *,
    span_start: datetime,
    span_end: datetime,
    window_start: datetime,
    window_end: datetime,
    zone: tzinfo,
    owners: set[str],
    deadline: float,
    problems: list[UnreadableEvent],
) -> Iterator[BusyInterval]:
    count = 0
    interval: BusyInterval | None = None
    occurrences = series.between(span_start, span_end)
    while True:
        try:
            occurrence = next(occurrences)
        except StopIteration:
            return
        except Exception as error:
            # Fail closed: the rest of the window may hold instances we cannot see.
            logger.warning(
                "Unreadable recurring series %r (%s): blocking the rest of the window", _uid(series), error
            )
            problems.append(UnreadableEvent(event=_uid(series), reason="recurrence", detail=str(error)[:300]))
            rest_start = interval.start if interval is not None else window_start
            clipped = _clip(BusyInterval(rest_start, window_end), window_start, window_end)
            if clipped is not None:
                yield clipped
            return
        count += 1
        try:
            component = occurrence.as_component(False)
            interval = _occurrence_busy(component, occurrence.start, occurrence.end, zone=zone, owners=owners)
        except Exception as error:
            logger.warning("Unreadable event %r (%s): blocking its stated span", _uid(series), error)
            problems.append(UnreadableEvent(event=_uid(series), reason="data", detail=str(error)[:300]))
            try:
                begin = _to_utc(occurrence.start, zone)
                finish = _to_utc(occurrence.end, zone) if isinstance(occurrence.end, date) else begin
                interval = (
                    BusyInterval(begin, finish)
                    if finish > begin
                    else BusyInterval(*_day_of(occurrence.start, zone))
                )
            except Exception:
                interval = BusyInterval(window_start, window_end)
        if interval is not None:
            clipped = _clip(interval, window_start, window_end)
            if clipped is not None:
                yield clipped
        if count >= MAX_INSTANCES_PER_SERIES or time.monotonic() > deadline:
            # Fail closed: treat everything from here on as busy rather than
            # hide busy time behind an expansion we could not finish.
            logger.warning(
                "Series %r expands past the limit; treating the rest of the window as busy", _uid(series)
            )
            rest_start = interval.start if interval is not None else window_start
            clipped = _clip(BusyInterval(rest_start, window_end), window_start, window_end)
            if clipped is not None:
                yield clipped
            return


def _occurrence_busy(
    component: icalendar.cal.Component,
    start: date | datetime,
    end: date | datetime | timedelta | None,
    *,
    zone: tzinfo,
    owners: set[str],
) -> BusyInterval | None:
    status = event_busy_status(component, owners=owners)
    if status is None:
        return None
    begin = _to_utc(start, zone)
    if isinstance(end, timedelta):
        finish = begin + end
    elif end is None:
        finish = begin
    else:
        finish = _to_utc(end, zone)
    if (
        isinstance(start, datetime)
        and "DTEND" not in component
        and "DURATION" in component
        and isinstance(component.decoded("DURATION"), timedelta)
    ):
        # RFC 5545 §3.3.6: days and weeks are nominal (wall clock), hours and
        # smaller are exact, so a "PT1H" across a DST change is still one hour.
        duration = component.decoded("DURATION")
        nominal = timedelta(days=duration.days)
        exact = duration - nominal
        finish = _to_utc(start + nominal, zone) + exact
    if not isinstance(start, datetime) and finish <= begin:
        # RFC 5545 §3.6.1: a DATE start without an end lasts one day.
        finish = _to_utc(start + timedelta(days=1), zone)
    if finish <= begin:
        # A DATE-TIME start without end or duration takes no time (RFC 5545 §3.6.1).
        return None
    return BusyInterval(begin, finish, status)


def event_busy_status(component: icalendar.cal.Component, *, owners: Collection[str]) -> BusyStatus | None:
    """How one VEVENT blocks the host's time (calendars/busy_rules.py); None means it does not.

    ``owners`` are the calendar owner's addresses, lower-case, without ``mailto:``. Public so that
    whatever else reads raw VEVENTs (a sync of the event store) classifies them the same way.
    """
    show_as = lookup(ICAL_MS_SHOW_AS, component.get("X-MICROSOFT-CDO-BUSYSTATUS"))
    if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT" and show_as in (
        None,
        "busy",
        "unknown",
    ):
        # RFC 5545 §3.8.2.7: transparent events do not take up time (Outlook writes show-as
        # free this way); an explicit show-as (out of office, working elsewhere) says more.
        show_as = "free"
    event_status = str(component.get("STATUS", "")).upper()
    facts = EventFacts(
        cancelled=event_status == "CANCELLED",
        show_as=show_as if show_as != "unknown" else None,
        tentative=event_status == "TENTATIVE",
        response=_owner_response(component, owners),
    )
    return busy_status(facts)


def _owner_response(component: icalendar.cal.Component, owners: Collection[str]) -> Response:
    """The host's own answer: organizer, their PARTSTAT, or none when they are not invited."""
    if not owners:
        return "none"
    organizer = component.get("ORGANIZER")
    if organizer is not None and _normalise_email(str(organizer)) in owners:
        return "organizer"
    attendees = component.get("ATTENDEE")
    if attendees is None:
        return "none"
    if not isinstance(attendees, list):
        attendees = [attendees]
    for attendee in attendees:
        if _normalise_email(str(attendee)) in owners:
            params = getattr(attendee, "params", {})
            # RFC 5545 §3.2.12: PARTSTAT defaults to NEEDS-ACTION.
            return response_of(ICAL_RESPONSE, str(params.get("PARTSTAT", "NEEDS-ACTION")).upper())
    return "none"


def _normalise_email(value: str) -> str:
    value = value.strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    return value.strip().lower()


def _to_utc(value: date | datetime, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            # Floating time (RFC 5545 §3.3.5 form #1) or an unknown TZID that
            # icalendar could not resolve: read it in the host's zone. zoneinfo's
            # fold=0 moves a time inside a DST gap forward and picks the first of
            # two repeated times, as RFC 5545 §3.3.5 requires.
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    # All-day: the day in the host's zone, midnight to midnight.
    return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)


def _floating(value: date) -> bool:
    """A DATE-TIME without a usable offset (RFC 5545 §3.3.5 form #1, or an unknown TZID)."""
    return isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None)


def _clip(interval: BusyInterval, start: datetime, end: datetime) -> BusyInterval | None:
    begin = max(interval.start, start)
    finish = min(interval.end, end)
    if finish <= begin:
        return None
    if begin == interval.start and finish == interval.end:
        return interval
    return BusyInterval(begin, finish, interval.status)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("Unknown host time zone %r; using UTC", name)
        return UTC


def _parse(calendar: icalendar.Calendar | bytes | str) -> icalendar.Calendar | None:
    if isinstance(calendar, icalendar.Calendar):
        return calendar
    try:
        parsed = icalendar.Calendar.from_ical(calendar)
    except Exception as error:
        logger.warning("Skipping calendar data that does not parse: %s", error)
        return None
    if not isinstance(parsed, icalendar.Calendar):
        logger.warning("Skipping calendar data without a VCALENDAR")
        return None
    return parsed


def _uid(series: Any) -> str:
    try:
        return str(series.uid)
    except Exception:
        return "?"
