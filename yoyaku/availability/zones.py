"""Wall-clock <-> epoch conversions, cached per (zone, local day).

Everything the engine needs from a time zone is asked once per local day and remembered: the epoch of
local midnight, whether the day is "uniform" (exactly 86,400 s with one UTC offset, so a wall time is
midnight plus minutes), and the slot grid of that day for an increment. Only days with an offset change
go through ``datetime``; all other conversions are integer arithmetic.

Rules for times that are not one-to-one (RFC 5545, section 3.3.5, "DATE-TIME"):
- a wall time in a spring-forward gap is moved forward by the gap length (``fold=0`` in ``zoneinfo``);
- an ambiguous wall time in a fall-back overlap means its first occurrence (``fold=0``).
These rules apply to working-hour boundaries. Slot grid points are different: a grid time that does not
exist is skipped (there is no such time to offer), and an ambiguous grid time yields both instants, since
the working window, measured in real elapsed time, covers both.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = 86_400

# A long-running server sees a bounded set of (zone, day) pairs, but clear the caches if that ever grows
# past this many entries rather than holding memory forever.
_CACHE_LIMIT = 200_000


class UnknownTimeZone(ValueError):
    """Raised for a time zone name that is not a known IANA zone."""


@cache
def iana_zone_names() -> frozenset[str]:
    """The zone names of the IANA time zone database, as the ``tzdata`` package lists them.

    ``ZoneInfo`` also opens any file under the system's zoneinfo folder, which holds names that are not
    zones (``localtime``, ``posixrules``) and can change from one machine to the next; ``Factory`` is in
    the database but means "no zone set" (its abbreviation is "-00"). Only the listed names are accepted,
    links such as ``Asia/Calcutta`` included (they stay valid in the database's ``backward`` file).
    """
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(names) - {"Factory"}


def is_iana_zone(name: object) -> bool:
    return isinstance(name, str) and name in iana_zone_names()


@lru_cache(maxsize=1024)
def get_zone(name: str) -> ZoneInfo:
    """Return the ``ZoneInfo`` for an IANA name, or raise :class:`UnknownTimeZone`."""
    if not is_iana_zone(name):
        raise UnknownTimeZone(f"unknown IANA time zone: {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UnknownTimeZone(f"unknown IANA time zone: {name!r}") from exc


# (zone name, date ordinal) -> (epoch of local midnight, epoch of next local midnight, uniform day)
_DAYS: dict[tuple[str, int], tuple[int, int, bool]] = {}
# (zone name, increment minutes, date ordinal) -> sorted slot grid epochs of that local day
_GRIDS: dict[tuple[str, int, int], tuple[int, ...]] = {}


def _naive_midnight(ordinal: int) -> datetime:
    d = date.fromordinal(ordinal)
    return datetime(d.year, d.month, d.day)  # noqa: DTZ001 - naive wall time, zone attached by caller


def _wall_epoch(tz: ZoneInfo, ordinal: int, minute: int, fold: int = 0) -> int:
    naive = _naive_midnight(ordinal) + timedelta(minutes=minute)
    return int(naive.replace(tzinfo=tz, fold=fold).timestamp())


def day_info(zone: str, ordinal: int) -> tuple[int, int, bool]:
    """Local midnight, next local midnight (both ``fold=0``) and whether the day has no offset change."""
    key = (zone, ordinal)
    info = _DAYS.get(key)
    if info is None:
        tz = get_zone(zone)
        mid = _wall_epoch(tz, ordinal, 0)
        nxt = _wall_epoch(tz, ordinal + 1, 0)
        uniform = (
            nxt - mid == DAY
            and datetime.fromtimestamp(mid, tz).utcoffset() == datetime.fromtimestamp(nxt - 1, tz).utcoffset()
        )
        info = (mid, nxt, uniform)
        if len(_DAYS) >= _CACHE_LIMIT:
            _DAYS.clear()
        _DAYS[key] = info
    return info


def wall_to_epoch(zone: str, ordinal: int, minute: int) -> int:
    """Epoch of local ``minute`` (0..1440) after midnight of the local date ``ordinal``, RFC 5545 rules."""
    mid, _nxt, uniform = day_info(zone, ordinal)
    if uniform:
        return mid + minute * 60
    return _wall_epoch(get_zone(zone), ordinal, minute)


def local_ordinal(zone: str, epoch: int) -> int:
    """Ordinal of the local date at instant ``epoch``."""
    return datetime.fromtimestamp(epoch, get_zone(zone)).toordinal()


def day_grid(zone: str, increment: int, ordinal: int) -> tuple[int, ...]:
    """Sorted epochs of the wall times ``k * increment`` minutes after local midnight of that date.

    Nonexistent wall times are skipped; ambiguous ones give both instants (see the module docstring).
    """
    key = (zone, increment, ordinal)
    grid = _GRIDS.get(key)
    if grid is None:
        mid, _nxt, uniform = day_info(zone, ordinal)
        if uniform:
            grid = tuple(range(mid, mid + DAY, increment * 60))
        else:
            tz = get_zone(zone)
            base = _naive_midnight(ordinal)
            points: set[int] = set()
            for minute in range(0, 1440, increment):
                naive = base + timedelta(minutes=minute)
                for fold in (0, 1):
                    epoch = int(naive.replace(tzinfo=tz, fold=fold).timestamp())
                    # A wall time that round-trips exists; naive comparison ignores fold.
                    if datetime.fromtimestamp(epoch, tz).replace(tzinfo=None) == naive:
                        points.add(epoch)
            grid = tuple(sorted(points))
        if len(_GRIDS) >= _CACHE_LIMIT:
            _GRIDS.clear()
        _GRIDS[key] = grid
    return grid


def grid_between(zone: str, increment: int, start: int, end: int) -> list[int]:
    """All grid epochs in ``[start, end)``, sorted."""
    if end <= start:
        return []
    out: list[int] = []
    # One day of margin each side: in an overlap that crosses midnight, the instants of two local dates
    # interleave, so the local date of ``start`` alone does not bound the grid points after it.
    first = local_ordinal(zone, start) - 1
    last = local_ordinal(zone, end - 1) + 1
    for ordinal in range(first, last + 1):
        out.extend(day_grid(zone, increment, ordinal))
    out.sort()  # already sorted except in such interleavings; cheap on sorted input
    return out[bisect_left(out, start) : bisect_left(out, end)]


def clear_caches() -> None:
    """Forget cached conversions (tests and benchmarks use this to measure cold runs)."""
    _DAYS.clear()
    _GRIDS.clear()
    get_zone.cache_clear()
