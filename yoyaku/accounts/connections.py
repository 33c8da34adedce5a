"""Connecting and disconnecting a user's calendar (Google, Microsoft 365, Exchange, CalDAV) and its inbox.

Services that write. The web views and the REST API both call these; the web
path keeps the OAuth state in the session, the API in a signed token.

Rules, all checked here so that no caller can skip one:

* one calendar per user; accounts created before
  ``YOYAKU_LEGACY_CONNECTION_CUTOFF`` may hold two (purposes "meetings" and
  "calendar settings") until they disconnect either, after which one is the
  limit for good (``User.limited_to_one_connection``);
* connecting needs ``User.can_use_personal_email``; through the API it also
  needs a Sales or Service seat on the Professional or Enterprise tier;
* an address connected as a team's shared inbox cannot be connected;
* the account is verified with the provider before anything is saved, and
  user-supplied server URLs must not point into the server's own network;
* connecting a calendar connects the account's inbox (personal) as well; the
  inbox can be disconnected on its own and the calendar stays.

Reconnecting the same account (a revoked grant, a changed password) updates
the existing connection instead of counting as a second one.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from yoyaku.accounts import providers
from yoyaku.accounts.calendar_problems import calendar_problem
from yoyaku.accounts.models import (
    CalendarConnection,
    ConnectionPurpose,
    ConnectionStatus,
    InboxConnection,
    Provider,
    Seat,
    User,
)
from yoyaku.calendars.base import CalendarError, CalendarInfo
from yoyaku.calendars.oauth import OAuthError, OAuthTokens, new_pkce_pair, new_state
from yoyaku.calendars.ssrf import UnsafeURLError, check_url

logger = logging.getLogger(__name__)

OAUTH_PROVIDERS = providers.OAUTH_PROVIDERS
ALL_PROVIDERS = ("google", "microsoft", "exchange", "caldav")
# Purposes in the order a new connection takes them.
_PURPOSES = (ConnectionPurpose.MEETINGS, ConnectionPurpose.CALENDAR_SETTINGS)
_API_HUBS = (Seat.Hub.SALES, Seat.Hub.SERVICE)
_API_TIERS = (Seat.Tier.PROFESSIONAL, Seat.Tier.ENTERPRISE)


class ConnectionRefused(Exception):
    """A connection attempt or change was refused; ``str()`` tells the user what to do.

    ``code`` is one of: already_connected, no_personal_email_permission,
    shared_inbox, seat_required, invalid_state, provider_error,
    exchange_error, caldav_error; and also not_configured (the administrator
    has not set the provider up), unknown_provider, invalid_settings and
    not_found.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class OAuthStart:
    """Send the browser to ``url``; keep ``session_data`` (JSON-serialisable) until the callback."""

    url: str
    session_data: dict[str, Any] = field(default_factory=dict)


# -- rules -------------------------------------------------------------------------------------


def provider_label(provider: str) -> str:
    return dict(Provider.choices).get(provider, provider)


def may_hold_two_connections(user: User) -> bool:
    """Accounts created before the cutoff keep two connections until they give one up."""
    if user.limited_to_one_connection:
        return False
    cutoff = date.fromisoformat(str(settings.YOYAKU_LEGACY_CONNECTION_CUTOFF))
    return user.date_joined < datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)


def _has_api_seat(user: User) -> bool:
    seats = Seat.objects.filter(workspace_id=user.workspace_id, user=user)
    return seats.filter(hub__in=_API_HUBS, tier__in=_API_TIERS).exists()


