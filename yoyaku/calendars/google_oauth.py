"""Google OAuth 2.0: the consent URL, the code exchange and the account's email.

Authorization-code flow with PKCE (RFC 7636, S256) for a web server client
("Using OAuth 2.0 for Web Server Applications" in Google's identity docs).
HTTP goes through google-auth's requests transport, the same one google-auth
uses to refresh tokens, so timeouts and TLS settings are shared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import google.auth.exceptions
import google.auth.transport.requests
import requests

from yoyaku.calendars.base import CalendarAuthError, CalendarUnavailable
from yoyaku.calendars.oauth import OAuthError, OAuthTokens

# Least privilege that still does the job; each scope is named, with what Yoyaku does with it, in the
# Connect dialog before the redirect (accounts/providers.SCOPE_PURPOSES), so ask for nothing a built
# feature does not use:
# - openid + email: the account's address, to show which account is connected
#   and to recognise the host among an event's attendees.
# - calendar.readonly: calendarList (the user picks which calendars count as
#   busy) and reading events/freeBusy of every calendar the user can reach,
#   including ones shared with them. calendar.events alone only covers events.
# - calendar.events: create, change and cancel the booked meetings.
# No mail scope: Yoyaku sends its mail itself (SMTP), never through the user's account.
GOOGLE_SCOPES: tuple[str, ...] = (
    "openid",
    "email",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events",
)

DEFAULT_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class GoogleEndpoints:
    """Where Google's services live; tests point these at the local emulator."""

    auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"
    revoke_url: str = "https://oauth2.googleapis.com/revoke"
    userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    # Calendar API v3 base, passed to googleapiclient as ``api_endpoint``. The
    # client uses it verbatim as the base URL (it replaces rootUrl + servicePath
    # of the discovery document), so it must end in "calendar/v3/".
    calendar_api: str = "https://www.googleapis.com/calendar/v3/"


def google_authorization_url(
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    endpoints: GoogleEndpoints,
    login_hint: str | None = None,
    scopes: tuple[str, ...] = GOOGLE_SCOPES,
) -> str:
    """The URL to send the user's browser to.

    ``access_type=offline`` asks for a refresh token; ``prompt=consent`` makes
    Google issue one again when the user reconnects (it is otherwise only
    returned on the first consent).
    """
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
    }
    if login_hint:
        params["login_hint"] = login_hint
    return f"{endpoints.auth_url}?{urlencode(params)}"


def _transport(timeout: float) -> google.auth.transport.requests.Request:
    return _TimeoutRequest(timeout=timeout)


class _TimeoutRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with our timeout as the default.

    ``Credentials.refresh`` calls the transport without a timeout, which would
    otherwise mean google-auth's default of two minutes.
    """

    def __init__(self, *, timeout: float) -> None:
        super().__init__(session=requests.Session())
        self._timeout = timeout

    def __call__(  # type: ignore[override]
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(
            url, method=method, body=body, headers=headers, timeout=timeout or self._timeout, **kwargs
        )


def timeout_request(*, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> google.auth.transport.requests.Request:
    """A google-auth transport for refreshing credentials with a bounded wait."""
    return _transport(timeout)


def _json(response: Any) -> dict[str, Any]:
    try:
        data = json.loads(response.data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def google_exchange_code(
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    code_verifier: str,
    endpoints: GoogleEndpoints,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> OAuthTokens:
    """Trade the authorization code for tokens and look up the account's email."""
    request = _transport(timeout)
    body = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
            "code_verifier": code_verifier,
        }
    )
    try:
        response = request(
            url=endpoints.token_url,
            method="POST",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    except google.auth.exceptions.TransportError as error:
        raise CalendarUnavailable("Google could not be reached to finish connecting. Try again.") from error
    data = _json(response)
    if response.status != 200:
        raise _token_error(response.status, data)
    access_token = data.get("access_token")
    refresh_token = data.get("refresh_token")
    if not isinstance(access_token, str) or not access_token:
        raise OAuthError("Google's answer did not contain an access token. Please try connecting again.")
    if not isinstance(refresh_token, str) or not refresh_token:
        # Without offline access Yoyaku could not sync after an hour.
        raise OAuthError(
            "Google did not grant offline access. Remove Yoyaku from your Google account's "
            "third-party access page and connect again."
        )
    expires_in = int(data.get("expires_in", 3600))
    email = fetch_google_account_email(access_token=access_token, endpoints=endpoints, timeout=timeout)
    return OAuthTokens(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=datetime.now(tz=UTC) + timedelta(seconds=expires_in),
        scope=str(data.get("scope", "")),
        account_email=email,
    )


def _token_error(status: int, data: dict[str, Any]) -> Exception:
    code = data.get("error", "")
    if status >= 500 or status == 429:
        return CalendarUnavailable("Google is not answering right now. Please try connecting again shortly.")
    if code == "invalid_grant":
        # Expired or reused code, or a code_verifier that does not match.
        return OAuthError("The sign-in with Google expired or was already used. Please connect again.")
    if code in ("invalid_client", "unauthorized_client"):
        return OAuthError(
            "Google rejected this server's OAuth client. An administrator must check its settings."
        )
    if code == "redirect_uri_mismatch":
        return OAuthError(
            "Google rejected the return address. An administrator must register it for the client."
        )
    return OAuthError("Google refused to connect the calendar. Please try again.")


def fetch_google_account_email(
    *, access_token: str, endpoints: GoogleEndpoints, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> str:
    """The account's email from the OpenID Connect userinfo endpoint.

    Userinfo rather than the id_token: it is fetched with the access token
    straight from Google over TLS, so no JWT signature check (and no key
    download) is needed (OpenID Connect Core 1.0 §5.3).
    """
    request = _transport(timeout)
    try:
        response = request(
            url=endpoints.userinfo_url,
            method="GET",
            headers={"Authorization": f"Bearer {access_token}"},
        )
    except google.auth.exceptions.TransportError as error:
        raise CalendarUnavailable("Google could not be reached to read your account's address.") from error
    if response.status == 401:
        raise CalendarAuthError("Google did not accept the sign-in. Please connect again.")
    if response.status != 200:
        raise CalendarUnavailable("Google did not tell us your account's address. Please try again.")
    email = _json(response).get("email")
    if not isinstance(email, str) or not email:
        raise OAuthError("Google did not share your email address. Allow it when connecting.")
    return email


def google_revoke(
    *, token: str, endpoints: GoogleEndpoints, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> bool:
    """Revoke a refresh (or access) token when the user disconnects.

    Returns False when Google says the token is already invalid, which is the
    state we wanted anyway.
    """
    request = _transport(timeout)
    try:
        response = request(
            url=endpoints.revoke_url,
            method="POST",
            body=urlencode({"token": token}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    except google.auth.exceptions.TransportError as error:
        raise CalendarUnavailable("Google could not be reached to revoke access.") from error
    if response.status >= 500:
        raise CalendarUnavailable("Google could not revoke access right now. Please try again.")
    return bool(response.status == 200)
