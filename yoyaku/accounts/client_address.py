"""The address a request is counted against by the rate limits and the sign-in lockout.

X-Forwarded-For is anyone's to write, so it is believed only when the peer is one of
``YOYAKU_TRUSTED_PROXIES``, and then only as far as the proxies' own entries go.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(entries: list[str]) -> list[_Network]:
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]


def _in(address: str, networks: list[_Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The peer's address, or behind trusted proxies the right-most forwarded address that is not a
    trusted proxy (what is left of it may be forged)."""
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
