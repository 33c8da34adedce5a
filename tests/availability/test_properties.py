"""Property tests: the engine against a slow direct restatement of the rules, and its own invariants."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.availability.oracle import at, grid_candidates, oracle_slots, working_windows
from yoyaku.availability import (
    HostAvailability,
    LinkRules,
    Spans,
    group_slots,
    host_slots,
    is_slot_available,
    round_robin_slots,
    round_robin_starts,
    slots_by_local_date,
)
from yoyaku.availability.intervals import merge

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "UTC",
]
# Local midnights near each zone's 2027 offset changes, and one ordinary day.
ANCHORS = [
    at("Europe/Berlin", 2027, 3, 27),
    at("Europe/Berlin", 2027, 10, 30),
    at("America/New_York", 2027, 3, 13),
    at("America/New_York", 2027, 11, 6),
    at("Australia/Lord_Howe", 2027, 4, 3),
    at("Australia/Lord_Howe", 2027, 10, 2),
    at("Pacific/Chatham", 2027, 4, 3),
    at("Pacific/Chatham", 2027, 9, 25),
    at("UTC", 2027, 6, 15),
]
PROPS = settings(max_examples=100, deadline=None)

minutes = st.integers(0, 96).map(lambda q: q * 15)


@st.composite
def day_hours(draw: st.DrawFn) -> list[tuple[int, int]]:
    if draw(st.booleans()) and draw(st.booleans()):
        return [(0, 1440)]
    out = []
    for _ in range(draw(st.integers(0, 2))):
        a, b = sorted((draw(minutes), draw(minutes)))
        out.append((a, b))
    return out


@st.composite
def windows(draw: st.DrawFn) -> tuple[int, int, int]:
    """(window_start, window_end, now), a few days around an offset change."""
    anchor = draw(st.sampled_from(ANCHORS))
    start = anchor + draw(st.integers(-2 * 86400, 86400))
    end = start + draw(st.integers(3600, 3 * 86400))
    now = start + draw(st.integers(-14 * 86400, 86400))
    return start, end, now


def intervals(start: int, end: int, max_size: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    # Odd seconds on purpose: the engine must be exact to the second, not only on minute marks.
    one = st.tuples(st.integers(start - 86400, end + 86400), st.integers(0, 6 * 3600)).map(
        lambda p: (p[0], p[0] + p[1])
    )
    return st.lists(one, max_size=max_size)


@st.composite
def hosts(
    draw: st.DrawFn, start: int, end: int, host_id: str = "h", zone: str | None = None
) -> HostAvailability:
    tz = zone or draw(st.sampled_from(ZONES))
    first = datetime.fromtimestamp(start, ZoneInfo(tz)).date() - timedelta(days=1)
    near_dates = st.integers(0, 5).map(lambda n: first + timedelta(days=n))
    busy: list[tuple[int, int]] | Spans = draw(intervals(start, end, 12))
    if draw(st.booleans()):
        busy = Spans.of(busy)  # as the busy index gives it: the engine takes its own path then
    return HostAvailability(
        host_id=host_id,
        time_zone=tz,
        weekly={d: draw(day_hours()) for d in range(7) if draw(st.integers(0, 4))},
        overrides=draw(st.dictionaries(near_dates, day_hours(), max_size=2)),
        busy=busy,
        booked=draw(intervals(start, end, 4)),
        bookings_per_day=draw(st.dictionaries(near_dates, st.integers(0, 3), max_size=3)),
    )


@st.composite
def link_rules(draw: st.DrawFn, start: int, grid_zone: str | None = None) -> LinkRules:
    horizon = draw(st.sampled_from(["none", "rolling", "fixed"]))
    fixed_start = fixed_end = None
    rolling = None
    if horizon == "rolling":
        rolling = draw(st.integers(0, 3))
    elif horizon == "fixed":
        base = datetime.fromtimestamp(start, ZoneInfo("UTC")).date()
        fixed_start = draw(st.none() | st.integers(-1, 2).map(lambda n: base + timedelta(days=n)))
        fixed_end = draw(st.none() | st.integers(2, 4).map(lambda n: base + timedelta(days=n)))
    return LinkRules(
        duration_minutes=draw(st.sampled_from([5, 15, 25, 30, 45, 60, 90, 180])),
        increment_minutes=draw(st.sampled_from([5, 10, 15, 20, 30, 45, 60])),
        notice_minutes=draw(st.sampled_from([0, 0, 30, 240, 1440])),
        buffer_before_minutes=draw(st.sampled_from([0, 0, 5, 15, 60])),
        buffer_after_minutes=draw(st.sampled_from([0, 0, 10, 30])),
        rolling_weeks=rolling,
        fixed_start=fixed_start,
        fixed_end=fixed_end,
        max_per_day=draw(st.none() | st.integers(1, 3)),
        grid_time_zone=grid_zone if grid_zone is not None else draw(st.none() | st.sampled_from(ZONES)),
    )


@st.composite
def single_cases(draw: st.DrawFn) -> tuple[HostAvailability, LinkRules, int, int, int]:
    start, end, now = draw(windows())
    return draw(hosts(start, end)), draw(link_rules(start)), start, end, now


@st.composite
def team_cases(draw: st.DrawFn) -> tuple[list[HostAvailability], LinkRules, int, int, int]:
    start, end, now = draw(windows())
    grid_zone = draw(st.sampled_from(ZONES))
    team = [draw(hosts(start, end, host_id=f"h{i}")) for i in range(draw(st.integers(1, 4)))]
    return team, draw(link_rules(start, grid_zone=grid_zone)), start, end, now


@PROPS
@given(single_cases())
def test_host_slots_equal_the_direct_restatement(
    case: tuple[HostAvailability, LinkRules, int, int, int],
) -> None:
    host, rules, start, end, now = case
    got = host_slots(host=host, rules=rules, window_start=start, window_end=end, now=now)
    assert got == oracle_slots(host=host, rules=rules, window_start=start, window_end=end, now=now)


@PROPS
@given(single_cases())
def test_every_slot_obeys_every_rule(case: tuple[HostAvailability, LinkRules, int, int, int]) -> None:
    host, rules, start, end, now = case
    got = host_slots(host=host, rules=rules, window_start=start, window_end=end, now=now)
    d = rules.duration_minutes * 60
    htz = ZoneInfo(host.time_zone)
    gtz = ZoneInfo(rules.grid_time_zone or host.time_zone)
    first = datetime.fromtimestamp(start, htz).date() - timedelta(days=3)
    hours = working_windows(host, first, datetime.fromtimestamp(end, htz).date() + timedelta(days=3))
    assert got == sorted(set(got))
    for s in got:
        assert start <= s < end
        assert s >= now + rules.notice_minutes * 60
        if rules.fixed_start is None and rules.fixed_end is None and rules.rolling_weeks is not None:
            assert s < now + rules.rolling_weeks * 7 * 86400
        if rules.fixed_start is not None:
            assert datetime.fromtimestamp(s, gtz).date() >= rules.fixed_start
        if rules.fixed_end is not None:
            assert datetime.fromtimestamp(s, gtz).date() <= rules.fixed_end
        lo, hi = s - rules.buffer_before_minutes * 60, s + d + rules.buffer_after_minutes * 60
        assert not any(bs < hi and lo < be for bs, be in (*host.busy, *host.booked) if bs < be)
        assert any(ws <= s and s + d <= we for ws, we in hours)
        local = datetime.fromtimestamp(s, gtz)
        assert (local.hour * 60 + local.minute) % rules.increment_minutes == 0 and local.second == 0
        if rules.max_per_day is not None:
            assert host.bookings_per_day.get(datetime.fromtimestamp(s, htz).date(), 0) < rules.max_per_day


@PROPS
@given(single_cases(), st.data())
def test_is_slot_available_agrees_with_host_slots(
    case: tuple[HostAvailability, LinkRules, int, int, int], data: st.DataObject
) -> None:
    host, rules, start, end, now = case
    got = set(host_slots(host=host, rules=rules, window_start=start, window_end=end, now=now))
    candidates = grid_candidates(rules.grid_time_zone or host.time_zone, rules.increment_minutes, start, end)
    picked = data.draw(st.lists(st.sampled_from(candidates), max_size=25)) if candidates else []
    for s in [*picked, *sorted(got)[:25]]:
        assert is_slot_available(host=host, rules=rules, start=s, now=now) == (s in got)
    off_grid = data.draw(st.integers(start, end))
    if off_grid % 300:
        assert not is_slot_available(host=host, rules=rules, start=off_grid, now=now)


@PROPS
@given(team_cases())
def test_group_is_the_intersection_and_round_robin_the_union(
    case: tuple[list[HostAvailability], LinkRules, int, int, int],
) -> None:
    team, rules, start, end, now = case
    each = {
        h.host_id: set(host_slots(host=h, rules=rules, window_start=start, window_end=end, now=now))
        for h in team
    }
    group = group_slots(hosts=team, rules=rules, window_start=start, window_end=end, now=now)
    assert group == sorted(set.intersection(*each.values()))
    rr = round_robin_slots(hosts=team, rules=rules, window_start=start, window_end=end, now=now)
    assert list(rr) == sorted(set.union(*each.values()))
    for s, ids in rr.items():
        assert ids == [h.host_id for h in team if s in each[h.host_id]]


@PROPS
@given(single_cases(), st.sampled_from(ZONES))
def test_slots_by_local_date_preserves_all_slots(
    case: tuple[HostAvailability, LinkRules, int, int, int], booker_zone: str
) -> None:
    host, rules, start, end, now = case
    got = host_slots(host=host, rules=rules, window_start=start, window_end=end, now=now)
    grouped = slots_by_local_date(slots=reversed(got), time_zone=booker_zone)
    assert list(grouped) == sorted(grouped)
    flat = [t for day, times in grouped.items() for t in times]
    assert [int(t.timestamp()) for t in flat] == got
    for day, times in grouped.items():
        assert times
        for t in times:
            assert t.date() == day
            assert t.tzinfo == ZoneInfo(booker_zone)


def other_form(host: HostAvailability) -> HostAvailability:
    """The same host with its busy time in the other form: Spans for a list, a shuffled list for Spans."""
    if isinstance(host.busy, Spans):
        pieces = [(s, e) for s, e in host.busy]
        # Split each span in two overlapping halves and reverse the order: the same time, unmerged.
        unmerged = [half for s, e in pieces for half in ((s, (s + e) // 2 + 1), ((s + e) // 2, e))]
        return replace(host, busy=unmerged[::-1])
    return replace(host, busy=Spans.of(host.busy))


@PROPS
@given(single_cases())
def test_busy_as_spans_or_as_any_list_gives_the_same_slots(
    case: tuple[HostAvailability, LinkRules, int, int, int],
) -> None:
    host, rules, start, end, now = case
    assert host_slots(host=other_form(host), rules=rules, window_start=start, window_end=end, now=now) == (
        host_slots(host=host, rules=rules, window_start=start, window_end=end, now=now)
    )


@PROPS
@given(team_cases())
def test_round_robin_starts_are_the_round_robin_slots_without_their_hosts(
    case: tuple[list[HostAvailability], LinkRules, int, int, int],
) -> None:
    team, rules, start, end, now = case
    others = [other_form(h) for h in team]

    def starts(hosts: list[HostAvailability]) -> list[int]:
        return round_robin_starts(hosts=hosts, rules=rules, window_start=start, window_end=end, now=now)

    def group(hosts: list[HostAvailability]) -> list[int]:
        return group_slots(hosts=hosts, rules=rules, window_start=start, window_end=end, now=now)

    slots = list(round_robin_slots(hosts=team, rules=rules, window_start=start, window_end=end, now=now))
    assert starts(team) == slots
    assert starts(others) == slots
    assert group(others) == group(team)


@PROPS
@given(intervals(0, 86400, 30))
def test_spans_read_as_the_merged_list(pairs: list[tuple[int, int]]) -> None:
    spans = Spans.of(pairs)
    merged = merge(pairs)
    assert list(spans) == merged
    assert len(spans) == len(merged)
    assert [spans[i] for i in range(len(spans))] == merged
    assert spans[1:-1] == merged[1:-1]
    assert all(a < b for a, b in spans)
    assert all(e < s for e, s in zip(spans.ends, spans.starts[1:], strict=False))
