"""Refuse user-supplied calendar URLs that point into our own network, and connect only where checked.

CalDAV and EWS URLs come from users; fetching them blindly would let anyone
probe the server's loopback or private network. Every address the host name
resolves to must be public, unless the operator allow-lists a network (the
demo and the test suite run their servers on loopback).

Checking a name and then letting the HTTP client resolve it again leaves a
DNS-rebinding window: the first answer can be public and the second one
127.0.0.1. So the name is resolved once, at connect time, every address is
checked, and the socket is opened to a checked address. The HTTP layer keeps
the name for the Host header and for TLS (SNI and certificate verification).
:func:`pinned_transport` does this for httpx (CalDAV), :class:`PinnedHTTPAdapter`
for requests (Exchange); every connection of the client goes through it,
including those a redirect or a server-given href leads to.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import httpcore
import httpx
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 forms that reach an IPv4 host: IPv4-mapped (RFC 4291 §2.5.5.2) and IPv4-compatible (§2.5.5.1),
# IPv4-translated (RFC 2765 §2.1, ``::ffff:0:a.b.c.d``) and the NAT64 well-known prefix (RFC 6052 §2.1).
# They are judged as the IPv4 address they carry.
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


class UnsafeURLError(ValueError):
    """The URL is malformed or points at an address users may not reach."""


def _networks(allowed_networks: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in allowed_networks]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, bool]:
    """(the IPv4 address ``address`` carries, whether it is that same host rather than a tunnel to it)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, True
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIIT or address in _NAT64:
        return low, True
    if address in _COMPATIBLE and int(address) > 1:  # not :: or ::1, which are judged as themselves
        return low, True
    if address.sixtofour is not None:  # 6to4, RFC 3056: 2002:V4ADDR::/48
        return address.sixtofour, False
    if address.teredo is not None:  # Teredo, RFC 4380: (server, client)
        return address.teredo[1], False
    return None, False


def address_allowed(address: IPAddress, *, allowed_networks: Iterable[str] = ()) -> bool:
    """Whether users' calendar URLs may reach ``address``: public, or in an allow-listed network."""
    allowed = _networks(allowed_networks)
    return _allowed(address, allowed)


def _allowed(address: IPAddress, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if any(address in network for network in allowed):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded, same_host = _embedded_ipv4(address)
        if embedded is not None:
            if same_host:
                return _allowed(embedded, allowed)
            if not _allowed(embedded, allowed):
                return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def resolve(host: str, port: int, *, allowed_networks: Iterable[str] = ()) -> list[tuple[Any, ...]]:
    """Resolve ``host`` once; every address must be allowed. Returns getaddrinfo's entries to connect to."""
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeURLError(f"The host {host!r} could not be found.") from error
    allowed = _networks(allowed_networks)
    for info in infos:
        # Drop an IPv6 zone ("fe80::1%eth0"): the address decides, and the zone alone is not an address.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not _allowed(address, allowed):
            raise UnsafeURLError(
                f"The host {host!r} resolves to a private or reserved address; "
                "use the server's public address."
            )
    if not infos:
        raise UnsafeURLError(f"The host {host!r} could not be found.")
    return infos


def check_url(url: str, *, allowed_networks: Iterable[str] = ()) -> None:
    """Check a URL's form and its host's addresses now, for a clear message before anything is sent.

    The connection itself is checked again by the pinned clients below (that check is the one that
    counts: the name may resolve differently a moment later).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError("The URL must start with https:// (or http://).")
    if not parts.hostname:
        raise UnsafeURLError("The URL has no host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeURLError("The URL's port is not a number between 1 and 65535.") from error
    resolve(parts.hostname, port, allowed_networks=allowed_networks)


def connect(
    host: str,
    port: int,
    *,
    allowed_networks: Iterable[str],
    timeout: float | None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """A TCP connection to a checked address of ``host`` (tried in resolver order, like
    ``socket.create_connection``). Raises :class:`UnsafeURLError` or ``OSError``."""
    last: OSError | None = None
    for family, kind, proto, _name, sockaddr in resolve(host, port, allowed_networks=allowed_networks):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            sock.close()
            last = error
    raise last or OSError(f"Could not connect to {host}:{port}.")


def unsafe_cause(error: BaseException) -> UnsafeURLError | None:
    """The :class:`UnsafeURLError` behind an HTTP client's connection error, if that is what it was."""
    current: BaseException | None = error
    for _depth in range(8):
        if current is None:
            return None
        if isinstance(current, UnsafeURLError):
            return current
        current = current.__cause__ or current.__context__
    return None


# -- httpx -----------------------------------------------------------------------------------------


class _PinnedBackend(httpcore.NetworkBackend):
    def __init__(self, allowed_networks: Sequence[str]) -> None:
        self._allowed = tuple(allowed_networks)
        self._plain = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = resolve(host, port, allowed_networks=self._allowed)
        except UnsafeURLError as error:
            raise httpcore.ConnectError(str(error)) from error
        last: Exception = httpcore.ConnectError(f"Could not connect to {host}:{port}.")
        for info in infos:
            # A numeric host: the plain backend connects to it without resolving anything. TLS is
            # started afterwards by httpcore with the URL's name as server_hostname, so SNI and the
            # certificate check are for the name, not the address.
            try:
                return self._plain.connect_tcp(
                    str(info[4][0]),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        raise last

    def sleep(self, seconds: float) -> None:
        self._plain.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport, connecting only to checked addresses; proxies from the environment are not
    used (the request must reach the checked address itself)."""

    def __init__(self, *, allowed_networks: Sequence[str], verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        # The pool httpx would build (its default limits), with the pinned network backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_PinnedBackend(allowed_networks),
        )


def pinned_transport(
    *, allowed_networks: Sequence[str], verify: ssl.SSLContext | bool = True
) -> PinnedTransport:
    return PinnedTransport(allowed_networks=allowed_networks, verify=verify)


# -- requests (urllib3) ----------------------------------------------------------------------------


class _PinnedConnectionMixin:
    allowed_networks: tuple[str, ...] = ()
    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        try:
            sock = connect(
                self.host,
                self.port,
                allowed_networks=self.allowed_networks,
                timeout=self.timeout if isinstance(self.timeout, int | float) else None,
                source_address=self.source_address,
            )
        except UnsafeURLError as error:
            raise NewConnectionError(cast(Any, self), str(error)) from error
        except OSError as error:
            message = f"Failed to establish a new connection: {error}"
            raise NewConnectionError(cast(Any, self), message) from error
        for option in self.socket_options or ():
            sock.setsockopt(*option)
        return sock


class PinnedHTTPAdapter(HTTPAdapter):
    """A requests adapter whose every connection goes to a checked address; Host header, SNI and the
    certificate check stay with the URL's name (urllib3 uses ``conn.host`` for them)."""

    def __init__(self, *, allowed_networks: Sequence[str], **kwargs: Any) -> None:
        allowed = tuple(allowed_networks)
        bound = {"allowed_networks": allowed}
        http_conn = type("PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection), bound)
        https_conn = type("PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection), bound)
        self._pool_classes = {
            "http": type("PinnedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("PinnedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes  # type: ignore[assignment]

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # Proxies from the environment are not used: the proxy would make the connection, to an
        # address nobody checked.
        kwargs["proxies"] = {}
        return super().send(request, *args, **kwargs)
