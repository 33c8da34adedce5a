"""Which other sites may show a workspace's booking pages in an iframe.

Booking pages answer with ``Content-Security-Policy: frame-ancestors 'self' <origins>`` (CSP Level 2,
W3C); every other page of the app keeps ``X-Frame-Options: DENY`` (RFC 7034), so only the pages
meant to be embedded can be, and only by the sites a workspace admin listed.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.utils.translation import gettext

from yoyaku.accounts.models import User, Workspace, WorkspaceRole

MAX_ORIGINS = 20


class NotAnAdmin(Exception):
    """Only a workspace's admins change what the whole workspace allows."""


class BadOrigins(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def clean_origin(text: str) -> str:
    """``https://Example.com/path`` -> ``https://example.com``; refuses what is not an origin.

    https only, except for loopback addresses (a site under development on this machine): a page
    served over plain http could be changed on the way to frame the booking page in a trap.
    """
    parts = urlsplit(text.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = parts.hostname or ""
    bad = (
        parts.scheme not in ("https", "http")
        or not host
        or port == -1
        or parts.username
        or parts.password
        or "*" in host
        or (parts.path not in ("", "/"))
        or parts.query
        or parts.fragment
        or (parts.scheme == "http" and not _loopback(host))
    )
    if bad:
        raise BadOrigins(
            gettext(
                "“%(origin)s” is not a site address: give https:// and the host name only, "
                "such as https://www.example.com."
            )
            % {"origin": text.strip()}
        )
    host_text = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host_text}" + (f":{port}" if port else "")


def clean_origins(text: str) -> list[str]:
    origins = list(dict.fromkeys(clean_origin(line) for line in text.split() if line.strip()))
    if len(origins) > MAX_ORIGINS:
        raise BadOrigins(gettext("List at most %(count)d sites.") % {"count": MAX_ORIGINS})
    return origins


def set_embed_origins(*, actor: User, text: str) -> Workspace:
    if actor.workspace_role != WorkspaceRole.ADMIN:
        raise NotAnAdmin(gettext("Only the workspace's admins can change which sites may embed its pages."))
    origins = clean_origins(text)
    workspace = actor.workspace
    workspace.embed_origins = origins
    workspace.save(update_fields=["embed_origins"])
    return workspace


def frame_ancestors(*, workspace: Workspace) -> str:
    """The CSP directive of a booking page of ``workspace``."""
    origins = [o for o in workspace.embed_origins if isinstance(o, str)]
    if not origins:
        return "frame-ancestors 'none'"
    return "frame-ancestors 'self' " + " ".join(origins)
