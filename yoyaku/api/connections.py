"""Host endpoints for the calendar connection: read it, connect (OAuth, Exchange, CalDAV), change, disconnect.

The OAuth flow has no browser session here: ``start`` returns the
authorization URL and an opaque ``flow`` token (the state and PKCE verifier,
signed so it cannot be altered and encrypted so the verifier stays secret,
valid for a quarter of an hour); the client opens the URL, takes ``code`` and
``state`` from the redirect and sends them with ``flow`` to ``complete``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.core import signing
from django.http import HttpRequest
from django.utils.translation import gettext
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field, field_validator

from yoyaku.accounts import crypto
from yoyaku.accounts.connections import (
    ConnectionRefused,
    complete_oauth,
    connect_blockers,
    connect_caldav_calendar,
    connect_exchange_calendar,
    disconnect_calendar,
    disconnect_inbox,
    refresh_calendars,
    start_oauth,
    update_calendar_settings,
)
from yoyaku.accounts.models import CalendarConnection, InboxConnection, User
from yoyaku.accounts.providers import default_redirect_uri, provider_configured
from yoyaku.accounts.selectors import (
    busy_calendar_ids,
    meetings_calendar_id,
    stored_calendars,
    user_connections,
    user_inboxes,
)
from yoyaku.accounts.validators import (
    as_value_error,
    validate_account_email,
    validate_calendar_url,
    validate_ews_url,
)
from yoyaku.api.auth import ApiKeyAuth
from yoyaku.api.schemas import AUTH_ERRORS, BODY_ERRORS, errors
from yoyaku.calendar_sync.models import ConnectionSync
from yoyaku.calendars.capabilities import capabilities

router = Router(auth=ApiKeyAuth(), tags=["calendar connection"])

FLOW_SALT = "yoyaku.api.oauth-flow"
FLOW_MAX_AGE = 15 * 60
_STATUS = {
    "already_connected": 409,
    "no_personal_email_permission": 403,
    "shared_inbox": 403,
    "seat_required": 403,
    "not_configured": 403,
    "not_found": 404,
    "unknown_provider": 404,
}
_ERRORS = errors(*AUTH_ERRORS, *BODY_ERRORS, 403, 404, 409)


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def refusal_status(refused: ConnectionRefused) -> int:
    """The HTTP status of a refused connection change; the API's exception handler answers with it."""
    return _STATUS.get(refused.code, 409)


class CapabilitiesOut(Schema):
    write_events: bool = Field(description="Booked meetings are added to the calendar.")
    can_cancel: bool = Field(description="Meetings booked here can be cancelled from Yoyaku.")
    can_reschedule: bool = Field(description="Meetings booked here can be moved from Yoyaku.")
    crm_to_calendar: bool = Field(
        description="Meetings made in the CRM are added to the calendar; their edits and cancels follow."
    )
    calendar_to_crm: bool = Field(
        description="Calendar events with the workspace's contacts are logged in the CRM as meetings "
        "and follow the calendar (times, title, place, people and their answers, cancellations); the "
        "bookings and CRM meetings Yoyaku put on the calendar follow their events' moves, cancellations "
        "and answers the same way."
    )
    insert_times_in_email: bool = Field(
        description="Proposed times can be inserted into emails (not built yet for any provider)."
    )
    event_sync: bool = Field(
        description="The calendar's events are synced into Yoyaku; otherwise only its busy time is polled."
    )


class CalendarConnectionOut(Schema):
    id: int
    provider: str
    purpose: str
    account_email: str
    server_url: str
    status: str = Field(description="ok, needs_reconnect (connect again) or unavailable (read failed).")
    status_message: str
    conflict_calendar_ids: list[str]
    write_calendar_id: str
    tentative_blocks: bool
    last_synced_at: datetime | None = Field(
        description="When the calendar was last synced; its free times are offered only while this is recent."
    )
    created_at: datetime
    capabilities: CapabilitiesOut = Field(description="What Yoyaku can do with this provider's calendar.")


class InboxOut(Schema):
    id: int
    email: str
    provider: str
    shared: bool
    calendar_connection_id: int | None


class CalendarStateOut(Schema):
    connections: list[CalendarConnectionOut]
    inboxes: list[InboxOut]
    connect_blockers: list[str] = Field(description="Why a new connection would be refused; [] if allowed.")
    providers: dict[str, bool] = Field(description="Which providers the administrator has configured.")


class OAuthStartIn(Schema):
    redirect_uri: str = Field(
        default="",
        max_length=500,
        description="Where the provider sends the browser back; it must be registered with the provider. "
        "Default: this server's callback URL.",
    )


