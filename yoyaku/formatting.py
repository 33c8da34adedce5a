"""How dates, times and people's names are written, in the active language.

One place for pages, mails and API messages, so "Tue, Dec 8, 2026" in English is
"2026年12月8日(火)" in Japanese everywhere. The patterns are Django date format characters behind
``pgettext``: a translator reorders them for their language, and Django's own catalog translates
the weekday and month names they produce. Names follow the same idea: the order of given and
family name is a translation ("%(first)s %(last)s" is "%(last)s %(first)s" in Japanese).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import dateformat
from django.utils.translation import gettext, pgettext


def zone_info(zone: str | tzinfo | None) -> tzinfo:
    """The zone named ``zone``; UTC for an unknown or empty name (a stored value is never trusted
    to crash a mail or a page)."""
    if zone is None or zone == "":
        return ZoneInfo("UTC")
    if not isinstance(zone, str):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_name(zone: str | tzinfo | None) -> str:
    info = zone_info(zone)
    return getattr(info, "key", None) or str(info)


def format_day(moment: datetime, zone: str | tzinfo | None) -> str:
    """The day of ``moment`` in ``zone`` with its weekday: "Tue, Dec 8, 2026", "2026年12月8日(火)"."""
    local = moment.astimezone(zone_info(zone))
    return dateformat.format(local, pgettext("date format with weekday", "D, M j, Y"))


def format_calendar_day(day: date) -> str:
    """A calendar date that belongs to no zone (a page's fixed booking window), with its weekday."""
    return dateformat.format(day, pgettext("date format with weekday", "D, M j, Y"))


def format_date(moment: datetime, zone: str | tzinfo | None) -> str:
    """The day without its weekday: "Dec 8, 2026", "2026年12月8日"."""
    local = moment.astimezone(zone_info(zone))
    return dateformat.format(local, pgettext("short date", "M j, Y"))


def format_time(moment: datetime, zone: str | tzinfo | None) -> str:
    """The clock time, 24-hour: "10:30"."""
    return dateformat.time_format(moment.astimezone(zone_info(zone)), "H:i")


def format_when(start: datetime, end: datetime | None, zone: str | tzinfo | None) -> str:
    """A meeting's day and times: "Tue, Dec 8, 2026 · 10:00-10:30", "2026年12月8日(火) 10:00〜10:30".

    The end is written as a time only; a meeting that ends on another day shows that day too.
    """
    day = format_day(start, zone)
    begins = format_time(start, zone)
    if end is None:
        return gettext("%(day)s · %(time)s") % {"day": day, "time": begins}
    ends = format_time(end, zone)
    info = zone_info(zone)
    if end.astimezone(info).date() != start.astimezone(info).date():
        ends = f"{format_day(end, zone)} {ends}"
    span = gettext("%(day)s · %(start)s–%(end)s")  # noqa: RUF001 - the en dash of a time range
    return span % {"day": day, "start": begins, "end": ends}


def format_when_zoned(start: datetime, end: datetime | None, zone: str | tzinfo | None) -> str:
    """``format_when`` followed by the zone's name, for text read away from the page (mails, API
    messages): "Tue, Dec 8, 2026 · 10:00-10:30 (Europe/Berlin)"."""
    return gettext("%(when)s (%(zone)s)") % {"when": format_when(start, end, zone), "zone": zone_name(zone)}


def format_moment(moment: datetime, zone: str | tzinfo | None) -> str:
    """One instant with its zone: "Tue, Dec 8, 2026 · 10:00 (UTC+09:00)".

    For API messages, where the zone is the offset the caller sent rather than a named zone.
    """
    info = zone_info(zone)
    # A fixed offset's own name is "UTC+09:00".
    name = getattr(info, "key", None) or info.tzname(moment) or "UTC"
    return gettext("%(when)s (%(zone)s)") % {"when": format_when(moment, None, info), "zone": name}


def family_name_first() -> bool:
    """Whether the active language writes the family name first (Japanese does), for name order in
    forms as well as in text."""
    return pgettext("person's full name", "%(first)s %(last)s").startswith("%(last)s")


def full_name(*, first_name: str, last_name: str) -> str:
    """A person's name in the active language's order: "Hanako Yamada", "山田 花子"."""
    names = {"first": first_name.strip(), "last": last_name.strip()}
    if not names["first"] or not names["last"]:
        return names["first"] or names["last"]
    return pgettext("person's full name", "%(first)s %(last)s") % names


def greeting(*, first_name: str, last_name: str) -> str:
    """The opening line of a mail to a person: "Hello Hanako," in English, "山田 様" in Japanese
    (by family name, with the honorific). Falls back to whichever name is given."""
    first, last = first_name.strip(), last_name.strip()
    # Which name is a translation (a format that names only one of them cannot be checked by msgfmt).
    by_family_name = pgettext("the name a greeting uses: first or last", "first") == "last"
    name = (last if by_family_name else first) or first or last
    return gettext("Hello %(name)s,") % {"name": name}
