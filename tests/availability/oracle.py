"""A slow, direct restatement of the slot rules, used as the reference in property tests.

It shares no code with the engine: every conversion goes through ``datetime`` and ``zoneinfo``, every
candidate instant is checked one by one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from yoyaku.availability import HostAvailability, Interval, LinkRules


def at(zone: str, y: int, mo: int, d: int, h: int = 0, mi: int = 0, fold: int = 0) -> int:
    """Epoch of a local wall time (``fold`` picks the occurrence of an ambiguous one)."""
    return int(datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone), fold=fold).timestamp())


def wall(zone: str, epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, ZoneInfo(zone))


def local_minute_epoch(zone: str, day: date, minute: int) -> int:
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
    return int(naive.replace(tzinfo=ZoneInfo(zone), fold=0).timestamp())


def working_windows(host: HostAvailability, first: date, last: date) -> list[Interval]:
    raw = []
    day = first
    while day <= last:
        hours = host.overrides[day] if day in host.overrides else host.weekly.get(day.weekday(), ())
        for a, b in hours:
            if a < b:
                raw.append(
                    (local_minute_epoch(host.time_zone, day, a), local_minute_epoch(host.time_zone, day, b))
                )
        day += timedelta(days=1)
    raw.sort()
    merged: list[list[int]] = []
    for s, e in raw:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def grid_candidates(zone: str, increment: int, start: int, end: int) -> list[int]:
    """Every instant in [start, end) whose local wall time is a multiple of ``increment`` after midnight.

    All zone offsets in use are multiples of 5 minutes, so stepping UTC by 5 minutes finds them all;
    nonexistent wall times are never produced and both instants of an ambiguous one are.
    """
    tz = ZoneInfo(zone)
    t = start + (-start) % 300
    out = []
    while t < end:
        w = datetime.fromtimestamp(t, tz)
        if w.second == 0 and (w.hour * 60 + w.minute) % increment == 0:
            out.append(t)
        t += 300
    return out


def oracle_slots(
    *, host: HostAvailability, rules: LinkRules, window_start: int, window_end: int, now: int
) -> list[int]:
    grid_zone = rules.grid_time_zone or host.time_zone
    gtz = ZoneInfo(grid_zone)
    htz = ZoneInfo(host.time_zone)
    d = rules.duration_minutes * 60
    first = datetime.fromtimestamp(window_start, htz).date() - timedelta(days=2)
    last = datetime.fromtimestamp(window_end, htz).date() + timedelta(days=2)
    windows = working_windows(host, first, last)
    blocked = [iv for iv in (*host.busy, *host.booked) if iv[0] < iv[1]]
    out = []
    for t in grid_candidates(grid_zone, rules.increment_minutes, window_start, window_end):
        if t < now + rules.notice_minutes * 60:
            continue
        if rules.fixed_start is not None or rules.fixed_end is not None:
            local_day = datetime.fromtimestamp(t, gtz).date()
            if rules.fixed_start is not None and local_day < rules.fixed_start:
                continue
            if rules.fixed_end is not None and local_day > rules.fixed_end:
                continue
        elif rules.rolling_days is not None:
            if t >= now + rules.rolling_days * 86400:
                continue
        elif rules.rolling_weeks is not None and t >= now + rules.rolling_weeks * 7 * 86400:
            continue
        if not any(ws <= t and t + d <= we for ws, we in windows):
            continue
        span = (t - rules.buffer_before_minutes * 60, t + d + rules.buffer_after_minutes * 60)
        if any(bs < span[1] and span[0] < be for bs, be in blocked):
            continue
        if rules.max_per_day is not None:
            host_day = datetime.fromtimestamp(t, htz).date()
            if host.bookings_per_day.get(host_day, 0) >= rules.max_per_day:
                continue
        out.append(t)
    return out