def _refusals(
    *, user: User, via_api: bool, provider: str | None, reconnect: CalendarConnection | None = None
) -> list[ConnectionRefused]:
    refusals: list[ConnectionRefused] = []
    if provider is not None and provider not in ALL_PROVIDERS:
        refusals.append(ConnectionRefused(_("Unknown calendar provider."), code="unknown_provider"))
        return refusals
    if not user.can_use_personal_email:
        refusals.append(
            ConnectionRefused(
                _(
                    "Your account is not allowed to use a personal email account, which connecting a "
                    "calendar needs. Ask an administrator to grant the permission."
                ),
                code="no_personal_email_permission",
            )
        )
    if via_api and not _has_api_seat(user):
        refusals.append(
            ConnectionRefused(
                _(
                    "Connecting a calendar through the API needs a Sales or Service seat on the "
                    "Professional or Enterprise tier. Ask an administrator to assign you one."
                ),
                code="seat_required",
            )
        )
    if reconnect is None:
        existing = list(CalendarConnection.objects.filter(user=user).order_by("created_at"))
        limit = 2 if may_hold_two_connections(user) else 1
        if len(existing) >= limit:
            if limit == 1:
                message = _(
                    "You already have a calendar connected (%(account)s). Disconnect it before you "
                    "connect another one."
                ) % {"account": existing[0].account_email}
            else:
                message = _(
                    "You already have two calendars connected. Disconnect one before you connect another."
                )
            refusals.append(ConnectionRefused(message, code="already_connected"))
    if provider is not None and not providers.provider_configured(provider):
        refusals.append(
            ConnectionRefused(
                _("%(provider)s is not configured by the administrator.")
                % {"provider": provider_label(provider)},
                code="not_configured",
            )
        )
    return refusals


def connect_blockers(*, user: User, via_api: bool = False, provider: str | None = None) -> list[str]:
    """User-facing reasons the Connect button is disabled ([] means the user may connect).

    With ``provider`` the reasons specific to that provider (not configured by
    the administrator) are included too.
    """
    return [str(r) for r in _refusals(user=user, via_api=via_api, provider=provider)]


def _require_allowed(
    *, user: User, via_api: bool, provider: str, reconnect: CalendarConnection | None = None
) -> None:
    refusals = _refusals(user=user, via_api=via_api, provider=provider, reconnect=reconnect)
    if refusals:
        raise refusals[0]


def _check_not_shared(*, user: User, email: str) -> None:
    # Shared inboxes are marked per workspace: another workspace's inboxes say nothing here.
    shared = InboxConnection.objects.filter(
        user__workspace_id=user.workspace_id, email__iexact=email, shared=True
    )
    if email and shared.exists():
        raise ConnectionRefused(
            _(
                "%(email)s is connected as a shared team inbox, which cannot be used for meetings. "
                "Connect your personal account instead."
            )
            % {"email": email},
            code="shared_inbox",
        )


def _same_account(
    *, user: User, provider: str, email: str, server_url: str = "", username: str | None = None
) -> CalendarConnection | None:
    connections = CalendarConnection.objects.filter(user=user, provider=provider, account_email__iexact=email)
    if server_url:
        connections = connections.filter(server_url=server_url)
    if username is not None:
        connections = connections.filter(username=username)
    return connections.first()


# -- saving ------------------------------------------------------------------------------------


def _default_choice(calendars: list[CalendarInfo]) -> tuple[list[str], str]:
    """Busy time from the primary calendar, bookings into it: explicit, so the settings show it."""
    primary = next((c for c in calendars if c.primary), None) or next(
        (c for c in calendars if c.writable), None
    )
    if primary is None:
        return [], ""
    # A read-only primary (a CalDAV calendar the user pasted, say) still blocks time;
    # bookings then go to the first calendar that takes them.
    writable = primary if primary.writable else next((c for c in calendars if c.writable), None)
    return [primary.id], writable.id if writable is not None else ""


def calendar_details(calendars: list[CalendarInfo]) -> list[dict[str, Any]]:
    """The calendar list as kept on the connection (``provider_details["calendars"]``) for the pages."""
    return [{"id": c.id, "name": c.name, "primary": c.primary, "writable": c.writable} for c in calendars]


def _store_calendars(connection: CalendarConnection, calendars: list[CalendarInfo]) -> None:
    details = {**(connection.provider_details or {}), "calendars": calendar_details(calendars)}
    CalendarConnection.objects.filter(pk=connection.pk).update(provider_details=details)
    connection.provider_details = details


