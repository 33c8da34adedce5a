"""Time zone behaviour: half-hour and 45-minute offsets, DST gaps and overlaps, windows spanning months."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.availability.oracle import at
from yoyaku.availability import HostAvailability, LinkRules, group_slots, host_slots
from yoyaku.availability.zones import UnknownTimeZone, get_zone, is_iana_zone

NOW = at("UTC", 2026, 1, 1)
ALL_WEEK = range(7)


def utc(epochs: list[int]) -> list[str]:
    return [datetime.fromtimestamp(e, UTC).strftime("%m-%d %H:%M") for e in epochs]


def day_slots(zone: str, day: date, hours: tuple[int, int], duration: int, increment: int) -> list[str]:
    hst = HostAvailability(host_id="h", time_zone=zone, weekly={d: [hours] for d in ALL_WEEK})
    rules = LinkRules(duration_minutes=duration, increment_minutes=increment, rolling_weeks=None)
    start = at(zone, day.year, day.month, day.day)
    end = at(zone, day.year, day.month, day.day, 23, 59)
    return utc(host_slots(host=hst, rules=rules, window_start=start, window_end=end, now=NOW))


def test_kolkata_half_hour_offset() -> None:
    # 09:00-11:00 IST (+05:30) is 03:30-05:30 UTC.
    got = day_slots("Asia/Kolkata", date(2027, 3, 1), (540, 660), 60, 30)
    assert got == ["03-01 03:30", "03-01 04:00", "03-01 04:30"]


def test_kolkata_host_on_a_whole_hour_grid_elsewhere() -> None:
    hst = HostAvailability(host_id="k", time_zone="Asia/Kolkata", weekly={0: [(540, 660)]})
    rules = LinkRules(
        duration_minutes=30, increment_minutes=60, rolling_weeks=None, grid_time_zone="Europe/London"
    )
    got = host_slots(
        host=hst, rules=rules, window_start=at("UTC", 2027, 3, 1), window_end=at("UTC", 2027, 3, 2), now=NOW
    )
    # London's hourly grid (UTC in March) inside 03:30-05:30 UTC, 30-minute meetings: 04:00, 05:00.
    assert utc(got) == ["03-01 04:00", "03-01 05:00"]


def test_chatham_45_minute_offset() -> None:
    # January is summer time in Chatham: +13:45. 09:00-10:00 local is 19:15-20:15 UTC the day before.
    got = day_slots("Pacific/Chatham", date(2027, 1, 11), (540, 600), 15, 15)
    assert got == ["01-10 19:15", "01-10 19:30", "01-10 19:45", "01-10 20:00"]


def test_chatham_spring_gap_skips_nonexistent_grid_times() -> None:
    # 2027-09-26 02:45 +12:45 jumps to 03:45 +13:45; 02:45, 03:00, 03:15, 03:30 do not exist.
    got = day_slots("Pacific/Chatham", date(2027, 9, 26), (120, 300), 15, 15)
    # Local 02:00..02:30 (+12:45) then 03:45..04:45 (+13:45): 5 hours of wall clock, 2 hours real.
    assert got == [
        "09-25 13:15",
        "09-25 13:30",
        "09-25 13:45",
        "09-25 14:00",
        "09-25 14:15",
        "09-25 14:30",
        "09-25 14:45",
        "09-25 15:00",
    ]


def test_lord_howe_half_hour_dst_fall_back_offers_both_instants() -> None:
    # 2027-04-04 02:00 +11:00 falls back to 01:30 +10:30; 01:30 and 01:45 happen twice.
    got = day_slots("Australia/Lord_Howe", date(2027, 4, 4), (60, 180), 15, 15)
    assert got == [
        "04-03 14:00",
        "04-03 14:15",  # 01:00, 01:15 (+11:00)
        "04-03 14:30",
        "04-03 14:45",  # 01:30, 01:45 first time (+11:00)
        "04-03 15:00",
        "04-03 15:15",  # 01:30, 01:45 second time (+10:30)
        "04-03 15:30",
        "04-03 15:45",
        "04-03 16:00",
        "04-03 16:15",  # 02:00..02:45 (+10:30)
    ]


def test_lord_howe_spring_gap() -> None:
    # 2027-10-03 02:00 +10:30 jumps to 02:30 +11:00; the 02:00 grid time does not exist.
    got = day_slots("Australia/Lord_Howe", date(2027, 10, 3), (60, 240), 30, 30)
    assert got == ["10-02 14:30", "10-02 15:00", "10-02 15:30", "10-02 16:00", "10-02 16:30"]


def test_berlin_spring_forward() -> None:
    # 2027-03-28 02:00 CET jumps to 03:00 CEST.
    got = day_slots("Europe/Berlin", date(2027, 3, 28), (60, 240), 30, 30)
    assert got == ["03-28 00:00", "03-28 00:30", "03-28 01:00", "03-28 01:30"]


def test_berlin_hours_starting_in_the_gap_move_forward_rfc5545() -> None:
    # RFC 5545 3.3.5: 02:30 does not exist that day and means 03:30 CEST (01:30 UTC).
    got = day_slots("Europe/Berlin", date(2027, 3, 28), (150, 300), 30, 30)
    assert got == ["03-28 01:30", "03-28 02:00", "03-28 02:30"]


def test_berlin_fall_back() -> None:
    # 2027-10-31 03:00 CEST falls back to 02:00 CET; 02:00 and 02:30 happen twice.
    got = day_slots("Europe/Berlin", date(2027, 10, 31), (60, 240), 30, 30)
    assert got == [
        "10-30 23:00",
        "10-30 23:30",
        "10-31 00:00",
        "10-31 00:30",
        "10-31 01:00",
        "10-31 01:30",
        "10-31 02:00",
        "10-31 02:30",
    ]


def test_berlin_hours_ending_in_the_overlap_use_the_first_occurrence() -> None:
    # Hours end at 02:30, ambiguous: the first occurrence (CEST, 00:30 UTC) ends the window.
    got = day_slots("Europe/Berlin", date(2027, 10, 31), (60, 150), 30, 30)
    assert got == ["10-30 23:00", "10-30 23:30", "10-31 00:00"]


def test_new_york_weekdays_across_dst_and_months() -> None:
    # Weekdays 09:00-10:00 from Thu 2027-02-25 to Mon 2027-04-05; DST starts Sun 2027-03-14.
    hst = HostAvailability(
        host_id="ny", time_zone="America/New_York", weekly={d: [(540, 600)] for d in range(5)}
    )
    rules = LinkRules(duration_minutes=60, rolling_weeks=None)
    got = host_slots(
        host=hst,
        rules=rules,
        window_start=at("America/New_York", 2027, 2, 25),
        window_end=at("America/New_York", 2027, 4, 6),
        now=NOW,
    )
    assert len(got) == 28  # weekdays from Feb 25 to Apr 5: 2 + 23 + 3
    text = utc(got)
    assert text[:3] == ["02-25 14:00", "02-26 14:00", "03-01 14:00"]
    assert "03-12 14:00" in text and "03-15 13:00" in text  # EST before, EDT after
    assert text[-1] == "04-05 13:00"


def test_berlin_and_new_york_group_during_the_weeks_when_only_one_changed() -> None:
    # New York moves on 2027-03-14, Berlin on 2027-03-28: in between the gap is 5 hours, not 6.
    ny = HostAvailability(
        host_id="ny", time_zone="America/New_York", weekly={d: [(540, 720)] for d in range(5)}
    )
    be = HostAvailability(
        host_id="be", time_zone="Europe/Berlin", weekly={d: [(840, 1020)] for d in range(5)}
    )
    rules = LinkRules(
        duration_minutes=60, increment_minutes=60, rolling_weeks=None, grid_time_zone="Europe/Berlin"
    )
    got = utc(
        group_slots(
            hosts=[ny, be],
            rules=rules,
            window_start=at("UTC", 2027, 3, 8),
            window_end=at("UTC", 2027, 4, 3),
            now=NOW,
        )
    )
    # Before Mar 14: NY 14:00-17:00 UTC, Berlin 13:00-16:00 UTC -> 14:00, 15:00.
    assert [t for t in got if t.startswith("03-08")] == ["03-08 14:00", "03-08 15:00"]
    # Mar 15-26: NY 13:00-16:00 UTC, Berlin 13:00-16:00 UTC -> 13:00, 14:00, 15:00.
    assert [t for t in got if t.startswith("03-15")] == ["03-15 13:00", "03-15 14:00", "03-15 15:00"]
    # From Mar 29: NY 13:00-16:00 UTC, Berlin 12:00-15:00 UTC -> 13:00, 14:00.
    assert [t for t in got if t.startswith("03-29")] == ["03-29 13:00", "03-29 14:00"]


def test_only_zone_names_of_the_iana_database_are_zones() -> None:
    for name in ("Europe/Berlin", "UTC", "Asia/Calcutta", "America/Argentina/Buenos_Aires", "Etc/GMT+5"):
        assert is_iana_zone(name), name
    # Files of the system's zoneinfo folder that are no zones, "no zone set", paths and non-strings.
    for odd in ("localtime", "posixrules", "Factory", "../zoneinfo/UTC", "/etc/localtime", "", None, "utc"):
        assert not is_iana_zone(odd), odd
        with pytest.raises(UnknownTimeZone):
            get_zone(odd)  # type: ignore[arg-type]
