"""The busy index: merged busy spans packed as int64 epoch seconds, cut to a window by bisection.

Layout: ``n`` starts then ``n`` ends, native int64 (``array('q')``). The spans are merged
(disjoint) and sorted, so the ends are sorted too: the first span ending after the window's
start and the first starting at or after its end are found by bisection on a zero-copy
``memoryview``, and only the spans in the window are turned into Python tuples. Loading is
independent of how many events the calendar holds (see bench/RESULTS.md).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from yoyaku.availability import Spans

Interval = tuple[int, int]


def merge(spans: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint spans covering the same time; touching spans are joined."""
    merged: list[Interval] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def pack(spans: Iterable[Interval]) -> bytes:
    merged = merge(spans)
    values = array("q", [s for s, _ in merged])
    values.extend(e for _, e in merged)
    return values.tobytes()


def cut(blob: bytes | memoryview, *, start: int, end: int) -> list[Interval]:
    """The packed spans that overlap ``[start, end)``, unclipped."""
    return list(cut_spans(blob, start=start, end=end))


def cut_spans(blob: bytes | memoryview, *, start: int, end: int) -> Spans:
    """``cut`` as the engine reads it: the starts and the ends as two lists, no tuple per span."""
    if not blob:
        return Spans([], [])
    view = memoryview(blob).cast("q")
    n = len(view) // 2
    first = bisect_right(view, start, n, 2 * n) - n  # first span whose end is after start
    last = bisect_left(view, end, 0, n)  # first span starting at or after end
    if last <= first:
        return Spans([], [])
    return Spans(view[first:last].tolist(), view[n + first : n + last].tolist())