def _save_connection(
    *,
    user: User,
    via_api: bool,
    provider: str,
    account_email: str,
    secret: str,
    calendars: list[CalendarInfo],
    server_url: str = "",
    username: str = "",
    details: dict[str, Any] | None = None,
) -> CalendarConnection:
    with transaction.atomic():
        # One writer per user at a time: two callbacks racing must not both pass the count.
        locked = User.objects.select_for_update().get(pk=user.pk)
        existing = _same_account(
            user=locked,
            provider=provider,
            email=account_email,
            server_url=server_url,
            username=username if provider == Provider.CALDAV else None,
        )
        _require_allowed(user=locked, via_api=via_api, provider=provider, reconnect=existing)
        _check_not_shared(user=locked, email=account_email)
        if existing is not None:
            connection = existing
        else:
            taken = set(CalendarConnection.objects.filter(user=locked).values_list("purpose", flat=True))
            purpose = next(p for p in _PURPOSES if p not in taken)
            conflict_ids, write_id = _default_choice(calendars)
            connection = CalendarConnection(
                user=locked,
                provider=provider,
                purpose=purpose,
                conflict_calendar_ids=conflict_ids,
                write_calendar_id=write_id,
            )
        connection.account_email = account_email
        connection.server_url = server_url
        connection.username = username
        connection.secret = secret
        connection.status = ConnectionStatus.OK
        connection.status_message = ""
        connection.provider_details = {
            **(connection.provider_details or {}),
            **(details or {}),
            "calendars": calendar_details(calendars),
        }
        try:
            with transaction.atomic():
                connection.save()
        except IntegrityError as error:
            raise ConnectionRefused(
                _("You already have a calendar connected. Disconnect it before you connect another one."),
                code="already_connected",
            ) from error
        if account_email:
            inbox = InboxConnection.objects.filter(user=locked, email__iexact=account_email).first()
            if inbox is None:
                inbox = InboxConnection(user=locked, email=account_email)
            inbox.provider = provider
            inbox.shared = False
            inbox.calendar_connection = connection
            inbox.save()
    if existing is not None:
        # Writes and cancellations refused while the sign-in was broken waited for this.
        transaction.on_commit(lambda: _resume_calendar_writes(user_id=user.pk))
    # The pages offer this calendar's times only once it has been synced.
    _request_sync(connection=connection)
    connection.user = user
    return connection


def _request_sync(*, connection: CalendarConnection) -> None:
    # Imported here: the calendar data app builds on accounts, not the other way round.
    from yoyaku.calendar_sync.busy import request_sync
    from yoyaku.calendar_sync.push import request_push

    request_sync(connection=connection)
    request_push(connection=connection)


def _resume_calendar_writes(*, user_id: int) -> None:
    # Imported here: the calendar data app (which holds the calendar outbox) builds on accounts,
    # not the other way round.
    from yoyaku.calendar_sync.tasks import resume_calendar_writes

    resume_calendar_writes(user_id)


# -- OAuth (Google, Microsoft 365) -------------------------------------------------------------


def _oauth_provider(provider: str) -> str:
    if provider not in OAUTH_PROVIDERS:
        raise ConnectionRefused(_("Unknown calendar provider."), code="unknown_provider")
    return provider


def _needs_reconnect(*, user: User, provider: str) -> CalendarConnection | None:
    return CalendarConnection.objects.filter(
        user=user, provider=provider, status=ConnectionStatus.NEEDS_RECONNECT
    ).first()


