"""Connecting and disconnecting a user's calendar (Google, Microsoft 365, Exchange, CalDAV) and its inbox.

Services that write. The web views and the REST API both call these; the web
path keeps OAuth state in the session, the API in a signed token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yoyaku.accounts.models import CalendarConnection, User

OAUTH_PROVIDERS = ("google", "microsoft")


class ConnectionRefused(Exception):
    """A connection attempt or change was refused; ``str()`` tells the user what to do.

    ``code`` is one of: already_connected, no_personal_email_permission,
    shared_inbox, seat_required, invalid_state, provider_error,
    exchange_error, caldav_error (also not_configured, unknown_provider,
    not_found).
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class OAuthStart:
    """Send the browser to ``url``; keep ``session_data`` (JSON-serialisable) until the callback."""

    url: str
    session_data: dict[str, Any]


def connect_blockers(*, user: User, via_api: bool = False, provider: str | None = None) -> list[str]:
    """User-facing reasons the Connect button is disabled ([] means the user may connect).

    With ``provider`` the reasons specific to that provider (not configured by
    the administrator) are included too.
    """
    raise NotImplementedError


def start_oauth(*, user: User, provider: str, redirect_uri: str, via_api: bool = False) -> OAuthStart:
    """Begin the OAuth code flow (PKCE S256 + state) for ``google`` or ``microsoft``."""
    raise NotImplementedError


def complete_oauth(
    *,
    user: User,
    provider: str,
    query: Mapping[str, str],
    session_data: dict[str, Any],
    redirect_uri: str,
    via_api: bool = False,
) -> CalendarConnection:
    """Finish the flow from the callback's query: check state, redeem the code, store the connection."""
    raise NotImplementedError


def connect_exchange_calendar(
    *, user: User, email: str, password: str, username: str = "", ews_url: str = "", via_api: bool = False
) -> CalendarConnection:
    """Verify an on-premises Exchange account (2010 SP2 or later) and store the connection."""
    raise NotImplementedError


def connect_caldav_calendar(
    *, user: User, url: str, username: str, password: str, via_api: bool = False
) -> CalendarConnection:
    """Verify a CalDAV account and store the connection."""
    raise NotImplementedError


def disconnect_calendar(*, user: User, connection_id: int) -> None:
    """Remove one of the user's calendar connections (its inbox stays, unlinked)."""
    raise NotImplementedError


def update_calendar_settings(
    *,
    user: User,
    connection_id: int,
    conflict_calendar_ids: list[str],
    write_calendar_id: str,
    tentative_blocks: bool,
) -> CalendarConnection:
    """Which calendars block time, which one receives bookings, and whether tentative events block."""
    raise NotImplementedError


def disconnect_inbox(*, user: User, inbox_id: int) -> None:
    """Disconnect the user's inbox; the calendar connection stays."""
    raise NotImplementedError