class OAuthStartOut(Schema):
    authorization_url: str
    flow: str = Field(description="Send back unchanged to .../complete within 15 minutes.")


class OAuthCompleteIn(Schema):
    flow: str = Field(max_length=20000)
    state: str = Field(default="", max_length=500)
    code: str = Field(default="", max_length=5000)
    error: str = Field(default="", max_length=200, description="The redirect's error parameter, if any.")


class ExchangeIn(Schema):
    email: str = Field(max_length=254, json_schema_extra={"format": "email"})
    password: str = Field(max_length=500)
    username: str = Field(
        default="", max_length=200, description="DOMAIN\\user or a UPN; default: the email."
    )
    ews_url: str = Field(
        default="", max_length=500, description="https://host/EWS/Exchange.asmx; default: autodiscover."
    )

    _email = field_validator("email")(as_value_error(validate_account_email))
    _ews_url = field_validator("ews_url")(as_value_error(validate_ews_url))


class CalDAVIn(Schema):
    url: str = Field(max_length=500, description="https://host/...; a bare host name means https.")
    username: str = Field(max_length=200)
    password: str = Field(max_length=500)

    _url = field_validator("url")(as_value_error(validate_calendar_url))


class CalendarListItemOut(Schema):
    id: str
    name: str
    primary: bool
    writable: bool = Field(description="Yoyaku may add meetings to it.")
    checked: bool = Field(description="Its events block time on the scheduling pages.")
    receives_meetings: bool = Field(description="Booked meetings are added to it.")


class CalendarListOut(Schema):
    listed: bool = Field(
        description="False when no list is kept for the connection yet: refresh it "
        "(POST .../calendars/refresh)."
    )
    calendars: list[CalendarListItemOut] = Field(
        description="The list kept from connecting or the last refresh (a GET never asks the provider)."
    )


class CalendarSettingsPatch(Schema):
    conflict_calendar_ids: list[str] | None = Field(default=None, max_length=100)
    write_calendar_id: str | None = Field(default=None, max_length=500)
    tentative_blocks: bool | None = None


def _connection_out(connection: CalendarConnection) -> dict[str, Any]:
    computed = ("capabilities", "last_synced_at")
    fields = [name for name in CalendarConnectionOut.model_fields if name not in computed]
    sync = ConnectionSync.objects.filter(connection_id=connection.pk).first()
    return {
        **{name: getattr(connection, name) for name in fields},
        "capabilities": asdict(capabilities(connection.provider)),
        "last_synced_at": sync.last_success_at if sync is not None else None,
    }


def _inbox_out(inbox: InboxConnection) -> dict[str, Any]:
    return {name: getattr(inbox, name) for name in InboxOut.model_fields}


@router.get(
    "/me/calendar",
    response={200: CalendarStateOut, **errors(*AUTH_ERRORS)},
    summary="The calendar connection, its health and inbox",
)
def calendar_state(request: HttpRequest) -> dict[str, Any]:
    user = _user(request)
    return {
        "connections": [_connection_out(c) for c in user_connections(user=user)],
        "inboxes": [_inbox_out(i) for i in user_inboxes(user=user)],
        "connect_blockers": connect_blockers(user=user, via_api=True),
        "providers": {p: provider_configured(p) for p in ("google", "microsoft", "exchange", "caldav")},
    }


@router.post("/me/calendar/oauth/{provider}/start", response={200: OAuthStartOut, **_ERRORS})
def oauth_start(request: HttpRequest, provider: str, payload: OAuthStartIn) -> dict[str, Any]:
    user = _user(request)
    redirect_uri = payload.redirect_uri or default_redirect_uri(provider)
    start = start_oauth(user=user, provider=provider, redirect_uri=redirect_uri, via_api=True)
    flow = crypto.encrypt(signing.dumps(start.session_data, salt=FLOW_SALT, compress=True))
    return {"authorization_url": start.url, "flow": flow}


def _read_flow(flow: str) -> dict[str, Any]:
    try:
        data = signing.loads(crypto.decrypt(flow), salt=FLOW_SALT, max_age=FLOW_MAX_AGE)
    except (ValueError, signing.BadSignature) as error:
        raise HttpError(
            409, gettext("The flow token is invalid or older than 15 minutes; start connecting again.")
        ) from error
    if not isinstance(data, dict):
        raise HttpError(409, gettext("The flow token is invalid; start connecting again."))
    return data


@router.post("/me/calendar/oauth/{provider}/complete", response={201: CalendarConnectionOut, **_ERRORS})
def oauth_complete(request: HttpRequest, provider: str, payload: OAuthCompleteIn) -> Status[Any]:
    user = _user(request)
    session_data = _read_flow(payload.flow)
    query = {
        k: v for k, v in {"code": payload.code, "state": payload.state, "error": payload.error}.items() if v
    }
    connection = complete_oauth(
        user=user,
        provider=provider,
        query=query,
        session_data=session_data,
        redirect_uri=str(session_data.get("redirect_uri", "")),
        via_api=True,
    )
    return Status(201, _connection_out(connection))


