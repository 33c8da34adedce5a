"""Operations on sorted lists of disjoint half-open integer intervals ``[start, end)``."""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[int, int]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or touching intervals; empty intervals are dropped."""
    out: list[Interval] = []
    cur_s = cur_e = 0
    have = False
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if have and s <= cur_e:
            if e > cur_e:
                cur_e = e
        else:
            if have:
                out.append((cur_s, cur_e))
            cur_s, cur_e, have = s, e, True
    if have:
        out.append((cur_s, cur_e))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Intersection of two sorted disjoint lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        s = max(a[i][0], b[j][0])
        e = min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out
