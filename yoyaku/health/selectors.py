"""Readiness: can this web process do its work? Each check reaches one thing a request needs."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from huey import Huey

from yoyaku.health.heartbeat import last_heartbeat

logger = logging.getLogger(__name__)


class NotReady(Exception):
    """A check reached its service and found it wanting; the message says what to do."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return f"{connection.vendor} answered"


def _cache() -> str:
    # A value of this probe's own, so a stale key left by another process cannot pass for a working cache.
    key = f"yoyaku-readyz:{secrets.token_hex(8)}"
    token = secrets.token_hex(8)
    cache.set(key, token, timeout=30)
    try:
        if cache.get(key) != token:
            raise NotReady("a value written to the cache could not be read back")
    finally:
        cache.delete(key)
    return "a value was written and read back"


def _queue(queue: Huey) -> str:
    return f"{queue.pending_count()} tasks waiting"


def _worker(queue: Huey, now: datetime) -> str:
    if queue.immediate:
        return "tasks run inside the web process (immediate mode): no worker is needed"
    seen = last_heartbeat(queue=queue)
    limit = settings.YOYAKU_WORKER_HEARTBEAT_MAX_AGE
    if seen is None:
        raise NotReady("no background worker has been seen: start `manage.py run_huey`")
    age = max(0, round(now.timestamp() - seen))
    if age > limit:
        raise NotReady(
            f"the background worker was last seen {age} s ago (more than {limit} s): "
            "check that `manage.py run_huey` is running"
        )
    return f"last seen {age} s ago"


def _run(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name=name, ok=True, detail=probe())
    except NotReady as error:
        logger.warning("Not ready: %s: %s", name, error)
        return Check(name=name, ok=False, detail=str(error))
    except Exception as error:
        # A probe may fail in any way its backend fails (driver errors, refused connections); the
        # answer must name what failed instead of turning into a 500.
        logger.warning("Readiness check %s failed", name, exc_info=True)
        return Check(name=name, ok=False, detail=str(error) or type(error).__name__)


def readiness(*, queue: Huey, now: datetime) -> list[Check]:
    """The database, the cache, the task queue and a recently seen background worker, in that order."""
    return [
        _run("database", _database),
        _run("cache", _cache),
        _run("queue", lambda: _queue(queue)),
        _run("worker", lambda: _worker(queue, now)),
    ]