def start_oauth(*, user: User, provider: str, redirect_uri: str, via_api: bool = False) -> OAuthStart:
    """Begin the OAuth code flow (PKCE S256, ``state``, offline access) for ``google`` or ``microsoft``.

    A user whose connection to this provider needs reconnecting may start
    even at the connection limit; the callback then only accepts that account
    or a connection the rules allow.
    """
    _oauth_provider(provider)
    _require_allowed(
        user=user,
        via_api=via_api,
        provider=provider,
        reconnect=_needs_reconnect(user=user, provider=provider),
    )
    if provider == "google":
        from yoyaku.calendars.google_oauth import google_authorization_url

        pkce = new_pkce_pair()
        state = new_state()
        client_id, _secret = providers.google_client()
        url = google_authorization_url(
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=pkce.challenge,
            endpoints=providers.google_endpoints(),
        )
        data: dict[str, Any] = {"state": state, "code_verifier": pkce.verifier}
    else:
        from yoyaku.calendars.microsoft_oauth import start_authorization

        try:
            request = start_authorization(app=providers.microsoft_app(redirect_uri=redirect_uri))
        except CalendarError as error:
            raise ConnectionRefused(calendar_problem(error), code="provider_error") from error
        url = request.url
        data = {"state": str(request.flow.get("state", "")), "flow": request.flow}
    data.update(provider=provider, user_id=user.pk, redirect_uri=redirect_uri)
    return OAuthStart(url=url, session_data=data)


def _check_callback(
    *, user: User, provider: str, query: Mapping[str, str], session_data: Mapping[str, Any], redirect_uri: str
) -> None:
    expected = str(session_data.get("state") or "")
    if (
        not expected
        or session_data.get("provider") != provider
        or session_data.get("user_id") != user.pk
        or session_data.get("redirect_uri") != redirect_uri
    ):
        raise ConnectionRefused(
            _("This sign-in was not started here or has expired. Please connect your calendar again."),
            code="invalid_state",
        )
    error = query.get("error")
    if error == "access_denied":
        raise ConnectionRefused(
            _("You did not allow Yoyaku to use your %(provider)s calendar, so nothing was connected.")
            % {"provider": provider_label(provider)},
            code="provider_error",
        )
    if error:
        raise ConnectionRefused(
            _("%(provider)s reported an error (%(error)s). Please try connecting again.")
            % {"provider": provider_label(provider), "error": error[:100]},
            code="provider_error",
        )
    # Constant-time: the state is the only thing tying this callback to the user's own start.
    if not hmac.compare_digest(str(query.get("state") or ""), expected):
        raise ConnectionRefused(
            _("This sign-in response does not belong to the connection you started. Please connect again."),
            code="invalid_state",
        )
    if not query.get("code"):
        raise ConnectionRefused(
            _("The sign-in response had no authorization code. Please connect again."), code="invalid_state"
        )


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
    _oauth_provider(provider)
    _check_callback(
        user=user, provider=provider, query=query, session_data=session_data, redirect_uri=redirect_uri
    )
    # Checked again: the rules may have changed while the user was at the provider.
    _require_allowed(
        user=user,
        via_api=via_api,
        provider=provider,
        reconnect=_needs_reconnect(user=user, provider=provider),
    )
    try:
        if provider == "google":
            tokens, email, calendars = _finish_google(
                query=query, session_data=session_data, redirect_uri=redirect_uri
            )
        else:
            tokens, email, calendars = _finish_microsoft(
                query=query, session_data=session_data, redirect_uri=redirect_uri
            )
    except (OAuthError, CalendarError) as error:
        message = calendar_problem(error) if isinstance(error, CalendarError) else str(error)
        raise ConnectionRefused(message, code="provider_error") from error
    return _save_connection(
        user=user,
        via_api=via_api,
        provider=provider,
        account_email=email,
        secret=tokens.to_json(),
        calendars=calendars,
    )


def _finish_google(
    *, query: Mapping[str, str], session_data: Mapping[str, Any], redirect_uri: str
) -> tuple[OAuthTokens, str, list[CalendarInfo]]:
    from yoyaku.calendars.google import google_verify_connection
    from yoyaku.calendars.google_oauth import google_exchange_code

    client_id, client_secret = providers.google_client()
    endpoints = providers.google_endpoints()
    tokens = google_exchange_code(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        code=str(query["code"]),
        code_verifier=str(session_data.get("code_verifier") or ""),
        endpoints=endpoints,
    )
    verified = google_verify_connection(
        tokens=tokens, client_id=client_id, client_secret=client_secret, endpoints=endpoints
    )
    return verified.tokens, verified.account_email, verified.calendars


