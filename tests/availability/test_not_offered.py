"""Why a start is not offered at all (422), as opposed to offered but taken (409)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.availability.oracle import at, grid_candidates
from tests.availability.test_properties import PROPS, single_cases, team_cases
from yoyaku.availability import (
    HostAvailability,
    LinkRules,
    NotOffered,
    group_slots,
    host_slots,
    is_slot_available,
    not_offered,
    round_robin_slots,
)

B = "Europe/Berlin"
NOW = at(B, 2027, 3, 1, 7)  # a Monday morning
HOST = HostAvailability(host_id="a", time_zone=B, weekly={d: [(9 * 60, 17 * 60)] for d in range(7)})


def berlin(hh: int, mm: int = 0, day: int = 2) -> int:
    return at(B, 2027, 3, day, hh, mm)


def reason(start: int, **rules: object) -> NotOffered | None:
    base: dict[str, object] = {"duration_minutes": 30, "increment_minutes": 30, "rolling_weeks": 2}
    base.update(rules)
    return not_offered(
        hosts=[HOST],
        rules=LinkRules(**base),
        start=start,
        now=NOW,
        every_host=True,  # type: ignore[arg-type]
    )


def test_an_offered_start_has_no_reason_even_when_it_is_busy() -> None:
    assert reason(berlin(10)) is None
    busy = dataclasses.replace(HOST, busy=[(berlin(9), berlin(17))], bookings_per_day={date(2027, 3, 2): 5})
    rules = LinkRules(duration_minutes=30, max_per_day=1)
    assert not is_slot_available(host=busy, rules=rules, start=berlin(10), now=NOW)
    assert not_offered(hosts=[busy], rules=rules, start=berlin(10), now=NOW, every_host=True) is None


@pytest.mark.parametrize(
    ("start", "rules", "expected"),
    [
        (berlin(6, day=1), {}, NotOffered("past")),
        (berlin(10, day=1), {"notice_minutes": 240}, NotOffered("notice", bound=berlin(11, day=1))),
        (berlin(10, day=15), {}, NotOffered("beyond_window", bound=NOW + 14 * 86400)),
        (
            berlin(10),
            {"fixed_start": date(2027, 3, 5), "fixed_end": date(2027, 3, 9)},
            NotOffered("before_window", bound=berlin(0, day=5)),
        ),
        (
            berlin(10, day=10),
            {"fixed_start": date(2027, 3, 5), "fixed_end": date(2027, 3, 9)},
            NotOffered("beyond_window", bound=berlin(0, day=10)),
        ),
        (berlin(10, 10), {}, NotOffered("off_grid", bound=berlin(10), after=berlin(10, 30))),
        (berlin(10, 0) + 1, {}, NotOffered("off_grid", bound=berlin(10), after=berlin(10, 30))),
        (berlin(8, 30), {}, NotOffered("outside_hours")),
        (berlin(16, 30), {"duration_minutes": 60}, NotOffered("outside_hours")),
    ],
    ids=["past", "notice", "rolling", "before-fixed", "after-fixed", "grid", "second", "early", "overruns"],
)
def test_each_reason(start: int, rules: dict[str, object], expected: NotOffered) -> None:
    assert reason(start, **rules) == expected


def test_the_grid_is_the_page_zones_wall_clock() -> None:
    # Kathmandu is +05:45: its :00 and :30 are :15 and :45 in UTC.
    kathmandu = HostAvailability(host_id="k", time_zone="Asia/Kathmandu", weekly={1: [(0, 1440)]})
    rules = LinkRules(duration_minutes=30, rolling_weeks=None, grid_time_zone="Asia/Kathmandu")
    start = at("Asia/Kathmandu", 2027, 3, 2, 10)
    assert not_offered(hosts=[kathmandu], rules=rules, start=start, now=NOW, every_host=True) is None
    assert not_offered(hosts=[kathmandu], rules=rules, start=start + 15 * 60, now=NOW, every_host=True) == (
        NotOffered("off_grid", bound=start, after=start + 30 * 60)
    )


def test_a_group_needs_every_hosts_hours_and_round_robin_one() -> None:
    mornings = dataclasses.replace(HOST, host_id="m", weekly={1: [(9 * 60, 12 * 60)]})
    rules = LinkRules(duration_minutes=30, rolling_weeks=None)
    afternoon = berlin(14)
    assert not_offered(hosts=[HOST, mornings], rules=rules, start=afternoon, now=NOW, every_host=True) == (
        NotOffered("outside_hours")
    )
    assert (
        not_offered(hosts=[HOST, mornings], rules=rules, start=afternoon, now=NOW, every_host=False) is None
    )


def _free(host: HostAvailability) -> HostAvailability:
    return HostAvailability(
        host_id=host.host_id, time_zone=host.time_zone, weekly=host.weekly, overrides=host.overrides
    )


@PROPS
@given(single_cases(), st.data())
def test_not_offered_is_exactly_what_a_host_without_busy_time_would_not_offer(
    case: tuple[HostAvailability, LinkRules, int, int, int], data: st.DataObject
) -> None:
    host, rules, start, end, now = case
    offered = set(host_slots(host=_free(host), rules=rules, window_start=start, window_end=end, now=now))
    taken_or_free = set(host_slots(host=host, rules=rules, window_start=start, window_end=end, now=now))
    candidates = grid_candidates(rules.grid_time_zone or host.time_zone, rules.increment_minutes, start, end)
    picked = data.draw(st.lists(st.sampled_from(candidates), max_size=25)) if candidates else []
    picked += data.draw(st.lists(st.integers(start, end - 1), max_size=10))
    for s in [*picked, *sorted(offered)[:25]]:
        why = not_offered(hosts=[host], rules=rules, start=s, now=now, every_host=True)
        assert (why is None) == (s in offered), (s, why)
        if s in taken_or_free:
            assert why is None


@PROPS
@given(team_cases(), st.data())
def test_groups_and_round_robin_agree_with_their_slots_without_busy_time(
    case: tuple[list[HostAvailability], LinkRules, int, int, int], data: st.DataObject
) -> None:
    team, rules, start, end, now = case
    free = [_free(h) for h in team]
    group = set(group_slots(hosts=free, rules=rules, window_start=start, window_end=end, now=now))
    anyone = set(round_robin_slots(hosts=free, rules=rules, window_start=start, window_end=end, now=now))
    candidates = grid_candidates(
        rules.grid_time_zone or team[0].time_zone, rules.increment_minutes, start, end
    )
    picked = data.draw(st.lists(st.sampled_from(candidates), max_size=25)) if candidates else []
    for s in picked:
        assert (not_offered(hosts=team, rules=rules, start=s, now=now, every_host=True) is None) == (
            s in group
        )
        assert (not_offered(hosts=team, rules=rules, start=s, now=now, every_host=False) is None) == (
            s in anyone
        )
