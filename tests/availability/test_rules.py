"""One test per rule of the engine, with concrete expected slots."""

from __future__ import annotations

from datetime import date

import pytest

from tests.availability.oracle import at
from yoyaku.availability import (
    HostAvailability,
    LinkRules,
    UnknownTimeZone,
    choose_round_robin_host,
    group_slots,
    host_slots,
    is_slot_available,
    round_robin_slots,
    slots_by_local_date,
)

B = "Europe/Berlin"
MON = date(2027, 3, 1)  # a Monday, in CET (+01:00)
NOW = at("UTC", 2027, 1, 1)


def h(hh: int, mm: int = 0) -> int:
    """Minutes after midnight."""
    return hh * 60 + mm


def berlin(hh: int, mm: int = 0, day: int = 1) -> int:
    return at(B, 2027, 3, day, hh, mm)


def host(**kw: object) -> HostAvailability:
    base: dict[str, object] = {"host_id": "a", "time_zone": B, "weekly": {0: [(h(9), h(12))]}}
    base.update(kw)
    return HostAvailability(**base)  # type: ignore[arg-type]


def slots(
    hst: HostAvailability, rules: LinkRules, start: int | None = None, end: int | None = None, now: int = NOW
):
    return host_slots(
        host=hst,
        rules=rules,
        window_start=berlin(0) if start is None else start,
        window_end=berlin(0, day=2) if end is None else end,
        now=now,
    )


def test_meetings_fit_inside_working_hours_on_the_grid() -> None:
    got = slots(host(), LinkRules(duration_minutes=60, rolling_weeks=None))
    assert got == [berlin(9), berlin(9, 30), berlin(10), berlin(10, 30), berlin(11)]


def test_increment_is_counted_from_local_midnight() -> None:
    hst = host(weekly={0: [(h(9, 10), h(10, 30))]})
    got = slots(hst, LinkRules(duration_minutes=20, increment_minutes=15, rolling_weeks=None))
    assert got == [berlin(9, 15), berlin(9, 30), berlin(9, 45), berlin(10)]


def test_increments_longer_than_an_hour_restart_at_local_midnight() -> None:
    hst = host(weekly={0: [(h(0), h(24))]})
    ninety = slots(hst, LinkRules(duration_minutes=30, increment_minutes=90, rolling_weeks=None))
    assert ninety[:4] == [berlin(0), berlin(1, 30), berlin(3), berlin(4, 30)]
    assert ninety[-1] == berlin(22, 30)
    noon = slots(hst, LinkRules(duration_minutes=60, increment_minutes=720, rolling_weeks=None))
    assert noon == [berlin(0), berlin(12)]


def test_rolling_days_bound_the_window_in_days_from_now() -> None:
    hst = host(weekly={d: [(h(9), h(10))] for d in range(7)})
    now = berlin(8)  # Monday 08:00: two days reach to Wednesday 08:00
    rules = LinkRules(duration_minutes=60, rolling_days=2, rolling_weeks=None)
    got = slots(hst, rules, end=berlin(0, day=8), now=now)
    assert got == [berlin(9), berlin(9, day=2)]
    # Days win over weeks when a caller sets both: the page keeps one of them.
    both = LinkRules(duration_minutes=60, rolling_days=2, rolling_weeks=1)
    assert slots(hst, both, end=berlin(0, day=8), now=now) == got


def test_busy_time_blocks_overlapping_meetings_only() -> None:
    hst = host(busy=[(berlin(10), berlin(10, 30))])
    got = slots(hst, LinkRules(duration_minutes=60, rolling_weeks=None))
    assert got == [berlin(9), berlin(10, 30), berlin(11)]


def test_busy_input_order_and_empty_intervals_do_not_matter() -> None:
    busy = [(berlin(11), berlin(11, 30)), (berlin(9, 45), berlin(9, 45)), (berlin(9), berlin(9, 30))]
    got = slots(host(busy=busy), LinkRules(duration_minutes=30, rolling_weeks=None))
    assert got == [berlin(9, 30), berlin(10), berlin(10, 30), berlin(11, 30)]


def test_buffers_widen_the_meeting_against_busy_time() -> None:
    hst = host(busy=[(berlin(10), berlin(10, 30))])
    rules = LinkRules(
        duration_minutes=30,
        increment_minutes=15,
        buffer_before_minutes=15,
        buffer_after_minutes=15,
        rolling_weeks=None,
    )
    # [s - 15 min, s + 45 min) must miss 10:00-10:30: s <= 09:15 or s >= 10:45
    assert slots(hst, rules) == [
        berlin(9),
        berlin(9, 15),
        berlin(10, 45),
        berlin(11),
        berlin(11, 15),
        berlin(11, 30),
    ]


def test_buffers_may_extend_outside_working_hours() -> None:
    rules = LinkRules(
        duration_minutes=60, buffer_before_minutes=30, buffer_after_minutes=30, rolling_weeks=None
    )
    assert slots(host(), rules)[0] == berlin(9)
    assert slots(host(), rules)[-1] == berlin(11)


