"""Slot computation for one host, a group (everyone free) and round robin (anyone free).

Semantics
---------
A slot is an instant ``s`` (epoch seconds) such that, with ``d`` the duration:

- the meeting ``[s, s + d)`` lies inside one working window of the host. Working windows are built per
  local date in the host's zone from the weekly hours, or from that date's override when there is one;
  windows of all dates are then merged when they overlap or touch, so 23:00-24:00 followed by the next
  day's 00:00-01:00 allows a meeting across midnight;
- the buffered span ``[s - buffer_before, s + d + buffer_after)`` overlaps no busy interval and no booked
  span (booked spans arrive already widened by their own buffers);
- ``s >= now + notice``; ``s`` is before the horizon (rolling weeks from now, or the fixed local dates in
  the grid zone, inclusive); ``s`` is in ``[window_start, window_end)``;
- the host's local date of ``s`` has fewer than ``max_per_day`` bookings;
- ``s`` is on the grid: a wall time ``k * increment`` minutes after local midnight in the grid zone (the
  link's ``grid_time_zone``, else the host's zone; for groups and round robin, else the first host's).

Time zones (RFC 5545, section 3.3.5): working-hour boundaries that fall in a spring-forward gap move
forward by the gap length, ambiguous ones mean their first occurrence (``zoneinfo`` with ``fold=0``).
Grid wall times that do not exist are skipped; an ambiguous grid wall time yields both of its instants
(each is offered only if it passes the rules above, which are all measured in real elapsed time).

How it is fast: the working windows become ranges of allowed *start* instants; every busy or booked
interval, widened by the meeting and the buffers, becomes a range of forbidden starts; ``bisect`` finds
the intervals that matter to each window, and picks the grid points inside what remains. Busy time may
come in any order: after one sort, the intervals in between windows only matter through their farthest
end, which ``max`` finds in C. Busy time as the busy index gives it (``Spans``: merged, starts and ends
in two sorted int lists) needs no sort and no tuple per interval, and bisection finds each window's
first and last span directly (``_free_within_spans``; bookings are then taken out of what is left).
Conversions between wall clock and epoch are cached per (zone, local day) in :mod:`.zones`, and working
windows per (zone, weekly hours, dates), which hosts of one team usually share; no ``datetime`` objects
are made in the inner loops. A page needs only the union of a round robin team's free starts
(``round_robin_starts``), not who is free at each of them (``round_robin_slots``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, compress, repeat
from operator import itemgetter

from . import zones
from .intervals import Spans, intersect, merge
from .rules import HostAvailability, Interval, LinkRules
from .zones import DAY, day_info, get_zone, grid_between, local_ordinal, wall_to_epoch

_start_of = itemgetter(0)
_end_of = itemgetter(1)
_FAR_PAST = -(1 << 62)
_drain = deque[object](maxlen=0).extend  # consume an iterator for its side effects, in C


def _horizon(*, rules: LinkRules, grid_zone: str, now: int) -> tuple[int | None, int | None]:
    """The booking window's own bounds: its first allowed start and the first start past it (None: open).

    The fixed local dates in the grid zone, inclusive, when either is set; else rolling days or weeks
    from now.
    """
    if rules.fixed_start is not None or rules.fixed_end is not None:
        first = after = None
        if rules.fixed_start is not None:
            first = day_info(grid_zone, rules.fixed_start.toordinal())[0]
        if rules.fixed_end is not None:
            after = day_info(grid_zone, rules.fixed_end.toordinal())[1]
        return first, after
    if rules.rolling_days is not None:
        return None, now + rules.rolling_days * DAY
    if rules.rolling_weeks is not None:
        return None, now + rules.rolling_weeks * 7 * DAY
    return None, None


def _bounds(*, rules: LinkRules, grid_zone: str, window_start: int, window_end: int, now: int) -> Interval:
    """The range ``[lo, hi)`` that slot starts must fall in, from the window, notice and horizon."""
    lo = max(window_start, now + rules.notice_minutes * 60)
    first, after = _horizon(rules=rules, grid_zone=grid_zone, now=now)
    if first is not None:
        lo = max(lo, first)
    hi = window_end if after is None else min(window_end, after)
    return lo, hi


# (zone, first ordinal, last ordinal, weekly hours) -> merged windows; hosts sharing a zone and weekly
# hours (and without overrides) share the result, which is the common case for a team.
_WINDOWS: dict[tuple[str, int, int, tuple[tuple[int, tuple[tuple[int, int], ...]], ...]], list[Interval]] = {}
_WINDOWS_LIMIT = 10_000


def _working_windows(host: HostAvailability, first: int, last: int) -> list[Interval]:
    """Merged working windows (epochs) of the local dates with ordinals ``first..last``. Do not mutate."""
    if host.overrides:
        return _build_working_windows(host, first, last)
    # Pairs may arrive as lists (JSON); normalise them so the key hashes.
    hours_key = tuple(sorted((d, tuple((a, b) for a, b in hours)) for d, hours in host.weekly.items()))
    key = (host.time_zone, first, last, hours_key)
    windows = _WINDOWS.get(key)
    if windows is None:
        windows = _build_working_windows(host, first, last)
        if len(_WINDOWS) >= _WINDOWS_LIMIT:
            _WINDOWS.clear()
        _WINDOWS[key] = windows
    return windows


def _build_working_windows(host: HostAvailability, first: int, last: int) -> list[Interval]:
    zone = host.time_zone
    weekly = host.weekly
    overrides = {day.toordinal(): hours for day, hours in host.overrides.items()}
    raw: list[Interval] = []
    for ordinal in range(first, last + 1):
        hours = overrides.get(ordinal)
        if hours is None:
            # date.fromordinal(1) is a Monday, so this is date.weekday() without making a date.
            hours = weekly.get((ordinal - 1) % 7, ())
        if not hours:
            continue
        mid, _nxt, uniform = day_info(zone, ordinal)
        for a, b in hours:
            if a >= b:
                continue
            if uniform:
                raw.append((mid + a * 60, mid + b * 60))
            else:
                raw.append((wall_to_epoch(zone, ordinal, a), wall_to_epoch(zone, ordinal, b)))
    return merge(raw)


def clear_caches() -> None:
    """Forget every cached conversion and window (benchmarks use this to measure cold runs)."""
    _WINDOWS.clear()
    zones.clear_caches()


def _free_within(
    windows: list[Interval], items: Sequence[Interval], lead: int, before: int
) -> list[Interval]:
    """``windows`` (sorted disjoint ranges of starts) minus the starts that busy ``items`` forbid.

    An interval ``[bs, be)`` forbids the starts ``[bs - lead, be + before)`` (see ``_host_free_starts``). This
    is the hot spot (thousands of intervals per host, most of them at night or on weekends): after one
    sort by start, ``bisect`` finds for each window the intervals whose forbidden range begins inside
    it, and only those are looked at one by one. The intervals in between matter only through how far
    their forbidden range reaches, which ``max`` over a slice answers in C.
    """
    ordered = sorted(items, key=_start_of)
    ends = list(map(_end_of, ordered))
    out: list[Interval] = []
    append = out.append
    p = 0  # intervals before p are accounted for in reach
    # Where the forbidden ranges of the intervals before p end (any value before the window at hand will do).
    reach = _FAR_PAST
    for a, b in windows:
        # Intervals [p, q) forbid from before a: only their ends can matter.
        q = bisect_left(ordered, a + lead, p, key=_start_of)
        if q > p:
            last = max(ends[p:q])
            if last + before > reach:
                k = ends.index(last, p, q)
                if ordered[k][0] < last:
                    reach = last + before
                else:
                    # An empty interval blocks nothing, whatever its end: look at each one (rare).
                    for s, e in ordered[p:q]:
                        if s < e and e + before > reach:
                            reach = e + before
            p = q
        cur = reach if reach > a else a
        if cur >= b:
            continue  # leave p: the intervals inside this window are counted by the next one's max
        stop = bisect_left(ordered, b + lead, p, key=_start_of)
        for s, e in ordered[p:stop]:
            if e <= s:
                continue  # an empty interval blocks nothing
            fs = s - lead
            if fs > cur:
                append((cur, fs))
                cur = e + before
            else:
                fe = e + before
                if fe > cur:
                    cur = fe
        if cur < b:
            append((cur, b))
        reach = cur
        p = stop
    return out


def _free_within_spans(windows: list[Interval], busy: Spans, lead: int, before: int) -> list[Interval]:
    """``_free_within`` for merged busy time, as the busy index gives it: nothing to sort or skip.

    The spans' starts and ends both increase, and so do the ends of the ranges they forbid. Bisection
    finds, for each window, the first span whose forbidden range ends after the window's start and the
    first whose forbidden range begins at or after its end; only the spans in between are looked at.
    """
    starts, ends = busy.starts, busy.ends
    out: list[Interval] = []
    append = out.append
    i = 0
    for a, b in windows:
        # The windows come in order, so the first span that matters never moves back.
        i = bisect_right(ends, a - before, i)
        j = bisect_left(starts, b + lead, i)
        cur = a
        for s, e in zip(starts[i:j], ends[i:j], strict=True):
            fs = s - lead
            if fs > cur:
                append((cur, fs))
            cur = e + before
        if cur < b:
            append((cur, b))
    return out


def _subtract_ranges(keep: list[Interval], cut_starts: list[int], cut_ends: list[int]) -> list[Interval]:
    """``keep`` minus the merged ranges ``[cut_starts[k], cut_ends[k])``; ``bisect`` skips to each window."""
    out: list[Interval] = []
    n = len(cut_starts)
    for a, b in keep:
        cur = a
        k = bisect_right(cut_ends, a)  # first cut that ends after a
        while k < n:
            cs = cut_starts[k]
            if cs >= b:
                break
            if cs > cur:
                out.append((cur, cs))
            ce = cut_ends[k]
            if ce > cur:
                cur = ce
            if cur >= b:
                break
            k += 1
        if cur < b:
            out.append((cur, b))
    return out


def _host_free_starts(host: HostAvailability, rules: LinkRules, lo: int, hi: int) -> list[Interval]:
    """Sorted disjoint ranges of instants at which a meeting with this host may start.

    A start ``s`` is forbidden by a busy or booked interval ``[bs, be)`` when the buffered meeting
    ``[s - before, s + duration + after)`` overlaps it, i.e. exactly when ``bs - duration - after < s <
    be + before``: ``s`` in ``[bs - lead, be + before)`` with ``lead = duration + after - 1``.
    """
    if hi <= lo:
        return []
    duration = rules.duration_minutes * 60
    zone = host.time_zone
    windows = _working_windows(host, local_ordinal(zone, lo) - 1, local_ordinal(zone, hi - 1 + duration) + 1)
    starts: list[Interval] = []
    for ws, we in windows:
        a = ws if ws > lo else lo
        b = we - duration + 1
        if b > hi:
            b = hi
        if a < b:
            starts.append((a, b))
    if not starts:
        return []
    if rules.max_per_day is not None and host.bookings_per_day:
        limit = rules.max_per_day
        full_days = merge(
            day_info(zone, day.toordinal())[:2]
            for day, count in host.bookings_per_day.items()
            if count >= limit
        )
        if full_days:
            starts = _subtract_ranges(starts, [c[0] for c in full_days], [c[1] for c in full_days])
    lead = duration + rules.buffer_after_minutes * 60 - 1
    before = rules.buffer_before_minutes * 60
    if not isinstance(host.busy, Spans):
        items: Sequence[Interval] = [*host.busy, *host.booked] if host.booked else host.busy
        return _free_within(starts, items, lead, before)
    free = _free_within_spans(starts, host.busy, lead, before)
    if host.booked:
        # A few bookings: take the starts they forbid out of what the calendar left free.
        forbidden = merge((s - lead, e + before) for s, e in host.booked if s < e)
        free = _subtract_ranges(free, [s for s, _ in forbidden], [e for _, e in forbidden])
    return free


def _grid_index_ranges(grid: list[int], ranges: list[Interval]) -> list[tuple[int, int]]:
    """Index ranges ``[i, j)`` of the grid points inside the given instant ranges."""
    out: list[tuple[int, int]] = []
    i = 0
    n = len(grid)
    for a, b in ranges:
        i = bisect_left(grid, a, i, n)
        j = bisect_left(grid, b, i, n)
        if i < j:
            out.append((i, j))
        i = j
    return out


def _pick(grid: list[int], ranges: list[Interval]) -> list[int]:
    out: list[int] = []
    for i, j in _grid_index_ranges(grid, ranges):
        out.extend(grid[i:j])
    return out


def host_slots(
    *, host: HostAvailability, rules: LinkRules, window_start: int, window_end: int, now: int
) -> list[int]:
    """Sorted slot starts (epochs) for one host with start in ``[window_start, window_end)``."""
    grid_zone = rules.grid_time_zone or host.time_zone
    lo, hi = _bounds(
        rules=rules, grid_zone=grid_zone, window_start=window_start, window_end=window_end, now=now
    )
    free = _host_free_starts(host, rules, lo, hi)
    if not free:
        return []
    return _pick(grid_between(grid_zone, rules.increment_minutes, free[0][0], free[-1][1]), free)


def group_slots(
    *, hosts: Sequence[HostAvailability], rules: LinkRules, window_start: int, window_end: int, now: int
) -> list[int]:
    """Slots at which every host is free (an empty group has none)."""
    if not hosts:
        return []
    grid_zone = rules.grid_time_zone or hosts[0].time_zone
    lo, hi = _bounds(
        rules=rules, grid_zone=grid_zone, window_start=window_start, window_end=window_end, now=now
    )
    common: list[Interval] | None = None
    for host in hosts:
        free = _host_free_starts(host, rules, lo, hi)
        common = free if common is None else intersect(common, free)
        if not common:
            return []
    assert common is not None
    return _pick(grid_between(grid_zone, rules.increment_minutes, common[0][0], common[-1][1]), common)


def round_robin_slots(
    *, hosts: Sequence[HostAvailability], rules: LinkRules, window_start: int, window_end: int, now: int
) -> dict[int, list[str]]:
    """Slots at which at least one host is free, each with the ids of the hosts free then (in input order)."""
    if not hosts:
        return {}
    grid_zone = rules.grid_time_zone or hosts[0].time_zone
    lo, hi = _bounds(
        rules=rules, grid_zone=grid_zone, window_start=window_start, window_end=window_end, now=now
    )
    if hi <= lo:
        return {}
    grid = grid_between(grid_zone, rules.increment_minutes, lo, hi)
    free_at: list[list[str]] = [[] for _ in grid]
    sublist = free_at.__getitem__
    for host in hosts:
        # Grid indices of every range bound, then host_id appended to free_at[i:j] for each range, all in
        # C: there are thousands of ranges and tens of thousands of (slot, host) pairs.
        bounds = list(
            map(bisect_left, repeat(grid), chain.from_iterable(_host_free_starts(host, rules, lo, hi)))
        )
        slots = chain.from_iterable(map(sublist, map(slice, bounds[0::2], bounds[1::2])))
        _drain(map(list.append, slots, repeat(host.host_id)))
    return dict(compress(zip(grid, free_at, strict=True), free_at))


def round_robin_starts(
    *, hosts: Sequence[HostAvailability], rules: LinkRules, window_start: int, window_end: int, now: int
) -> list[int]:
    """The starts of ``round_robin_slots`` alone, for pages, which do not ask who is free when.

    The hosts' free ranges are merged into one list first, so each slot is picked once, however many
    hosts are free then.
    """
    if not hosts:
        return []
    grid_zone = rules.grid_time_zone or hosts[0].time_zone
    lo, hi = _bounds(
        rules=rules, grid_zone=grid_zone, window_start=window_start, window_end=window_end, now=now
    )
    if hi <= lo:
        return []
    anyone = merge(chain.from_iterable(_host_free_starts(host, rules, lo, hi) for host in hosts))
    if not anyone:
        return []
    return _pick(grid_between(grid_zone, rules.increment_minutes, anyone[0][0], anyone[-1][1]), anyone)


def choose_round_robin_host(
    *,
    free_host_ids: Sequence[str],
    last_booked_at: Mapping[str, int | None],
    owner_id: str | None = None,
    prioritize_owner: bool = False,
) -> str:
    """The host to assign: the owner when prioritized and free, else the least recently booked.

    Hosts never booked (missing or ``None`` in ``last_booked_at``) come first; ties go to the smallest
    ``host_id`` so the choice is deterministic.
    """
    if not free_host_ids:
        raise ValueError("no free host to choose from")
    if prioritize_owner and owner_id is not None and owner_id in free_host_ids:
        return owner_id

    def key(host_id: str) -> tuple[int, int, str]:
        last = last_booked_at.get(host_id)
        return (0, 0, host_id) if last is None else (1, last, host_id)

    return min(free_host_ids, key=key)


def slots_by_local_date(*, slots: Iterable[int], time_zone: str) -> dict[date, list[datetime]]:
    """Slots as aware datetimes in ``time_zone``, grouped by local date; dates and times ascending."""
    tz = get_zone(time_zone)
    out: dict[date, list[datetime]] = {}
    for slot in sorted(set(slots)):
        when = datetime.fromtimestamp(slot, tz)
        out.setdefault(when.date(), []).append(when)
    return out


def is_slot_available(*, host: HostAvailability, rules: LinkRules, start: int, now: int) -> bool:
    """Whether ``start`` is one of ``host_slots`` (same rules; used to validate a booking)."""
    return host_slots(host=host, rules=rules, window_start=start, window_end=start + 1, now=now) == [start]


@dataclass(frozen=True, slots=True)
class NotOffered:
    """Why a start is never offered, whatever is busy or booked (a time that is offered but busy is *taken*).

    ``reason`` is one of ``past``, ``notice`` (``bound``: the earliest start the notice allows),
    ``before_window`` (``bound``: the window's first start), ``beyond_window`` (``bound``: the first
    instant past the window), ``off_grid`` (``bound``: the grid start just before, ``after``: the
    next one) and ``outside_hours`` (the meeting does not fit in the hosts' working hours).
    """

    reason: str
    bound: int | None = None
    after: int | None = None


def not_offered(
    *, hosts: Sequence[HostAvailability], rules: LinkRules, start: int, now: int, every_host: bool
) -> NotOffered | None:
    """Why ``start`` can never be a slot of these hosts under these rules, or None when it can be.

    The same rules as ``host_slots`` less busy time, bookings and per-day limits, checked in the order
    a booker can act on: past, notice, window, grid, working hours. ``every_host``: a group needs every
    host's hours; one-on-one and round robin need one host's. Only the hosts' hours are looked at.
    """
    if not hosts:
        return NotOffered("outside_hours")
    grid_zone = rules.grid_time_zone or hosts[0].time_zone
    if start < now:
        return NotOffered("past")
    earliest = now + rules.notice_minutes * 60
    if start < earliest:
        return NotOffered("notice", bound=earliest)
    first, after = _horizon(rules=rules, grid_zone=grid_zone, now=now)
    if first is not None and start < first:
        return NotOffered("before_window", bound=first)
    if after is not None and start >= after:
        return NotOffered("beyond_window", bound=after)
    step = rules.increment_minutes * 60
    near = grid_between(grid_zone, rules.increment_minutes, start - step - DAY, start + step + DAY)
    i = bisect_left(near, start)
    if i == len(near) or near[i] != start:
        return NotOffered(
            "off_grid", bound=near[i - 1] if i else None, after=near[i] if i < len(near) else None
        )
    # Only the hours: without busy time and bookings the engine's answer turns on them alone.
    fits = [
        is_slot_available(
            host=HostAvailability(
                host_id=host.host_id, time_zone=host.time_zone, weekly=host.weekly, overrides=host.overrides
            ),
            rules=rules,
            start=start,
            now=now,
        )
        for host in hosts
    ]
    if not (all(fits) if every_host else any(fits)):
        return NotOffered("outside_hours")
    return None