def _finish_microsoft(
    *, query: Mapping[str, str], session_data: Mapping[str, Any], redirect_uri: str
) -> tuple[OAuthTokens, str, list[CalendarInfo]]:
    from yoyaku.calendars.microsoft import verify_connection
    from yoyaku.calendars.microsoft_oauth import finish_authorization

    app = providers.microsoft_app(redirect_uri=redirect_uri)
    tokens = finish_authorization(app=app, flow=dict(session_data.get("flow") or {}), params=dict(query))
    latest: list[OAuthTokens] = [tokens]
    verified = verify_connection(app=app, tokens=tokens, on_tokens=latest.append)
    return latest[-1], verified.email, verified.calendars


# -- Exchange and CalDAV -----------------------------------------------------------------------


def connect_exchange_calendar(
    *, user: User, email: str, password: str, username: str = "", ews_url: str = "", via_api: bool = False
) -> CalendarConnection:
    """Verify an on-premises Exchange account (2010 SP2 or later) and store the connection."""
    from yoyaku.calendars.exchange import connect_exchange

    email = email.strip()
    ews_url = ews_url.strip()
    existing = _same_account(user=user, provider=Provider.EXCHANGE, email=email)
    _require_allowed(user=user, via_api=via_api, provider=Provider.EXCHANGE, reconnect=existing)
    _check_not_shared(user=user, email=email)
    networks = settings.YOYAKU_ALLOWED_CALENDAR_NETWORKS
    if ews_url:
        try:
            check_url(ews_url, allowed_networks=networks)
        except UnsafeURLError as error:
            raise ConnectionRefused(calendar_problem(error), code="exchange_error") from error
    try:
        info = connect_exchange(
            email=email,
            password=password,
            username=username.strip() or None,
            ews_url=ews_url or None,
            time_zone=user.time_zone,
            allowed_networks=networks,
        )
    except CalendarError as error:
        raise ConnectionRefused(calendar_problem(error), code="exchange_error") from error
    return _save_connection(
        user=user,
        via_api=via_api,
        provider=Provider.EXCHANGE,
        account_email=email,
        secret=password,
        calendars=info.calendars,
        server_url=info.ews_url,
        username=username.strip(),
        details={"auth_type": info.auth_type, "server_version": info.server_version},
    )


def connect_caldav_calendar(
    *, user: User, url: str, username: str, password: str, via_api: bool = False
) -> CalendarConnection:
    """Verify a CalDAV account and store the connection.

    The account's address is the username when it is one, else the user's own.
    """
    from yoyaku.calendars.caldav import connect_caldav

    username = username.strip()
    email = username if "@" in username else user.email
    url = url.strip()
    if url and "://" not in url:
        url = f"https://{url}"
    existing = _same_account(
        user=user, provider=Provider.CALDAV, email=email, server_url=url, username=username
    )
    _require_allowed(user=user, via_api=via_api, provider=Provider.CALDAV, reconnect=existing)
    _check_not_shared(user=user, email=email)
    try:
        adapter, calendars = connect_caldav(
            url=url,
            username=username,
            password=password,
            time_zone=user.time_zone,
            owner_email=email,
            allowed_networks=settings.YOYAKU_ALLOWED_CALENDAR_NETWORKS,
        )
    except CalendarError as error:
        raise ConnectionRefused(calendar_problem(error), code="caldav_error") from error
    server_url = adapter.url
    adapter.close()
    return _save_connection(
        user=user,
        via_api=via_api,
        provider=Provider.CALDAV,
        account_email=email,
        secret=password,
        calendars=calendars,
        server_url=server_url,
        username=username,
    )


# -- changes -----------------------------------------------------------------------------------


def _own_connection(*, user: User, connection_id: int) -> CalendarConnection:
    connection = CalendarConnection.objects.filter(user=user, pk=connection_id).select_related("user").first()
    if connection is None:
        raise ConnectionRefused(_("That calendar connection does not exist."), code="not_found")
    return connection