@router.post("/me/calendar/exchange", response={201: CalendarConnectionOut, **_ERRORS})
def connect_exchange(request: HttpRequest, payload: ExchangeIn) -> Status[Any]:
    connection = connect_exchange_calendar(
        user=_user(request),
        email=payload.email,
        password=payload.password,
        username=payload.username,
        ews_url=payload.ews_url,
        via_api=True,
    )
    return Status(201, _connection_out(connection))


@router.post("/me/calendar/caldav", response={201: CalendarConnectionOut, **_ERRORS})
def connect_caldav(request: HttpRequest, payload: CalDAVIn) -> Status[Any]:
    connection = connect_caldav_calendar(
        user=_user(request),
        url=payload.url,
        username=payload.username,
        password=payload.password,
        via_api=True,
    )
    return Status(201, _connection_out(connection))


@router.patch("/me/calendar/{connection_id}", response={200: CalendarConnectionOut, **_ERRORS})
def patch_calendar(
    request: HttpRequest, connection_id: int, payload: CalendarSettingsPatch
) -> dict[str, Any]:
    user = _user(request)
    current = CalendarConnection.objects.filter(user=user, pk=connection_id).first()
    if current is None:
        raise HttpError(404, gettext("That calendar connection does not exist."))
    connection = update_calendar_settings(
        user=user,
        connection_id=connection_id,
        conflict_calendar_ids=(
            payload.conflict_calendar_ids
            if payload.conflict_calendar_ids is not None
            else current.conflict_calendar_ids
        ),
        write_calendar_id=(
            payload.write_calendar_id if payload.write_calendar_id is not None else current.write_calendar_id
        ),
        tentative_blocks=(
            payload.tentative_blocks if payload.tentative_blocks is not None else current.tentative_blocks
        ),
    )
    return _connection_out(connection)


def _calendar_list_out(connection: CalendarConnection) -> dict[str, Any]:
    calendars = stored_calendars(connection=connection)
    if calendars is None:
        return {"listed": False, "calendars": []}
    checked = set(busy_calendar_ids(connection=connection, calendars=calendars))
    receiving = meetings_calendar_id(connection=connection, calendars=calendars)
    return {
        "listed": True,
        "calendars": [
            {
                "id": c.id,
                "name": c.name,
                "primary": c.primary,
                "writable": c.writable,
                "checked": c.id in checked,
                "receives_meetings": c.id == receiving,
            }
            for c in calendars
        ],
    }


@router.get(
    "/me/calendar/{connection_id}/calendars",
    response={200: CalendarListOut, **errors(*AUTH_ERRORS, 404, 422)},
    summary="The connection's calendars as kept: which are checked for conflicts, which receives meetings",
)
def calendar_list(request: HttpRequest, connection_id: int) -> dict[str, Any]:
    connection = CalendarConnection.objects.filter(user=_user(request), pk=connection_id).first()
    if connection is None:
        raise HttpError(404, gettext("That calendar connection does not exist."))
    return _calendar_list_out(connection)


@router.post(
    "/me/calendar/{connection_id}/calendars/refresh",
    response={200: CalendarListOut, **errors(*AUTH_ERRORS, 404, 422, 503)},
    summary="Read the connection's calendars from the provider again and keep the list",
)
def refresh_calendar_list(request: HttpRequest, connection_id: int) -> dict[str, Any]:
    """A provider that cannot be read answers 503 with its message; the list kept before stays."""
    try:
        connection = refresh_calendars(user=_user(request), connection_id=connection_id)
    except ConnectionRefused as refused:
        if refused.code == "provider_error":
            # The provider did not answer or refused: worth trying again later, nothing was changed.
            raise HttpError(503, str(refused)) from refused
        raise
    return _calendar_list_out(connection)


@router.delete("/me/calendar/{connection_id}", response={204: None, **errors(*AUTH_ERRORS, 404, 409, 422)})
def delete_calendar(request: HttpRequest, connection_id: int) -> Status[None]:
    disconnect_calendar(user=_user(request), connection_id=connection_id)
    return Status(204, None)


@router.delete("/me/inbox/{inbox_id}", response={204: None, **errors(*AUTH_ERRORS, 404, 409, 422)})
def delete_inbox(request: HttpRequest, inbox_id: int) -> Status[None]:
    disconnect_inbox(user=_user(request), inbox_id=inbox_id)
    return Status(204, None)
