"""Operations on sorted lists of disjoint half-open integer intervals ``[start, end)``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload

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


class Spans(Sequence[Interval]):
    """Merged intervals held as two parallel lists: ``starts`` and ``ends``, both strictly increasing.

    Each ``(starts[i], ends[i])`` is non-empty and ends before the next one starts, which is how the busy
    index stores a calendar's busy time (``calendar_sync/index.py``). The engine bisects the two lists
    instead of making, sorting and merging a tuple per interval; as a sequence it reads like the
    merged list of tuples. ``Spans.of`` builds one from any intervals; the constructor trusts its
    caller with the order.
    """

    __slots__ = ("ends", "starts")

    def __init__(self, starts: list[int], ends: list[int]) -> None:
        if len(starts) != len(ends):
            raise ValueError(f"{len(starts)} starts but {len(ends)} ends")
        self.starts = starts
        self.ends = ends

    @classmethod
    def of(cls, intervals: Iterable[Interval]) -> Spans:
        """The merged union of any intervals (any order, overlapping, empty ones dropped)."""
        merged = merge(intervals)
        return cls([s for s, _ in merged], [e for _, e in merged])

    def __len__(self) -> int:
        return len(self.starts)

    @overload
    def __getitem__(self, index: int) -> Interval: ...

    @overload
    def __getitem__(self, index: slice) -> list[Interval]: ...

    def __getitem__(self, index: int | slice) -> Interval | list[Interval]:
        if isinstance(index, slice):
            return list(zip(self.starts[index], self.ends[index], strict=True))
        return self.starts[index], self.ends[index]

    def __iter__(self) -> Iterator[Interval]:
        return zip(self.starts, self.ends, strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spans):
            return NotImplemented
        return self.starts == other.starts and self.ends == other.ends

    __hash__ = None  # type: ignore[assignment]  # mutable lists inside, like a list

    def __repr__(self) -> str:
        return f"Spans({list(self)!r})"