def test_booked_spans_block_like_busy_time() -> None:
    hst = host(booked=[(berlin(9, 45), berlin(11, 15))])
    got = slots(hst, LinkRules(duration_minutes=30, rolling_weeks=None))
    assert got == [berlin(9), berlin(11, 30)]


def test_minimum_notice() -> None:
    got = slots(
        host(), LinkRules(duration_minutes=30, notice_minutes=90, rolling_weeks=None), now=berlin(8, 45)
    )
    assert got == [berlin(10, 30), berlin(11), berlin(11, 30)]


def test_rolling_horizon_counts_weeks_from_now() -> None:
    rules = LinkRules(duration_minutes=180, rolling_weeks=2)
    # The horizon is exclusive: now + 14 days exactly is out.
    got = slots(host(), rules, start=berlin(0), end=berlin(0, day=29), now=berlin(9))
    assert got == [berlin(9), berlin(9, day=8)]
    got = slots(host(), rules, start=berlin(0), end=berlin(0, day=29), now=berlin(9, 1))
    assert got == [berlin(9, day=8), berlin(9, day=15)]


def test_fixed_date_range_is_inclusive_and_replaces_rolling_weeks() -> None:
    rules = LinkRules(
        duration_minutes=180, rolling_weeks=1, fixed_start=date(2027, 3, 8), fixed_end=date(2027, 3, 15)
    )
    got = slots(host(), rules, start=berlin(0), end=berlin(0, day=31), now=berlin(0))
    assert got == [berlin(9, day=8), berlin(9, day=15)]


def test_max_per_day_counts_the_hosts_local_date() -> None:
    hst = host(
        weekly={0: [(h(9), h(10))], 1: [(h(9), h(10))]}, bookings_per_day={MON: 2, date(2027, 3, 2): 1}
    )
    rules = LinkRules(duration_minutes=60, max_per_day=2, rolling_weeks=None)
    assert slots(hst, rules, end=berlin(0, day=3)) == [berlin(9, day=2)]


def test_overrides_replace_a_dates_hours_and_empty_means_day_off() -> None:
    hst = host(
        weekly={0: [(h(9), h(10))]},
        overrides={MON: [(h(14), h(15))], date(2027, 3, 8): [], date(2027, 3, 6): [(h(8), h(9))]},
    )
    got = slots(hst, LinkRules(duration_minutes=60, rolling_weeks=None), end=berlin(0, day=16))
    assert got == [berlin(14), berlin(8, day=6), berlin(9, day=15)]


def test_several_intervals_per_day_and_adjacent_ones_merge() -> None:
    hst = host(weekly={0: [(h(13), h(14)), (h(9), h(10)), (h(10), h(11))]})
    got = slots(hst, LinkRules(duration_minutes=60, rolling_weeks=None))
    assert got == [berlin(9), berlin(9, 30), berlin(10), berlin(13)]


def test_meeting_across_midnight_when_hours_touch() -> None:
    hst = host(weekly={0: [(h(23), 1440)], 1: [(0, h(1))]})
    got = slots(hst, LinkRules(duration_minutes=60, rolling_weeks=None), end=berlin(0, day=3))
    assert got == [berlin(23), berlin(23, 30), berlin(0, day=2)]


def test_window_bounds_are_half_open() -> None:
    got = slots(
        host(), LinkRules(duration_minutes=60, rolling_weeks=None), start=berlin(9, 30), end=berlin(11)
    )
    assert got == [berlin(9, 30), berlin(10), berlin(10, 30)]


def test_is_slot_available_matches_the_rules() -> None:
    hst = host(busy=[(berlin(10), berlin(10, 30))])
    rules = LinkRules(duration_minutes=30, rolling_weeks=None)
    assert is_slot_available(host=hst, rules=rules, start=berlin(9), now=NOW)
    assert not is_slot_available(host=hst, rules=rules, start=berlin(10), now=NOW)  # busy
    assert not is_slot_available(host=hst, rules=rules, start=berlin(9, 10), now=NOW)  # off the grid
    assert not is_slot_available(host=hst, rules=rules, start=berlin(11, 45), now=NOW)  # ends after hours
    assert not is_slot_available(host=hst, rules=rules, start=berlin(9), now=berlin(9, 1))  # in the past


def test_group_is_everyone_free_and_round_robin_is_anyone_free() -> None:
    a = host(host_id="a", busy=[(berlin(9), berlin(10))])
    b = host(host_id="b", busy=[(berlin(11), berlin(12))])
    rules = LinkRules(duration_minutes=60, rolling_weeks=None)
    kw = {"rules": rules, "window_start": berlin(0), "window_end": berlin(0, day=2), "now": NOW}
    assert group_slots(hosts=[a, b], **kw) == [berlin(10)]  # type: ignore[arg-type]
    rr = round_robin_slots(hosts=[a, b], **kw)  # type: ignore[arg-type]
    assert rr == {
        berlin(9): ["b"],
        berlin(9, 30): ["b"],
        berlin(10): ["a", "b"],
        berlin(10, 30): ["a"],
        berlin(11): ["a"],
    }
    assert list(rr) == sorted(rr)
    assert group_slots(hosts=[], **kw) == []  # type: ignore[arg-type]
    assert round_robin_slots(hosts=[], **kw) == {}  # type: ignore[arg-type]


