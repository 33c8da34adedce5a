"""Failed sign-ins, so passwords cannot be guessed at speed, nor a user locked out by a stranger.

Attempts are counted twice, each in a window that opens at its first attempt and lasts
``YOYAKU_SIGNIN_WINDOW_MINUTES``:

* per username and client address: ``YOYAKU_SIGNIN_MAX_FAILURES`` attempts that were not a success lock
  that username from that address only, so someone failing on purpose elsewhere does not lock the user
  out of their own network;
* per username from every address: ``YOYAKU_SIGNIN_USERNAME_MAX_FAILURES``, a much higher ceiling that
  stops guessing spread over many addresses.

Every sign-in path goes through :class:`SignInLimitBackend` (the only entry of
``AUTHENTICATION_BACKENDS``): the sign-in page, the admin's login page, ``django.contrib.auth.authenticate``
anywhere. The attempt is counted *before* the password is checked, in one atomic step per counter
(``limits/counters.py``), so racing attempts cannot all pass a check made before any of them was counted:
at most the limit's number of passwords is ever checked in a window. Over either limit the attempt is
refused without checking the password, even a correct one, until the window ends; nothing shortens a
window that reached its limit. A success below the limit clears its address's count (the user is back)
and gives back its place in the per-username count (the ceiling counts other addresses' failures, which
the user signing in must not reset).

An address already over its own limit is refused before the per-username count is touched, so one
locked address cannot run up the ceiling and lock the user out everywhere.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import ngettext

from yoyaku.accounts.client_address import client_address
from yoyaku.limits import counters

# Set on the request when an attempt was refused, so views can answer 429 with Retry-After.
WAIT_ATTRIBUTE = "yoyaku_sign_in_wait"


def _key(*parts: str) -> str:
    # Hashed: usernames are user input, and keys have a restricted alphabet and length on some stores.
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()
    return f"yoyaku-signin:{digest}"


def _keys(*, username: str, address: str) -> tuple[str, str]:
    """(per address, per username) keys; usernames are counted in any case."""
    name = username.strip().casefold()
    return _key("address", name, address), _key("username", name)


def _window() -> int:
    return int(settings.YOYAKU_SIGNIN_WINDOW_MINUTES) * 60


def _wait(count: counters.Count | None, limit: int) -> int | None:
    if count is None or count.value <= limit:
        return None
    return max(1, math.ceil(count.resets_in))


def begin_attempt(*, username: str, address: str) -> int | None:
    """Count an attempt; None when its password may be checked, else the seconds until it may try again."""
    per_address, per_username = _keys(username=username, address=address)
    window = _window()
    wait = _wait(counters.hit(key=per_address, period=window), int(settings.YOYAKU_SIGNIN_MAX_FAILURES))
    if wait is not None:
        return wait
    return _wait(
        counters.hit(key=per_username, period=window), int(settings.YOYAKU_SIGNIN_USERNAME_MAX_FAILURES)
    )


def attempt_succeeded(*, username: str, address: str) -> None:
    per_address, per_username = _keys(username=username, address=address)
    counters.clear(key=per_address)
    counters.undo(key=per_username)


def locked_for(*, username: str, address: str) -> int | None:
    """Seconds until ``username`` may try again from ``address``, or None when it may try now
    (without counting anything)."""
    per_address, per_username = _keys(username=username, address=address)
    waits = [
        _wait(counters.peek(key=per_address), int(settings.YOYAKU_SIGNIN_MAX_FAILURES) - 1),
        _wait(counters.peek(key=per_username), int(settings.YOYAKU_SIGNIN_USERNAME_MAX_FAILURES) - 1),
    ]
    return max((wait for wait in waits if wait is not None), default=None)


def minutes_message(wait: int) -> str:
    minutes = math.ceil(wait / 60)
    return ngettext(
        "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
        "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


class SignInLimitBackend(ModelBackend):
    """Django's model backend behind the sign-in limits: every password check Django makes passes here."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(self._username_field())
        if username is None or password is None:
            return None
        address = client_address(request) if request is not None else ""
        wait = begin_attempt(username=str(username), address=address)
        if wait is not None:
            if request is not None:
                setattr(request, WAIT_ATTRIBUTE, wait)
            # Stops django.contrib.auth.authenticate here: no other backend checks this password.
            raise PermissionDenied(minutes_message(wait))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            attempt_succeeded(username=str(username), address=address)
        return user

    @staticmethod
    def _username_field() -> str:
        return str(get_user_model().USERNAME_FIELD)
