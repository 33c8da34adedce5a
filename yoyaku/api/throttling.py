"""Rate limits for the public endpoints, counted per client address.

Limits are read from settings on every request (so they can be changed without a restart of the
module, and tests can override them). The counter lives in Django's cache: the default in-memory cache
counts per process, so deployments with several processes point the cache at Redis.
"""

from __future__ import annotations

import ipaddress
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_rate(value: str | int) -> tuple[int, int]:
    """``"20/h"`` or ``"5/10m"`` as (count, seconds); a bare number is per minute."""
    text = str(value).strip()
    if "/" not in text:
        return int(text), 60
    count, period = text.split("/", 1)
    for unit in sorted(_PERIODS, key=len, reverse=True):
        if period.endswith(unit):
            multiple = period[: -len(unit)]
            return int(count), (int(multiple) if multiple else 1) * _PERIODS[unit]
    return int(count), int(period)


def _networks(entries: list[str]) -> list[_Network]:
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def _in(address: str, networks: list[_Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The address to count a request against.

    X-Forwarded-For is anyone's to write, so it is believed only when the peer is one of
    ``YOYAKU_TRUSTED_PROXIES``, and then only as far as the proxies' own entries go: the right-most
    address that is not a trusted proxy is the client (what is left of it may be forged).
    """
    peer = str(request.META.get("REMOTE_ADDR") or "")
    trusted = _networks(list(settings.YOYAKU_TRUSTED_PROXIES))
    if not _in(peer, trusted):
        return peer
    forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [part for part in forwarded if part]
    for address in reversed(forwarded):
        if not _in(address, trusted):
            return address[:64]
    return forwarded[0][:64] if forwarded else peer


def hit(*, key: str, count: int, period: int) -> float | None:
    """Count one attempt against ``key``; None when allowed, else the seconds until the window ends.

    The window opens at the first attempt and lasts ``period``; ``cache.incr`` is atomic, so racing
    requests cannot both take the last place.
    """
    now = time.time()
    cache.add(f"{key}:start", now, period)
    cache.add(f"{key}:count", 0, period)
    try:
        used = cache.incr(f"{key}:count")
    except ValueError:  # the window ended between add and incr: this attempt opens a new one
        cache.set(f"{key}:start", now, period)
        cache.set(f"{key}:count", 1, period)
        used = 1
    if used <= count:
        return None
    started = cache.get(f"{key}:start", now)
    return max(1.0, float(started) + period - now)


class ClientRateThrottle(BaseThrottle):
    """Allow ``settings.<setting>`` requests per period from one client address for one scope."""

    def __init__(self, *, scope: str, setting: str) -> None:
        self.scope = scope
        self.setting = setting
        # One instance serves every request thread; the wait belongs to the request just refused.
        self._local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        count, period = parse_rate(getattr(settings, self.setting))
        wait = hit(key=f"yoyaku-rate:{self.scope}:{client_address(request)}", count=count, period=period)
        self._local.wait = wait
        return wait is None

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)