def test_group_across_zones_uses_the_grid_zone() -> None:
    kolkata = HostAvailability(host_id="k", time_zone="Asia/Kolkata", weekly={0: [(h(13), h(16))]})
    berliner = host(host_id="b", weekly={0: [(h(9), h(12))]})
    rules = LinkRules(duration_minutes=60, increment_minutes=60, rolling_weeks=None, grid_time_zone=B)
    got = group_slots(
        hosts=[kolkata, berliner], rules=rules, window_start=berlin(0), window_end=berlin(0, day=2), now=NOW
    )
    # Kolkata 13:00-16:00 IST is 08:30-11:30 CET; Berlin's hourly grid fits 09:00 and 10:00.
    assert got == [berlin(9), berlin(10)]


def test_choose_round_robin_host() -> None:
    last = {"a": 300, "b": 100, "c": None, "d": 100}
    assert choose_round_robin_host(free_host_ids=["a", "b", "c"], last_booked_at=last) == "c"  # never booked
    assert choose_round_robin_host(free_host_ids=["a", "d", "b"], last_booked_at=last) == "b"  # tie -> id
    assert choose_round_robin_host(free_host_ids=["a", "e"], last_booked_at=last) == "e"  # unknown = never
    assert (
        choose_round_robin_host(
            free_host_ids=["a", "b"], last_booked_at=last, owner_id="a", prioritize_owner=True
        )
        == "a"
    )
    assert (
        choose_round_robin_host(
            free_host_ids=["a", "b"], last_booked_at=last, owner_id="x", prioritize_owner=True
        )
        == "b"
    )  # owner not free
    assert choose_round_robin_host(free_host_ids=["a", "b"], last_booked_at=last, owner_id="a") == "b"
    with pytest.raises(ValueError, match="no free host"):
        choose_round_robin_host(free_host_ids=[], last_booked_at=last)


def test_slots_by_local_date_in_the_bookers_zone() -> None:
    got = slots_by_local_date(slots=[berlin(17, day=2), berlin(9), berlin(15, 30)], time_zone="Asia/Tokyo")
    # Berlin 15:30 CET is 23:30 JST the same day; 17:00 on the 2nd is 01:00 on the 3rd in Tokyo.
    assert [(d.isoformat(), [t.strftime("%H:%M%z") for t in ts]) for d, ts in got.items()] == [
        ("2027-03-01", ["17:00+0900", "23:30+0900"]),
        ("2027-03-03", ["01:00+0900"]),
    ]


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(UnknownTimeZone, match="Mars/Olympus_Mons"):
        host(time_zone="Mars/Olympus_Mons")
    with pytest.raises(UnknownTimeZone, match="not a zone"):
        LinkRules(duration_minutes=30, grid_time_zone="not a zone")
    with pytest.raises(UnknownTimeZone):
        slots_by_local_date(slots=[0], time_zone="../etc/passwd")
    assert issubclass(UnknownTimeZone, ValueError)


@pytest.mark.parametrize(
    "kw",
    [
        {"duration_minutes": 0},
        {"duration_minutes": 30, "increment_minutes": 4},
        {"duration_minutes": 30, "increment_minutes": 721},
        {"duration_minutes": 30, "rolling_days": -1},
        {"duration_minutes": 30, "notice_minutes": -1},
        {"duration_minutes": 30, "max_per_day": 0},
        {"duration_minutes": 30, "fixed_start": date(2027, 2, 1), "fixed_end": date(2027, 1, 1)},
    ],
)
def test_invalid_rules_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LinkRules(**kw)  # type: ignore[arg-type]


def test_invalid_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="1440"):
        host(weekly={0: [(h(9), 1500)]})
    with pytest.raises(ValueError, match="weekday"):
        host(weekly={7: [(h(9), h(10))]})


def test_hours_and_intervals_given_as_json_lists() -> None:
    hst = host(weekly={0: [[h(9), h(11)]]}, busy=[[berlin(9), berlin(10)]])  # type: ignore[list-item]
    assert slots(hst, LinkRules(duration_minutes=60, rolling_weeks=None)) == [berlin(10)]


def test_hosts_sharing_a_zone_keep_their_own_hours() -> None:
    rules = LinkRules(duration_minutes=60, rolling_weeks=None)
    early = host(weekly={0: [(h(8), h(9))]})
    late = host(weekly={0: [(h(15), h(16))]})
    with_override = host(weekly={0: [(h(8), h(9))]}, overrides={MON: [(h(12), h(13))]})
    assert slots(early, rules) == [berlin(8)]
    assert slots(late, rules) == [berlin(15)]
    assert slots(with_override, rules) == [berlin(12)]
    assert slots(early, rules) == [berlin(8)]
