"""Refuse user-supplied calendar URLs that point into our own network.

CalDAV and EWS URLs come from users; fetching them blindly would let anyone
probe the server's loopback or private network. Every address the host name
resolves to must be public, unless the operator allow-lists a network (the
demo and the test suite run their servers on loopback).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit


class UnsafeURLError(ValueError):
    """The URL is malformed or points at an address users may not reach."""


def check_url(url: str, *, allowed_networks: Iterable[str] = ()) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError("The URL must start with https:// (or http://).")
    if not parts.hostname:
        raise UnsafeURLError("The URL has no host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeURLError("The URL's port is not a number between 1 and 65535.") from error
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeURLError(f"The host {parts.hostname!r} could not be found.") from error
    allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if any(address in network for network in allowed):
            continue
        if not address.is_global or address.is_multicast:
            raise UnsafeURLError(
                f"The host {parts.hostname!r} resolves to a private or reserved address; "
                "use the server's public address."
            )
