"""Slot starts as the availability answer writes them: by the booker's local date, as ISO 8601 text.

A round robin page offers thousands of slots. Made into aware datetimes and handed to the JSON encoder,
each one cost a ``datetime``, a zone lookup in ``isoformat`` and a call back from the encoder into
Python; that was most of the answer's time. Here each local day of one UTC offset (nearly all of them)
is written as its date, the clock time and the offset, from the epoch; days with an offset change go
through ``datetime`` as before. The text is exactly what the API's encoder (Django's
``DjangoJSONEncoder``) writes for the same instant: ``isoformat()``, with ``Z`` for UTC.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from yoyaku.availability.zones import DAY, day_info, get_zone, local_ordinal

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ENCODER = DjangoJSONEncoder()

# Seconds after local midnight -> "HH:MM:SS"; a server sees few distinct clock times (the grid's).
_CLOCK: dict[int, str] = {}


def _clock(seconds: int) -> str:
    text = _CLOCK.get(seconds)
    if text is None:
        hours, rest = divmod(seconds, 3600)
        text = _CLOCK[seconds] = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return text


def _offset_text(offset: int) -> str:
    if offset == 0:
        return "Z"
    sign = "+" if offset > 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def slot_days(*, starts: Sequence[int], time_zone: str) -> list[dict[str, Any]]:
    """``[{"date": local date, "slots": [ISO 8601 text, ...]}, ...]`` for ascending, distinct ``starts``.

    The same days and times, in the same order, as ``availability.slots_by_local_date`` gives.
    """
    tz = get_zone(time_zone)
    days: dict[date, list[str]] = {}
    i, n = 0, len(starts)
    while i < n:
        first = starts[i]
        ordinal = local_ordinal(time_zone, first)
        midnight, next_midnight, uniform = day_info(time_zone, ordinal)
        offset = (ordinal - _EPOCH_ORDINAL) * DAY - midnight
        if uniform and offset % 60 == 0 and midnight <= first < next_midnight:
            # Every instant of [midnight, next midnight) is this date, at midnight + its clock time.
            j = bisect_left(starts, next_midnight, i)
            day = date.fromordinal(ordinal)
            prefix, suffix = f"{day.isoformat()}T", _offset_text(offset)
            days.setdefault(day, []).extend(prefix + _clock(s - midnight) + suffix for s in starts[i:j])
            i = j
        else:
            when = datetime.fromtimestamp(first, tz)
            days.setdefault(when.date(), []).append(_ENCODER.default(when))
            i += 1
    return [{"date": day, "slots": texts} for day, texts in days.items()]