def disconnect_calendar(*, user: User, connection_id: int) -> None:
    """Remove one of the user's calendar connections; its inbox stays (unlinked) until disconnected.

    For an account allowed two connections, giving one up ends that allowance.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        connection = _own_connection(user=locked, connection_id=connection_id)
        legacy = may_hold_two_connections(locked)
        provider = connection.provider
        try:
            secret = connection.secret if provider == Provider.GOOGLE else ""
            stop_push = _push_stopper(connection)
        except ValueError:  # encrypted with a key no longer configured: nothing to revoke with
            secret = ""
            stop_push = None
        connection.delete()
        if legacy:
            User.objects.filter(pk=locked.pk).update(limited_to_one_connection=True)
            user.limited_to_one_connection = True
    if stop_push is not None:
        # Before the grant is revoked: stopping a channel needs it.
        stop_push()
    if secret:
        _revoke_google(secret)


def _push_stopper(connection: CalendarConnection) -> Callable[[], None]:
    from yoyaku.calendar_sync.push import push_stopper

    return push_stopper(connection=connection)


def _revoke_google(secret: str) -> None:
    """Best effort: the grant is useless to us now, so do not leave it live at Google."""
    from yoyaku.calendars.google_oauth import google_revoke

    try:
        tokens = OAuthTokens.from_json(secret)
        google_revoke(token=tokens.refresh_token, endpoints=providers.google_endpoints(), timeout=5.0)
    except (CalendarError, ValueError, KeyError, TypeError) as error:
        logger.info("Google grant not revoked on disconnect: %s", error)


def update_calendar_settings(
    *,
    user: User,
    connection_id: int,
    conflict_calendar_ids: list[str],
    write_calendar_id: str,
    tentative_blocks: bool,
) -> CalendarConnection:
    """Which calendars block time, which one receives bookings, and whether tentative events block.

    The choices are checked against the calendars the provider lists now.
    """
    from yoyaku.accounts.selectors import calendars_of

    connection = _own_connection(user=user, connection_id=connection_id)
    try:
        listed = calendars_of(connection=connection)
    except CalendarError as error:
        raise ConnectionRefused(calendar_problem(error), code="provider_error") from error
    # Read anyway, so the pages show the list the choice was checked against.
    _store_calendars(connection, listed)
    calendars = {c.id: c for c in listed}
    conflict_ids = list(dict.fromkeys(conflict_calendar_ids))
    unknown = [i for i in conflict_ids if i not in calendars]
    if not conflict_ids or unknown:
        raise ConnectionRefused(
            _("Choose at least one of your calendars to check for conflicts."), code="invalid_settings"
        )
    target = calendars.get(write_calendar_id)
    if target is None or not target.writable:
        raise ConnectionRefused(
            _("Choose one of your calendars that Yoyaku may write to for new meetings."),
            code="invalid_settings",
        )
    connection.conflict_calendar_ids = conflict_ids
    connection.write_calendar_id = write_calendar_id
    connection.tentative_blocks = tentative_blocks
    connection.save(update_fields=["conflict_calendar_ids", "write_calendar_id", "tentative_blocks"])
    # The busy index was built from the old choice of calendars.
    _request_sync(connection=connection)
    return connection


def refresh_calendars(*, user: User, connection_id: int) -> CalendarConnection:
    """List the connection's calendars at the provider again and keep the list for the pages.

    The pages show the kept list and never wait for the provider; this is the
    host's explicit "Refresh calendars" (saving the settings refreshes it too).
    Raises ConnectionRefused (``provider_error``, the provider's message) and
    keeps the old list when the provider cannot be read.
    """
    from yoyaku.accounts.selectors import calendars_of

    connection = _own_connection(user=user, connection_id=connection_id)
    try:
        calendars = calendars_of(connection=connection)
    except CalendarError as error:
        raise ConnectionRefused(calendar_problem(error), code="provider_error") from error
    _store_calendars(connection, calendars)
    return connection


def disconnect_inbox(*, user: User, inbox_id: int) -> None:
    """Disconnect the user's inbox; the calendar connection stays."""
    deleted, _rows = InboxConnection.objects.filter(user=user, pk=inbox_id).delete()
    if not deleted:
        raise ConnectionRefused(_("That inbox connection does not exist."), code="not_found")
