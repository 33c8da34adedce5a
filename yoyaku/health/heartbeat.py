"""The background worker's heartbeat, kept in the task queue's own storage.

The queue's storage is the one place the web processes and the huey consumers always share (SQLite
file or Redis), whatever the cache is, and a consumer that can write there can also take tasks from it.
Several consumers write the same key: the readiness check wants to know that *a* worker is alive.
"""

from __future__ import annotations

from datetime import datetime

from huey import Huey

HEARTBEAT_KEY = "yoyaku:worker-heartbeat"


def record_heartbeat(*, queue: Huey, now: datetime) -> None:
    queue.put(HEARTBEAT_KEY, now.timestamp())


def last_heartbeat(*, queue: Huey) -> float | None:
    """Epoch seconds of the latest heartbeat, or None when no worker has written one."""
    value = queue.get(HEARTBEAT_KEY, peek=True)
    return float(value) if value is not None else None
