"""Telling, without parsing, that a calendar object cannot touch a window.

A CalDAV time-range query (RFC 4791 §7.8) is widened by days, because servers place floating
times and all-day dates in a zone of their own (§9.9), so a booking's narrow read of a host's
full calendar brings back every meeting of those days. Parsing each with ``icalendar`` costs
about a millisecond of CPU; most of them are single events with UTC or named-zone times, for
which a look at two content lines says "outside the window". Only that case is decided here;
anything else (recurrence, floating times, dates, a DURATION, an unknown zone, several
components, a line that does not read) is left to the full parse, which also reports what it
cannot read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# RFC 5545 §3.1: a long line is folded by CRLF and one space or tab.
_FOLD = re.compile(rb"\r?\n[ \t]")
_RECURRENCE = re.compile(rb"^(?:RRULE|RDATE|EXDATE|EXRULE|RECURRENCE-ID)[;:]", re.MULTILINE | re.IGNORECASE)
_VEVENT = re.compile(rb"^BEGIN:VEVENT\r?$", re.MULTILINE | re.IGNORECASE)
_VEVENT_BODY = re.compile(rb"^BEGIN:VEVENT\r?$(.*?)^END:VEVENT\r?$", re.MULTILINE | re.IGNORECASE | re.DOTALL)
# DTSTART or DTEND with at most a TZID parameter, and a DATE-TIME value (RFC 5545 §3.3.5).
_TIME = re.compile(
    rb'^(DTSTART|DTEND)(?:;TZID="?([^";:\r\n]+)"?)?:(\d{8}T\d{6})(Z?)\r?$',
    re.MULTILINE | re.IGNORECASE,
)
_ANY_TIME_LINE = re.compile(rb"^(?:DTSTART|DTEND|DURATION)[;:]", re.MULTILINE | re.IGNORECASE)


def plainly_outside(data: bytes, *, start: datetime, end: datetime) -> bool:
    """True only when ``data`` is one non-recurring VEVENT whose zoned times lie outside ``[start, end)``."""
    text = _FOLD.sub(b"", data)
    if len(_VEVENT.findall(text)) != 1 or b"X-WR-TIMEZONE" in text.upper():
        return False
    # The event's own lines: a VTIMEZONE beside it has DTSTART and RDATE lines of its own.
    found = _VEVENT_BODY.search(text)
    if found is None:
        return False
    event = found.group(1)
    if _RECURRENCE.search(event):
        return False
    times: dict[bytes, datetime] = {}
    for match in _TIME.finditer(event):
        moment = _instant(value=match.group(3), utc=bool(match.group(4)), zone=match.group(2))
        name = match.group(1).upper()
        if moment is None or name in times:
            return False
        times[name] = moment
    # Exactly the two lines read above, and no other line that places the event.
    if set(times) != {b"DTSTART", b"DTEND"} or len(_ANY_TIME_LINE.findall(event)) != 2:
        return False
    first, last = times[b"DTSTART"], times[b"DTEND"]
    if last <= first:
        return False  # the full parse blocks what it can of an event that ends before it starts
    return last <= start or first >= end


def _instant(*, value: bytes, utc: bool, zone: bytes | None) -> datetime | None:
    try:
        naive = datetime.strptime(value.decode("ascii"), "%Y%m%dT%H%M%S")  # noqa: DTZ007 (zoned below)
        if utc and zone is None:
            return naive.replace(tzinfo=UTC)
        if zone is not None and not utc:
            local = naive.replace(tzinfo=ZoneInfo(zone.decode("ascii")))
            if local.utcoffset() != local.replace(fold=1).utcoffset():
                return None  # skipped or repeated by a change of offset: the full parse places it
            return local.astimezone(UTC)
    except (ValueError, KeyError, UnicodeDecodeError, OSError):
        return None
    return None  # floating, or both a zone and "Z": the full parse decides
