"""Busy time from iCalendar data (RFC 5545), shared by every adapter that sees raw VEVENTs.

Pure: no I/O. Recurrences are expanded by recurring-ical-events, which applies
RRULE/RDATE/EXDATE and RECURRENCE-ID overrides (including RANGE=THISANDFUTURE).
Callers must pass the master together with its overrides (CalDAV keeps them in
one resource, RFC 4791 §4.1), because an override can move an instance into or
out of the window.

Calendar data comes from users' servers and is often odd, so nothing here may
raise or hang: broken components are skipped with a warning, and a series that
expands to an absurd number of instances is treated as busy for the rest of the
window (failing closed rather than offering slots we could not check).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from yoyaku.calendars.base import BusyInterval, BusyStatus

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
) -> list[BusyInterval]:
    """Busy intervals of ``calendar`` inside ``[start, end)``, as aware UTC datetimes, sorted.

    ``time_zone`` is the host's zone: floating times and all-day dates are read
    in it. ``owner_emails`` identify the host among ATTENDEEs, so that events the
    host declined count as free and events the host answered "tentative" are
    tentative.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end <= start:
        return []
    zone = _zone(time_zone)
    parsed = _parse(calendar)
    if parsed is None:
        return []
    owners = {_normalise_email(e) for e in owner_emails if e}
    window_start = start.astimezone(UTC)
    window_end = end.astimezone(UTC)
    try:
        query = recurring_ical_events.of(parsed, skip_bad_series=True)
    except Exception as error:  # CALSCALE other than GREGORIAN, broken structure
        logger.warning("Skipping calendar that cannot be expanded: %s", error)
        return []
    # recurring-ical-events reads floating times and DATE values in the zone of
    # the span it is given (RFC 5545 §3.3.5 form #1: floating is the host's zone).
    span_start = window_start.astimezone(zone)
    span_end = window_end.astimezone(zone)
    deadline = time.monotonic() + MAX_EXPANSION_SECONDS
    result: list[BusyInterval] = []
    for series in list(query.series):
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
            )
        )
    result.sort(key=lambda i: (i.start, i.end))
    return result


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
) -> Iterator[BusyInterval]:
    count = 0
    occurrences = series.between(span_start, span_end)
    while True:
        try:
            occurrence = next(occurrences)
        except StopIteration:
            return
        except Exception as error:
            logger.warning("Skipping unreadable recurring series %r: %s", _uid(series), error)
            return
        count += 1
        try:
            component = occurrence.as_component(False)
            interval = _occurrence_busy(component, occurrence.start, occurrence.end, zone=zone, owners=owners)
        except Exception as error:
            logger.warning("Skipping unreadable event %r: %s", _uid(series), error)
            continue
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
    status = _busy_status(component, owners)
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


def _busy_status(component: icalendar.cal.Component, owners: set[str]) -> BusyStatus | None:
    """How the event blocks the host's time; None means it does not."""
    if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    event_status = str(component.get("STATUS", "")).upper()
    if event_status == "CANCELLED":
        return None
    status: BusyStatus = "tentative" if event_status == "TENTATIVE" else "busy"
    # Outlook/Exchange exports carry "show as" here; honour free and out-of-office.
    ms_status = str(component.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper()
    if ms_status == "FREE":
        return None
    if ms_status == "OOF":
        status = "oof"
    elif ms_status == "TENTATIVE" and status == "busy":
        status = "tentative"
    if owners:
        partstat = _owner_partstat(component, owners)
        if partstat == "DECLINED":
            return None
        if partstat == "TENTATIVE" and status == "busy":
            status = "tentative"
    return status


def _owner_partstat(component: icalendar.cal.Component, owners: set[str]) -> str | None:
    attendees = component.get("ATTENDEE")
    if attendees is None:
        return None
    if not isinstance(attendees, list):
        attendees = [attendees]
    for attendee in attendees:
        if _normalise_email(str(attendee)) in owners:
            params = getattr(attendee, "params", {})
            return str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return None


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
