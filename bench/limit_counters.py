"""Cost of one abuse-limit hit (``yoyaku/limits/counters.py``) per store, against process memory.

Run from the repository root: ``python -m bench.limit_counters`` (a scratch SQLite file in a temporary
folder; PostgreSQL and Redis are measured too when ``YOYAKU_DATABASE_URL`` / ``YOYAKU_REDIS_URL`` are set,
one store per run, since settings are read at start-up). Prints the median of 5 rounds of 2,000 hits.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time


def main() -> None:
    folder = tempfile.mkdtemp(prefix="yoyaku-bench-")
    os.environ.setdefault("YOYAKU_DATA_DIR", folder)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yoyaku.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache.backends.locmem import LocMemCache
    from django.core.management import call_command
    from django.db import connection

    from yoyaku.limits import counters

    call_command("migrate", verbosity=0)
    rounds, hits = 5, 2000
    store = "redis" if counters._on_redis() else connection.vendor

    def per_hit(function: object) -> float:
        timings = []
        for round_number in range(rounds):
            started = time.perf_counter()
            for index in range(hits):
                function(f"bench-{round_number}-{index % 50}")  # type: ignore[operator]
            timings.append((time.perf_counter() - started) / hits * 1e6)
        return statistics.median(timings)

    memory = LocMemCache("bench", {})

    def in_memory(key: str) -> None:
        # The former per-process count: add the window's keys, then incr.
        memory.add(f"{key}:start", time.time(), 3600)
        memory.add(f"{key}:count", 0, 3600)
        memory.incr(f"{key}:count")

    shared = per_hit(lambda key: counters.hit(key=key, period=3600))
    local = per_hit(in_memory)
    print(f"store: {store} ({settings.DATABASES['default']['ENGINE']})")
    print(f"shared counter, one hit: {shared:.1f} µs")
    print(f"process memory, one hit: {local:.1f} µs")


if __name__ == "__main__":
    main()
