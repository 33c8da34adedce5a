"""The availability answer's slot text: the same days and the same text as datetimes through the encoder."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.availability.oracle import at
from yoyaku.api.slot_times import slot_days
from yoyaku.availability import slots_by_local_date
from yoyaku.availability.zones import iana_zone_names

# Offsets of every kind: whole hours, half and quarter hours, negative, 30-minute DST (Lord Howe), a
# change at midnight (Havana, Santiago), one of a day (Apia 2011), and UTC, which the encoder writes as Z.
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Pacific/Apia",
    "Africa/Monrovia",
]
ANCHORS = [
    at("UTC", 2027, 3, 1),
    at("UTC", 2027, 3, 27),
    at("UTC", 2027, 10, 31),
    at("UTC", 2027, 11, 7),
    at("UTC", 2027, 4, 4),
    at("UTC", 2011, 12, 29),  # Apia skipped 30 December 2011
    at("UTC", 1971, 1, 1),  # Monrovia was -0:44:30 then: an offset of seconds
]


@st.composite
def slot_starts(draw: st.DrawFn) -> list[int]:
    anchor = draw(st.sampled_from(ANCHORS))
    step = draw(st.sampled_from([300, 900, 1800, 3600, 1]))
    picked = draw(st.lists(st.integers(-3 * 86400 // step, 3 * 86400 // step), max_size=200))
    return sorted({anchor + k * step for k in picked})


@settings(max_examples=300, deadline=None)
@given(slot_starts(), st.sampled_from(ZONES))
def test_slot_text_is_what_the_encoder_writes_for_the_datetimes(starts: list[int], zone: str) -> None:
    encoder = DjangoJSONEncoder()
    expected = [
        {"date": day, "slots": [encoder.default(t) for t in times]}
        for day, times in slots_by_local_date(slots=starts, time_zone=zone).items()
    ]
    assert slot_days(starts=starts, time_zone=zone) == expected


def test_every_zone_writes_a_day_of_quarter_hours_as_the_encoder_does() -> None:
    encoder = DjangoJSONEncoder()
    starts = list(range(at("UTC", 2027, 3, 27), at("UTC", 2027, 3, 29), 900))
    for zone in sorted(iana_zone_names()):
        expected = [
            {"date": day, "slots": [encoder.default(t) for t in times]}
            for day, times in slots_by_local_date(slots=starts, time_zone=zone).items()
        ]
        assert slot_days(starts=starts, time_zone=zone) == expected, zone


def test_utc_is_written_with_z_and_other_offsets_in_full() -> None:
    start = at("UTC", 2027, 3, 1, 9)
    assert slot_days(starts=[start], time_zone="UTC")[0]["slots"] == ["2027-03-01T09:00:00Z"]
    assert slot_days(starts=[start], time_zone="Asia/Kolkata")[0]["slots"] == ["2027-03-01T14:30:00+05:30"]
    assert slot_days(starts=[start], time_zone="America/St_Johns")[0]["slots"] == [
        "2027-03-01T05:30:00-03:30"
    ]
