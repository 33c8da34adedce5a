"""Push: Google channels (events.watch) and Microsoft Graph subscriptions that start a sync.

A notification carries no calendar data Yoyaku uses: it is checked (Google's channel token,
Graph's clientState, each compared in constant time with the secret stored for that channel)
and then queues ``tasks.sync_connection`` for that connection, so a change reaches the
busy index within seconds. The fallback poll still runs, so a lost notification only delays
a change. Channels are renewed before they expire (``renew_push_channels``, hourly) and
stopped when the calendar is disconnected. CalDAV and Exchange have no push: they are polled.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from yoyaku.accounts.calendar_registry import adapter_for
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, Provider
from yoyaku.calendar_sync.models import PushChannel
from yoyaku.calendar_sync.services import DEFAULT_CALENDAR
from yoyaku.calendars.base import CalendarError

logger = logging.getLogger(__name__)

GOOGLE_PATH = "/calendar/push/google/"
MICROSOFT_PATH = "/calendar/push/microsoft/"
# Google lets a calendar channel live about a week; Graph caps events subscriptions at 7 days.
CHANNEL_LIFETIME = timedelta(days=7)
PUSH_PROVIDERS = (Provider.GOOGLE, Provider.MICROSOFT)


def push_enabled() -> bool:
    """Push needs an address the providers can reach: on by default when the public URL is https."""
    mode = settings.YOYAKU_SYNC_PUSH
    if mode == "auto":
        return settings.YOYAKU_BASE_URL.startswith("https://")
    return mode == "1"


def _address(path: str) -> str:
    return settings.YOYAKU_BASE_URL.rstrip("/") + path


def _push_calendar_ids(connection: CalendarConnection) -> list[str]:
    if connection.conflict_calendar_ids:
        return [str(c) for c in connection.conflict_calendar_ids]
    return ["primary"] if connection.provider == Provider.GOOGLE else [DEFAULT_CALENDAR]


def ensure_push(*, connection_id: int, now: datetime | None = None) -> int:
    """Open, renew or drop the connection's channels so each checked calendar has one that lives past
    the renewal margin. Returns how many were opened or renewed. Provider errors are logged: the
    poll covers a calendar whose channel could not be opened."""
    connection = CalendarConnection.objects.select_related("user").filter(pk=connection_id).first()
    if connection is None or connection.provider not in PUSH_PROVIDERS or not push_enabled():
        return 0
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        return 0
    now = now or timezone.now()
    margin = timedelta(hours=settings.YOYAKU_SYNC_PUSH_RENEW_HOURS)
    wanted = _push_calendar_ids(connection)
    changed = 0
    with closing(adapter_for(connection)) as adapter:
        for channel in PushChannel.objects.filter(connection=connection).exclude(calendar_id__in=wanted):
            _stop(adapter, channel)
        for calendar_id in wanted:
            current = PushChannel.objects.filter(connection=connection, calendar_id=calendar_id).first()
            if current is not None and current.expires_at is not None and current.expires_at - now > margin:
                continue
            try:
                if connection.provider == Provider.GOOGLE:
                    _open_google(adapter, connection=connection, calendar_id=calendar_id, old=current)
                else:
                    _open_or_renew_graph(adapter, connection=connection, calendar_id=calendar_id, old=current)
                changed += 1
            except CalendarError as error:
                logger.warning("Push channel for connection %s not opened: %s", connection.pk, error)
    return changed


def _open_google(
    adapter: Any, *, connection: CalendarConnection, calendar_id: str, old: PushChannel | None
) -> None:
    secret = secrets.token_urlsafe(32)
    channel = adapter.watch(
        channel_id=str(uuid.uuid4()),
        address=_address(GOOGLE_PATH),
        token=secret,
        calendar_id=calendar_id,
        ttl_seconds=int(CHANNEL_LIFETIME.total_seconds()),
    )
    PushChannel.objects.create(
        connection=connection,
        calendar_id=calendar_id,
        channel_id=channel.id,
        resource_id=channel.resource_id,
        secret=secret,
        expires_at=channel.expiration,
    )
    if old is not None:
        # The new channel is open first, so no change falls between the two.
        _stop(adapter, old)


def _open_or_renew_graph(
    adapter: Any, *, connection: CalendarConnection, calendar_id: str, old: PushChannel | None
) -> None:
    expiration = timezone.now() + CHANNEL_LIFETIME
    if old is not None:
        try:
            renewed = adapter.renew_subscription(subscription_id=old.channel_id, expiration=expiration)
            PushChannel.objects.filter(pk=old.pk).update(expires_at=renewed.expiration)
            return
        except CalendarError as error:
            logger.info("Graph subscription %s not renewed (%s); opening a new one", old.channel_id, error)
            old.delete()
    secret = secrets.token_urlsafe(32)
    subscription = adapter.create_subscription(
        notification_url=_address(MICROSOFT_PATH),
        lifecycle_notification_url=_address(MICROSOFT_PATH),
        client_state=secret,
        expiration=expiration,
        calendar_id=calendar_id or None,
    )
    PushChannel.objects.create(
        connection=connection,
        calendar_id=calendar_id,
        channel_id=subscription.id,
        secret=secret,
        expires_at=subscription.expiration,
    )


def _stop(adapter: Any, channel: PushChannel) -> None:
    try:
        if channel.resource_id:
            adapter.stop_channel(channel_id=channel.channel_id, resource_id=channel.resource_id)
        else:
            adapter.delete_subscription(subscription_id=channel.channel_id)
    except CalendarError as error:  # it expires on its own; a notification for it is then refused
        logger.info("Push channel %s not stopped: %s", channel.channel_id, error)
    channel.delete()


def push_stopper(*, connection: CalendarConnection) -> Callable[[], None]:
    """Before a connection is deleted: what stops its channels afterwards (best effort, after commit).

    The adapter is built while the connection still exists; it holds the tokens it needs.
    """
    channels = list(PushChannel.objects.filter(connection=connection))
    if not channels:
        return lambda: None
    adapter: Any = adapter_for(connection)

    def stop() -> None:
        with closing(adapter):
            for channel in channels:
                try:
                    if channel.resource_id:
                        adapter.stop_channel(channel_id=channel.channel_id, resource_id=channel.resource_id)
                    else:
                        adapter.delete_subscription(subscription_id=channel.channel_id)
                except Exception as error:
                    logger.info("Push channel %s not stopped on disconnect: %s", channel.channel_id, error)

    return stop


def request_push(*, connection: CalendarConnection) -> None:
    """Open (or re-point) the connection's push channels once the current transaction commits."""
    if connection.provider not in PUSH_PROVIDERS or not push_enabled():
        return
    from yoyaku.calendar_sync.tasks import ensure_push_channels

    connection_id = connection.pk
    transaction.on_commit(lambda: ensure_push_channels(connection_id))


