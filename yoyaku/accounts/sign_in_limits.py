"""Failed sign-ins per username, so passwords cannot be guessed at speed.

After ``YOYAKU_SIGNIN_MAX_FAILURES`` failures within ``YOYAKU_SIGNIN_WINDOW_MINUTES`` (the window opens
at the first failure) further attempts for that username are refused without checking the password
until the window ends. Counted in Django's cache: several processes need a shared cache (Redis).
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache


def _key(username: str) -> str:
    # Hashed: usernames are user input, and cache keys have a restricted alphabet on some backends.
    digest = hashlib.sha256(username.strip().casefold().encode("utf-8")).hexdigest()
    return f"yoyaku-signin:{digest}"


def _window() -> int:
    return int(settings.YOYAKU_SIGNIN_WINDOW_MINUTES) * 60


def locked_for(*, username: str) -> int | None:
    """Seconds until ``username`` may try again, or None when it may try now."""
    key = _key(username)
    if int(cache.get(f"{key}:count", 0)) < int(settings.YOYAKU_SIGNIN_MAX_FAILURES):
        return None
    started = float(cache.get(f"{key}:start", time.time()))
    return max(1, math.ceil(started + _window() - time.time()))


def record_failure(*, username: str) -> None:
    key, window, now = _key(username), _window(), time.time()
    cache.add(f"{key}:start", now, window)
    cache.add(f"{key}:count", 0, window)
    try:
        cache.incr(f"{key}:count")
    except ValueError:  # the window ended just now: this failure opens a new one
        cache.set(f"{key}:start", now, window)
        cache.set(f"{key}:count", 1, window)


def clear_failures(*, username: str) -> None:
    key = _key(username)
    cache.delete_many([f"{key}:start", f"{key}:count"])
