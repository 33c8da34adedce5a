"""Rate limits for the public endpoints, counted per client address (``accounts/client_address.py``).

Limits are read from settings on every request (so they can be changed without a restart of the
module, and tests can override them). The counts are shared by every process (``limits/counters.py``: on
Redis when it is configured, else in the database).
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from yoyaku.accounts.client_address import client_address
from yoyaku.limits import counters

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


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


def hit(*, key: str, count: int, period: int) -> float | None:
    """Count one attempt against ``key``; None when allowed, else the seconds until the window ends.

    The window opens at the first attempt and lasts ``period``. The count is one atomic step on every
    store (``limits/counters.py``), so racing requests cannot both take the last place.
    """
    used = counters.hit(key=key, period=period)
    if used.value <= count:
        return None
    return max(1.0, used.resets_in)


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