# -- notifications ------------------------------------------------------------------------------


def _queue_sync(connection_id: int) -> None:
    from yoyaku.calendar_sync.tasks import sync_connection

    transaction.on_commit(lambda: sync_connection(connection_id))


def google_notification(*, headers: Mapping[str, str]) -> int:
    """Handle one Google push POST; the HTTP status to answer."""
    from yoyaku.calendars.google import parse_notification

    notification = parse_notification(headers)
    if notification is None:
        return 400
    channel = PushChannel.objects.filter(channel_id=notification.channel_id).first()
    if channel is None or not hmac.compare_digest(channel.secret.encode(), notification.token.encode()):
        # Unknown, stopped or forged: the same answer, so it tells nothing. Google stops retrying.
        return 404
    if notification.state != "sync":  # "sync" only says the channel is open
        _queue_sync(channel.connection_id)
    return 200


def microsoft_notification(*, body: bytes) -> int:
    """Handle one Graph notification POST (changes or lifecycle events); the HTTP status to answer.

    Graph may batch notifications of several subscriptions in one POST: each subscription's items
    are checked against its own clientState, and one bad item refuses the whole POST.
    """
    from yoyaku.calendars.microsoft import InvalidNotification, validate_notification

    try:
        data = json.loads(body)
        items = data["value"]
        if not isinstance(items, list) or not items:
            raise ValueError("no items")
        by_subscription: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_subscription.setdefault(str(item["subscriptionId"]), []).append(item)
    except (ValueError, KeyError, TypeError):
        return 400
    channels = {c.channel_id: c for c in PushChannel.objects.filter(channel_id__in=list(by_subscription))}
    checked: list[tuple[PushChannel, list[Any]]] = []
    for subscription_id, group in by_subscription.items():
        channel = channels.get(subscription_id)
        if channel is None:
            return 403
        try:
            checked.append(
                (channel, validate_notification(body={"value": group}, client_state=channel.secret))
            )
        except InvalidNotification:
            return 403
    for channel, notifications in checked:
        lifecycle = {n.lifecycle_event for n in notifications if n.lifecycle_event}
        if lifecycle & {"reauthorizationRequired", "subscriptionRemoved"}:
            # Due now: renewed (reauthorized) in place, or opened again when Graph removed it.
            PushChannel.objects.filter(pk=channel.pk).update(expires_at=timezone.now())
            _queue_renewal(channel.connection_id)
        # Changes, and "missed" (notifications were lost): read what changed.
        if (
            any(n.lifecycle_event in (None, "missed") for n in notifications)
            or "subscriptionRemoved" in lifecycle
        ):
            _queue_sync(channel.connection_id)
    return 202


def _queue_renewal(connection_id: int) -> None:
    from yoyaku.calendar_sync.tasks import ensure_push_channels

    transaction.on_commit(lambda: ensure_push_channels(connection_id))
