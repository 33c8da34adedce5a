"""The packed busy index: merged on the way in, cut to any window on the way out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from tests.factories import connect_caldav, make_host
from yoyaku.calendar_sync.busy import index_busy
from yoyaku.calendar_sync.index import cut, cut_spans, merge, pack
from yoyaku.calendars.base import CalendarUnavailable


def test_spans_are_merged_sorted_and_empty_ones_dropped() -> None:
    assert merge([(40, 50), (10, 20), (15, 30), (30, 35), (60, 60), (70, 65)]) == [(10, 35), (40, 50)]


def test_a_window_gets_exactly_the_spans_that_overlap_it() -> None:
    blob = pack([(10, 20), (30, 40), (50, 60)])

    assert cut(blob, start=0, end=100) == [(10, 20), (30, 40), (50, 60)]
    assert cut(blob, start=20, end=30) == []  # touching is not overlapping (end-exclusive)
    assert cut(blob, start=19, end=31) == [(10, 20), (30, 40)]
    assert cut(blob, start=35, end=36) == [(30, 40)]  # inside one span
    assert cut(blob, start=61, end=70) == []
    assert cut(b"", start=0, end=100) == []


def test_cutting_agrees_with_filtering_every_span() -> None:
    rng = random.Random(7)
    spans = [(s, s + rng.randrange(1, 500)) for s in (rng.randrange(0, 100_000) for _ in range(2_000))]
    blob = pack(spans)
    merged = merge(spans)
    for _ in range(200):
        lo = rng.randrange(-1_000, 101_000)
        hi = lo + rng.randrange(1, 20_000)
        assert cut(blob, start=lo, end=hi) == [(a, b) for a, b in merged if b > lo and a < hi]
        assert list(cut_spans(blob, start=lo, end=hi)) == cut(blob, start=lo, end=hi)


@pytest.mark.django_db
def test_a_connection_never_synced_says_so_in_the_hosts_language() -> None:
    connection = connect_caldav(
        make_host(),
        server_url="http://calendar.invalid/",
        username="u",
        password="p",
        calendar_url="http://x/",
    )
    now = datetime.now(UTC)
    with translation.override("ja"), pytest.raises(CalendarUnavailable) as raised:
        index_busy(connection=connection, sync=None, start=now, end=now + timedelta(days=1), now=now)
    assert (
        str(raised.value) == "カレンダーはまだ読み込まれていません。1分ほどしてからもう一度お試しください。"
    )
