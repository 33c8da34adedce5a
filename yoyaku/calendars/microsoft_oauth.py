"""Microsoft identity platform (Entra ID v2.0) sign-in for the Microsoft 365 adapter, through msal.

The authorization-code flow with PKCE and ``state`` is msal's own
(``initiate_auth_code_flow`` / ``acquire_token_by_auth_code_flow``): it makes the
verifier, the S256 challenge (RFC 7636), the state (RFC 6749 §10.12) and an
OpenID nonce, and checks them on return. The flow dict it returns is plain JSON,
so the web layer keeps it in the user's session between the redirect and the
callback.

msal insists on an https authority and fetches the tenant's OpenID discovery
document from it. To run against a local server, :class:`MicrosoftEndpoints`
separates the authority msal sees (``authority_host``, default the real
``https://login.microsoftonline.com``) from where requests really go
(``authority_transport``): an ``http_client`` session rewrites one into the
other, and the authorize URL handed to the browser is rewritten the same way.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msal
import requests
from msal.exceptions import MsalServiceError

from yoyaku.calendars.base import CalendarUnavailable, retry_after_seconds
from yoyaku.calendars.oauth import GrantRevoked, OAuthError, OAuthTokens

logger = logging.getLogger(__name__)

# Delegated Graph permissions Yoyaku asks for, the least that do the job; each is named, with what
# Yoyaku does with it, in the Connect dialog before the redirect (accounts/providers.SCOPE_PURPOSES):
# - User.Read: the signed-in user's address (GET /me) to label the connection.
# - Calendars.ReadWrite: read busy time of the calendars the host selects
#   (calendarView, getSchedule) and create/update/cancel booked meetings.
#   Calendars.Read would do for busy time but cannot write bookings.
# No mail permission: Yoyaku sends its mail itself (SMTP), never through the user's mailbox.
# msal adds the reserved scopes itself: openid and profile (the id_token that
# names the account) and offline_access (the refresh token). Passing them here
# is an error in msal.
# MailboxSettings.Read: the mailbox's time zone, the day an all-day event without a zone of its
# own covers. Connections granted before it was asked for keep working (the host's zone is used).
GRAPH_SCOPES: tuple[str, ...] = ("User.Read", "Calendars.ReadWrite", "MailboxSettings.Read")
MSAL_RESERVED_SCOPES: tuple[str, ...] = ("openid", "profile", "offline_access")
# Everything the authorization request asks for, as the consent page lists it.
MICROSOFT_CONSENT_SCOPES: tuple[str, ...] = GRAPH_SCOPES + MSAL_RESERVED_SCOPES

DEFAULT_TIMEOUT = 10.0
MAX_ATTEMPTS = 3
RETRY_AFTER_CAP = 10.0


@dataclass(frozen=True, slots=True)
class MicrosoftEndpoints:
    """Where the identity platform and Graph live. Defaults are the public cloud."""

    authority_host: str = "https://login.microsoftonline.com"
    tenant: str = "common"
    graph: str = "https://graph.microsoft.com/v1.0"
    # Base URL that requests for ``authority_host`` are really sent to (a local
    # emulator in tests and the demo); None sends them to ``authority_host``.
    authority_transport: str | None = None

    @property
    def authority(self) -> str:
        return f"{self.authority_host.rstrip('/')}/{self.tenant}"

    def transport_url(self, url: str) -> str:
        public = self.authority_host.rstrip("/")
        if self.authority_transport and url.startswith(public):
            return self.authority_transport.rstrip("/") + url[len(public) :]
        return url


@dataclass(frozen=True, slots=True)
class MicrosoftApp:
    """The app registration Yoyaku signs in with (a confidential web client)."""

    client_id: str
    client_secret: str
    redirect_uri: str
    endpoints: MicrosoftEndpoints = MicrosoftEndpoints()
    timeout: float = DEFAULT_TIMEOUT
    max_attempts: int = MAX_ATTEMPTS
    retry_after_cap: float = RETRY_AFTER_CAP


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """Send the browser to ``url``; keep ``flow`` (JSON-serialisable) in the session for the callback."""

    url: str
    flow: dict[str, Any]


class _AuthorityHttpClient(requests.Session):
    """The ``http_client`` msal uses: rewrites the public authority host, applies a
    timeout, and remembers the last response so callers can see 429/5xx statuses
    that msal folds into an error dict."""

    def __init__(self, *, endpoints: MicrosoftEndpoints, timeout: float) -> None:
        super().__init__()
        self._endpoints = endpoints
        self._timeout = timeout
        self.last_response: requests.Response | None = None

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        response = super().request(method, self._endpoints.transport_url(str(url)), *args, **kwargs)
        self.last_response = response
        return response


def _client(app: MicrosoftApp) -> tuple[msal.ConfidentialClientApplication, _AuthorityHttpClient]:
    """A fresh msal client per attempt: msal caches 429/5xx answers per instance, which
    would otherwise turn our bounded retry into replays of the cached failure."""
    http = _AuthorityHttpClient(endpoints=app.endpoints, timeout=app.timeout)
    try:
        client = msal.ConfidentialClientApplication(
            app.client_id,
            client_credential=app.client_secret,
            authority=app.endpoints.authority,
            http_client=http,
            instance_discovery=False,
            validate_authority=False,
        )
    except (ValueError, requests.RequestException) as error:
        http.close()
        raise _Transient(str(error), retry_after=None, status=_status(http)) from error
    return client, http


class _Transient(Exception):
    def __init__(self, message: str, *, retry_after: float | None, status: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def _status(http: _AuthorityHttpClient) -> int | None:
    return http.last_response.status_code if http.last_response is not None else None


def _with_retries(
    app: MicrosoftApp, call: Callable[[msal.ConfidentialClientApplication], dict[str, Any]]
) -> dict[str, Any]:
    """Run one msal call, retrying throttling, 5xx and network failures a bounded number of times."""
    last: _Transient | None = None
    for attempt in range(app.max_attempts):
        if last is not None:
            delay = (
                last.retry_after
                if last.retry_after is not None
                else min(0.5 * 2**attempt, app.retry_after_cap)
            )
            if delay > app.retry_after_cap:
                break  # told to wait longer than we block a worker for: give up now, retry later
            time.sleep(delay)
        try:
            client, http = _client(app)
        except _Transient as error:
            last = error
            continue
        try:
            result = call(client)
        except requests.RequestException as error:
            last = _Transient(str(error), retry_after=None, status=None)
            continue
        except MsalServiceError as error:
            # msal raises for a 5xx (or a non-JSON error page) instead of returning an error dict.
            result = {"error": "server_error", "error_description": str(error)}
        finally:
            http.close()
        response = http.last_response
        status = response.status_code if response is not None else None
        if "error" in result and status is not None and (status == 429 or status >= 500):
            retry_after = (
                retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
            )
            last = _Transient(
                str(result.get("error_description") or result["error"]),
                retry_after=retry_after,
                status=status,
            )
            continue
        return result
    raise CalendarUnavailable(
        "Microsoft sign-in is not answering right now; please try again in a few minutes."
    ) from last


def _tokens(result: Mapping[str, Any], *, previous: OAuthTokens | None = None) -> OAuthTokens:
    claims = result.get("id_token_claims") or {}
    email = str(claims.get("preferred_username") or claims.get("email") or "")
    scope = result.get("scope", "")
    if isinstance(scope, list | tuple):
        scope = " ".join(scope)
    refresh = result.get("refresh_token") or (previous.refresh_token if previous else "")
    return OAuthTokens(
        access_token=str(result["access_token"]),
        refresh_token=str(refresh),
        expires_at=datetime.now(tz=UTC) + timedelta(seconds=int(result.get("expires_in", 3600))),
        scope=str(scope),
        account_email=email or (previous.account_email if previous else ""),
    )


def _describe(result: Mapping[str, Any]) -> str:
    codes = result.get("error_codes") or []
    return f"{result.get('error')} {codes}: {str(result.get('error_description', ''))[:200]}"


def start_authorization(*, app: MicrosoftApp, login_hint: str | None = None) -> AuthorizationRequest:
    """Begin the code flow: the URL to send the browser to and the flow to keep in the session."""

    def call(client: msal.ConfidentialClientApplication) -> dict[str, Any]:
        # The callback is a plain GET view, so the code comes back in the query
        # (msal warns and suggests form_post). The code alone is useless: it is
        # bound to our PKCE verifier, state and client secret.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="response_mode='form_post'", category=UserWarning)
            return dict(
                client.initiate_auth_code_flow(
                    list(GRAPH_SCOPES),
                    redirect_uri=app.redirect_uri,
                    login_hint=login_hint,
                    prompt="select_account",
                )
            )

    flow = _with_retries(app, call)
    url = app.endpoints.transport_url(flow["auth_uri"])
    return AuthorizationRequest(url=url, flow=flow)


def finish_authorization(
    *, app: MicrosoftApp, flow: Mapping[str, Any], params: Mapping[str, str]
) -> OAuthTokens:
    """Redeem the code from the redirect's query ``params``; checks state, PKCE and nonce via msal."""
    if params.get("error"):
        if params.get("error") == "access_denied":
            raise OAuthError(
                "Access to your Microsoft 365 calendar was not granted, so nothing was connected."
            )
        raise OAuthError(f"Microsoft sign-in failed ({params.get('error')}); please try connecting again.")

    def call(client: msal.ConfidentialClientApplication) -> dict[str, Any]:
        try:
            return dict(
                client.acquire_token_by_auth_code_flow(dict(flow), dict(params), scopes=list(GRAPH_SCOPES))
            )
        except ValueError as error:  # msal: state mismatch / missing; nonce mismatch
            logger.warning("Rejected Microsoft callback: %s", error)
            raise OAuthError(
                "This sign-in response does not belong to the connection you started; please try again."
            ) from error

    result = _with_retries(app, call)
    if "error" in result:
        logger.warning("Microsoft code redemption failed: %s", _describe(result))
        if result.get("error") == "invalid_client":
            raise OAuthError(
                "Yoyaku's Microsoft app credentials were rejected; ask your administrator to check them."
            )
        raise OAuthError("Microsoft did not accept the sign-in; please try connecting again.")
    if not result.get("refresh_token"):
        raise OAuthError(
            "Microsoft did not grant offline access, which Yoyaku needs to keep your calendar in sync."
        )
    return _tokens(result)


def refresh_tokens(*, app: MicrosoftApp, tokens: OAuthTokens) -> OAuthTokens:
    """New access token from the refresh token; ``invalid_grant`` raises :class:`GrantRevoked`."""

    def call(client: msal.ConfidentialClientApplication) -> dict[str, Any]:
        return dict(client.acquire_token_by_refresh_token(tokens.refresh_token, scopes=list(GRAPH_SCOPES)))

    result = _with_retries(app, call)
    if "error" in result:
        logger.warning("Microsoft token refresh failed: %s", _describe(result))
        if result.get("error") in ("invalid_grant", "interaction_required", "consent_required"):
            raise GrantRevoked(
                "Yoyaku's access to your Microsoft 365 calendar was revoked or has expired; "
                "please reconnect it."
            )
        raise OAuthError("Microsoft refused to renew Yoyaku's access; please reconnect your calendar.")
    return _tokens(result, previous=tokens)
