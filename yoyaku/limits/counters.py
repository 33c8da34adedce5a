"""Counters for the abuse limits (public API rate limits, sign-in failures), shared by every process.

A limit is only as good as its count: counted in process memory, four workers allow four times the
limit; counted with "read, then write", racing requests all read the same number. So each hit is one
atomic step that counts and answers the new count, on whichever store the deployment has:

* Redis (``YOYAKU_CACHE_URL`` or ``YOYAKU_REDIS_URL``): ``SET key 0 EX period NX``, ``INCR`` and
  ``PTTL`` in one MULTI/EXEC transaction, so the key always carries its expiry (a bare INCR on a key that
  expired a moment before would create one that never expires).
* otherwise the database, table ``web_limitcounter``: one ``INSERT ... ON CONFLICT DO UPDATE ...
  RETURNING`` statement (SQLite 3.35+, PostgreSQL) that opens a window, counts in it, or opens a new one
  when it ended. Django's database cache is not used for this: its ``incr`` is a read and a write.

A window opens at the first hit and lasts ``period`` seconds; it does not slide.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F

from yoyaku.limits.models import LimitCounter

# Expired rows are deleted now and then, by the hits themselves (no periodic task to forget).
_SWEEP_CHANCE = 0.01

# Both CASEs read the row as it was before this statement (SQL's UPDATE semantics), so a window that
# ended is replaced as a whole: count 1, a new end.
_HIT_SQL = """
INSERT INTO web_limitcounter (name, count, window_ends) VALUES (%s, 1, %s)
ON CONFLICT (name) DO UPDATE SET
    count = CASE WHEN web_limitcounter.window_ends <= %s THEN 1 ELSE web_limitcounter.count + 1 END,
    window_ends = CASE
        WHEN web_limitcounter.window_ends <= %s THEN excluded.window_ends
        ELSE web_limitcounter.window_ends
    END
RETURNING count, window_ends
"""

_UNDO_LUA = """
if redis.call('exists', KEYS[1]) == 1 and tonumber(redis.call('get', KEYS[1])) > 0 then
    return redis.call('decr', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Count:
    value: int  # hits in the current window, the one just counted included
    resets_in: float  # seconds until the window ends


def _on_redis() -> bool:
    return str(settings.CACHES["default"]["BACKEND"]).endswith("RedisCache")


def _redis(key: str) -> tuple[Any, str]:
    """The raw client and the prefixed key of Django's Redis cache (the same server and key prefix)."""
    full = cache.make_and_validate_key(key)
    return cache._cache.get_client(full, write=True), full  # type: ignore[attr-defined]


def hit(*, key: str, period: int) -> Count:
    """Count one hit against ``key`` and return the count in its window, atomically."""
    now = time.time()
    if _on_redis():
        client, full = _redis(key)
        pipe = client.pipeline(transaction=True)
        pipe.set(full, 0, ex=period, nx=True)
        pipe.incr(full)
        pipe.pttl(full)
        _, value, pttl = pipe.execute()
        return Count(value=int(value), resets_in=max(0.0, int(pttl) / 1000))
    outer = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not outer:
            # A count lost in a crash costs nothing worth a disk flush per request (measured: 2.3 ms
            # a hit with the flush, see docs/architecture.md); the statement stays atomic all the same.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(_HIT_SQL, [key, now + period, now, now])
        value, window_ends = cursor.fetchone()
    if random.random() < _SWEEP_CHANCE:  # not a secret: it only spreads the clean-up
        LimitCounter.objects.filter(window_ends__lt=now).delete()
    return Count(value=int(value), resets_in=max(0.0, float(window_ends) - now))


def peek(*, key: str) -> Count | None:
    """The count in ``key``'s current window without counting, or None when no window is open."""
    now = time.time()
    if _on_redis():
        client, full = _redis(key)
        pipe = client.pipeline(transaction=True)
        pipe.get(full)
        pipe.pttl(full)
        value, pttl = pipe.execute()
        if value is None or int(pttl) <= 0:
            return None
        return Count(value=int(value), resets_in=int(pttl) / 1000)
    row = (
        LimitCounter.objects.filter(name=key, window_ends__gt=now).values_list("count", "window_ends").first()
    )
    if row is None:
        return None
    return Count(value=int(row[0]), resets_in=float(row[1]) - now)


def undo(*, key: str) -> None:
    """Give back one hit (never below zero, never reopening an ended window)."""
    if _on_redis():
        client, full = _redis(key)
        client.eval(_UNDO_LUA, 1, full)
        return
    # One UPDATE ... SET count = count - 1: atomic like the hit.
    LimitCounter.objects.filter(name=key, count__gt=0, window_ends__gt=time.time()).update(
        count=F("count") - 1
    )


def clear(*, key: str) -> None:
    if _on_redis():
        client, full = _redis(key)
        client.delete(full)
        return
    LimitCounter.objects.filter(name=key).delete()
