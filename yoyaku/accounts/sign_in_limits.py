"""Failed sign-ins, so passwords cannot be guessed at speed, nor a user locked out by a stranger.

Failures are counted twice, each in a window that opens at its first failure and lasts
``YOYAKU_SIGNIN_WINDOW_MINUTES``:

* per username and client address: ``YOYAKU_SIGNIN_MAX_FAILURES`` failures lock that username from that
  address only, so someone failing on purpose elsewhere does not lock the user out of their own network;
* per username from every address: ``YOYAKU_SIGNIN_USERNAME_MAX_FAILURES``, a much higher ceiling that
  stops guessing spread over many addresses.

While either is reached, attempts are refused without checking the password. Counted in Django's cache:
several processes need the shared one (``YOYAKU_REDIS_URL``).
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache


def _key(*parts: str) -> str:
    # Hashed: usernames are user input, and cache keys have a restricted alphabet on some backends.
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()
    return f"yoyaku-signin:{digest}"


def _keys(*, username: str, address: str) -> tuple[str, str]:
    """(per address, per username) keys; usernames are counted in any case."""
    name = username.strip().casefold()
    return _key("address", name, address), _key("username", name)


def _window() -> int:
    return int(settings.YOYAKU_SIGNIN_WINDOW_MINUTES) * 60


def _wait(key: str, limit: int) -> int | None:
    if int(cache.get(f"{key}:count", 0)) < limit:
        return None
    started = float(cache.get(f"{key}:start", time.time()))
    return max(1, math.ceil(started + _window() - time.time()))


def locked_for(*, username: str, address: str) -> int | None:
    """Seconds until ``username`` may try again from ``address``, or None when it may try now."""
    per_address, per_username = _keys(username=username, address=address)
    waits = [
        _wait(per_address, int(settings.YOYAKU_SIGNIN_MAX_FAILURES)),
        _wait(per_username, int(settings.YOYAKU_SIGNIN_USERNAME_MAX_FAILURES)),
    ]
    return max((wait for wait in waits if wait is not None), default=None)


def _count(key: str) -> None:
    window, now = _window(), time.time()
    cache.add(f"{key}:start", now, window)
    cache.add(f"{key}:count", 0, window)
    try:
        cache.incr(f"{key}:count")
    except ValueError:  # the window ended just now: this failure opens a new one
        cache.set(f"{key}:start", now, window)
        cache.set(f"{key}:count", 1, window)


def record_failure(*, username: str, address: str) -> None:
    for key in _keys(username=username, address=address):
        _count(key)


def clear_failures(*, username: str, address: str) -> None:
    """Forget the failures from ``address`` only: the per-username count holds other addresses' failures,
    and the user signing in would otherwise reset the ceiling for whoever is guessing elsewhere."""
    per_address, _ = _keys(username=username, address=address)
    cache.delete_many([f"{per_address}:start", f"{per_address}:count"])
