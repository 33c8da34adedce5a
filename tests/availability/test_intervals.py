"""Spans: merged intervals held as two int lists, read like the merged list of tuples."""

from __future__ import annotations

import pytest

from yoyaku.availability import Spans


def test_spans_merge_any_intervals_and_read_as_tuples() -> None:
    spans = Spans.of([(40, 50), (10, 20), (15, 30), (30, 35), (60, 60)])
    assert (spans.starts, spans.ends) == ([10, 40], [35, 50])
    assert list(spans) == [(10, 35), (40, 50)]
    assert spans[1] == (40, 50) and spans[-1] == (40, 50)
    assert (40, 50) in spans and (10, 20) not in spans
    assert len(Spans.of([])) == 0
    assert spans == Spans([10, 40], [35, 50]) and spans != Spans([10], [35])


def test_starts_and_ends_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 starts but 1 ends"):
        Spans([1, 5], [3])
